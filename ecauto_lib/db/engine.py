"""Engines, write transactions and schema migrations for the master DB.

SQLite (the default, ``data/master.db``) is opened in WAL mode with foreign keys on and a 30 s
busy timeout; writes start with ``BEGIN IMMEDIATE`` (see :func:`begin_write`) so that several
threads writing at once wait for each other instead of failing with "database is locked".
Its files (the database, ``-wal``, ``-shm``) are made readable by their owner only (0600) on every
connection, and a data directory this code creates is 0700: the database holds the shops' BASE
tokens (encrypted) and every business figure of the seller.
PostgreSQL (``postgresql+psycopg://...``) is for several workers; its engine pings pooled
connections before use.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite

from ecauto_lib.errors import ConfigError
from ecauto_lib.settings_table import default

DEFAULT_DATABASE_URL: str = default("DATABASE_URL")  # the settings table's DATABASE_URL
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
POSTGRES_CONNECT_TIMEOUT_S = 10

# Execution option that makes the SQLite "begin" hook emit BEGIN IMMEDIATE.
_WRITE_OPTION = "ecauto_write"
# Arbitrary constant key of the PostgreSQL advisory lock held while migrating.
_MIGRATION_LOCK_KEY = 0x6563_6175_746F  # "ecauto"


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine for ``url``, configured for this project's concurrency.

    SQLite: creates the parent directory of a file database, sets WAL, ``foreign_keys=ON`` and a
    30 s busy timeout on every connection, and lets SQLAlchemy (not the sqlite3 module) emit BEGIN.
    PostgreSQL: ``pool_pre_ping``. Statement parameters are kept out of error messages and logs
    (``hide_parameters``) because some of them are OAuth tokens. ``kwargs`` go to
    :func:`sqlalchemy.create_engine`. Engines are thread-safe; use one per process.
    """
    sa_url = sa.make_url(url)
    options: dict[str, Any] = {"hide_parameters": True}
    if sa_url.get_backend_name() == "sqlite":
        _create_sqlite_parent_dir(sa_url)
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        options.update(kwargs)
        engine = sa.create_engine(sa_url, **options)
        _install_sqlite_hooks(engine)
        return engine
    if sa_url.get_backend_name() == "postgresql":
        options["pool_pre_ping"] = True
        options["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    options.update(kwargs)
    return sa.create_engine(sa_url, **options)


def sqlite_file(url: sa.URL) -> Path | None:
    """The file of a SQLite file database; None for ``:memory:``, a ``file:`` URI (left to
    SQLite to resolve) and other backends."""
    database = url.database
    if (
        url.get_backend_name() != "sqlite"
        or not database
        or database == ":memory:"
        or database.startswith("file:")
    ):
        return None
    return Path(database).expanduser()


def _create_sqlite_parent_dir(url: sa.URL) -> None:
    """Create the directory of a SQLite file database, owner-only (nothing for ``:memory:``; an
    existing directory is left as it is: it may be a home directory)."""
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)


SQLITE_FILE_MODE = 0o600
SQLITE_SUFFIXES = ("", "-wal", "-shm")


def keep_sqlite_files_private(database: Path) -> None:
    """The database file and its ``-wal``/``-shm`` to 0600 where they are looser (files another
    user owns are left alone). SQLite creates ``-wal``/``-shm`` with the database's mode, so once
    the database is 0600 they are born 0600."""
    for suffix in SQLITE_SUFFIXES:
        path = database.with_name(database.name + suffix)
        try:
            if path.stat().st_mode & 0o777 != SQLITE_FILE_MODE:
                path.chmod(SQLITE_FILE_MODE)
        except (FileNotFoundError, PermissionError):
            continue


def _install_sqlite_hooks(engine: sa.Engine) -> None:
    """Per-connection pragmas, owner-only files, and SQLAlchemy-controlled BEGIN (IMMEDIATE for writes)."""
    database = sqlite_file(engine.url)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module: it would start transactions lazily, at the
        # first write, which is where "database is locked" comes from under concurrency.
        dbapi_connection.isolation_level = None
        if database is not None:  # before WAL mode creates -wal/-shm, which copy the file's mode
            keep_sqlite_files_private(database)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; commits stay durable on crash
        finally:
            cursor.close()
        if database is not None:  # -wal/-shm left by an earlier version with a looser mode
            keep_sqlite_files_private(database)

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A write transaction takes the write lock up front (waiting up to busy_timeout);
        # upgrading a read transaction to a write later cannot wait and fails at once.
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def begin_write(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a write transaction, committed on success and rolled back on error.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE``; elsewhere it is a plain BEGIN.
    Keep these transactions short: on SQLite they hold the single write lock.
    """
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            yield conn


def dialect_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT construct, which has ``on_conflict_do_update`` and ``excluded``."""
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"the master DB supports SQLite and PostgreSQL, not {name}")


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine) -> None:
    """Migrate the database to the newest schema (``alembic upgrade head``); a no-op when current.

    On PostgreSQL a transaction-scoped advisory lock serialises workers that start at the same time.
    """
    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        command.upgrade(_alembic_config(conn), "head")


def schema_is_current(engine: sa.Engine) -> bool:
    """True when the database is at the newest migration (False for an empty database).

    A SQLite file that does not exist yet is not created by asking (a dry run writes nothing).
    """
    current, heads = schema_revisions(engine)
    return current == heads


def schema_revisions(engine: sa.Engine) -> tuple[set[str], set[str]]:
    """``(the database's migration revisions, the newest ones)``; empty for a new database.

    A SQLite file that does not exist yet is not created by asking.
    """
    heads = set(ScriptDirectory.from_config(_alembic_config()).get_heads())
    if _sqlite_file_missing(engine.url):
        return set(), heads
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()), heads


def _sqlite_file_missing(url: sa.URL) -> bool:
    """True for a SQLite file URL whose file does not exist."""
    path = sqlite_file(url)
    return path is not None and not path.exists()


@contextmanager
def throwaway_postgres_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the server of ``admin_url`` (tests, benchmarks),
    dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def safe_url(url: str) -> str:
    """``url`` with its password masked, for messages and logs."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def check_database(url: str, *, create: bool = True) -> None:
    """Connect once to ``url`` and run ``SELECT 1``.

    Raises :class:`ConfigError` naming ``DATABASE_URL`` and what failed; the message never
    contains the password. With ``create=False`` (a dry run) a SQLite file that does not exist is
    an error naming its path: neither it nor its directory is created.
    """
    try:
        sa_url = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            "DATABASE_URL", "not a valid SQLAlchemy URL (e.g. sqlite:///data/master.db)"
        ) from None
    path = sqlite_file(sa_url)
    if not create and path is not None and not path.is_file():
        missing = "" if path.parent.is_dir() else f" (nor its directory {path.parent})"
        raise ConfigError(
            "DATABASE_URL",
            f"{path} does not exist{missing}; --dry-run creates nothing: run once without --dry-run "
            "(or python flows/import_listings.py) to create the database",
        )
    shown = sa_url.render_as_string(hide_password=True)
    try:
        engine = make_engine(url, poolclass=sa.pool.NullPool)
    except Exception as exc:  # unknown dialect or driver not installed
        raise ConfigError("DATABASE_URL", f"cannot use {shown}: {_describe(exc, sa_url)}") from None
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:
        raise ConfigError("DATABASE_URL", f"cannot connect to {shown}: {_describe(exc, sa_url)}") from None
    finally:
        engine.dispose()


def _describe(exc: BaseException, url: sa.URL) -> str:
    """One line about ``exc``: the driver's message, with the password scrubbed if it appears."""
    original = getattr(exc, "orig", None) or exc
    text = " ".join(str(original).split()) or type(original).__name__
    if url.password:
        text = text.replace(str(url.password), "***")
    return f"{type(original).__name__}: {text}"
