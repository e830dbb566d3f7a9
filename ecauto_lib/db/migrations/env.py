"""Alembic environment for the master DB.

Two ways in:

* programmatic (:func:`ecauto_lib.db.upgrade`): the caller passes an open connection in
  ``config.attributes["connection"]`` and owns the transaction;
* the ``alembic`` command line (``alembic.ini`` at the repository root): the URL comes from
  ``-x url=...``, else ``DATABASE_URL``, else ``sqlalchemy.url`` in the ini file, else the default
  ``sqlite:///data/master.db``. The engine is built by :func:`ecauto_lib.db.make_engine`, so the
  SQLite pragmas apply here too.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

import sqlalchemy as sa
from alembic import context

from ecauto_lib.db.engine import DEFAULT_DATABASE_URL, begin_write, make_engine
from ecauto_lib.db.models import metadata

config = context.config
target_metadata = metadata


def _database_url() -> str:
    """The URL for command-line runs: ``-x url=``, ``DATABASE_URL``, the ini file, the default."""
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
        or DEFAULT_DATABASE_URL
    )


def _configure_and_run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER TABLE needs batch mode
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic upgrade --sql``: print the DDL instead of running it."""
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the caller's connection, or on a fresh engine (command line)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    engine = make_engine(_database_url(), poolclass=sa.pool.NullPool)
    try:
        with begin_write(engine) as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
