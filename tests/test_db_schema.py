"""Master DB: migrations, models == migrations, engine settings, UTC timestamps, check_database."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ecauto_lib.db import check_database, make_engine, schema_is_current, start_run, upgrade
from ecauto_lib.db.models import metadata, runs
from ecauto_lib.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
TABLES = {
    "products",
    "listings",
    "change_history",
    "base_tokens",
    "runs",
    "push_journal",
    "release_requests",
    "account_locks",
    "quota_buckets",
    "base_budget_blocks",
    "held_changes",
}


@pytest.fixture
def bare_engine(db_url):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _diff(engine: sa.Engine, target: sa.MetaData) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, target)


def test_upgrade_creates_schema_and_is_idempotent(bare_engine, db_url):
    check_database(db_url)  # reachable: no exception
    assert schema_is_current(bare_engine) is False
    upgrade(bare_engine)
    assert schema_is_current(bare_engine) is True
    upgrade(bare_engine)  # second run: nothing to do, no error
    assert schema_is_current(bare_engine) is True
    tables = set(sa.inspect(bare_engine).get_table_names())
    assert tables == TABLES | {"alembic_version"}
    with bare_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == ["0009"]


def test_models_match_migrations(bare_engine):
    upgrade(bare_engine)
    assert _diff(bare_engine, metadata) == []

    # The comparison is able to see a difference: a model with an extra column is reported.
    changed = sa.MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        copy = table.to_metadata(changed)
        if table.name == "runs":
            copy.append_column(sa.Column("note", sa.Text()))
    diff = _diff(bare_engine, changed)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "runs", "note")]


def test_schema_constraints_exist(bare_engine):
    upgrade(bare_engine)
    inspector = sa.inspect(bare_engine)
    uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("listings")}
    assert uniques == {("account_id", "asin"), ("account_id", "base_item_id")}
    listing_indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("listings")}
    assert ("asin",) in listing_indexes
    history_indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("change_history")}
    assert ("account_id", "asin") in history_indexes
    fks = {
        (tuple(f["constrained_columns"]), f["referred_table"]) for f in inspector.get_foreign_keys("listings")
    }
    assert fks == {(("asin",), "products")}
    # foreign keys are enforced (SQLite needs PRAGMA foreign_keys=ON on every connection)
    now = datetime.now(UTC)
    with pytest.raises(sa.exc.IntegrityError), bare_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO listings (account_id, asin, base_item_id, status, created_at, updated_at) "
                "VALUES ('a', 'B000000000', 1, 'listed', :now, :now)"
            ),
            {"now": now.replace(tzinfo=None)},
        )


def test_alembic_command_line_uses_x_url(db_url, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DATABASE_URL", None)
    alembic = Path(sys.executable).with_name("alembic")
    done = subprocess.run(
        [str(alembic), "-c", str(REPO / "alembic.ini"), "-x", f"url={db_url}", "upgrade", "head"],
        cwd=tmp_path,  # script_location is relative to alembic.ini, not to the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    engine = make_engine(db_url)
    try:
        assert schema_is_current(engine)
    finally:
        engine.dispose()


def test_make_engine_sqlite_settings(tmp_path):
    path = tmp_path / "nested" / "dir" / "master.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert path.exists()
    finally:
        engine.dispose()


def test_sqlite_files_are_the_owners_alone_and_a_new_data_directory_too(tmp_path):
    path = tmp_path / "data" / "master.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        with engine.begin() as conn:  # a write: the WAL and its index exist now
            start_run(engine, mode="full", accounts=["a"], started_at=datetime.now(UTC))
            conn.exec_driver_sql("SELECT 1")
        files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.parent.iterdir()}
        assert files == {"master.db": 0o600, "master.db-wal": 0o600, "master.db-shm": 0o600}
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    finally:
        engine.dispose()
    # a database an earlier version left world-readable is tightened by the next connection
    path.chmod(0o644)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        engine.dispose()


def test_schema_is_current_does_not_create_a_missing_sqlite_file(tmp_path):
    path = tmp_path / "data" / "master.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert schema_is_current(engine) is False
        assert not path.exists()
        upgrade(engine)
        assert path.exists() and schema_is_current(engine) is True
    finally:
        engine.dispose()


def test_make_engine_postgres_pings_pool(postgres_url):
    engine = make_engine(postgres_url)
    try:
        assert engine.pool._pre_ping is True
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_timestamps_are_utc_aware_and_naive_is_rejected(bare_engine):
    upgrade(bare_engine)
    jst = timezone(timedelta(hours=9))
    started = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=jst)
    run_id = start_run(bare_engine, mode="full", accounts=["a"], started_at=started)
    with bare_engine.connect() as conn:
        stored = conn.execute(sa.select(runs.c.started_at).where(runs.c.id == run_id)).scalar_one()
    assert stored == started
    assert stored.tzinfo is UTC
    assert (stored.hour, stored.microsecond) == (0, 123456)

    with (
        pytest.raises(
            sa.exc.StatementError, match="naive datetime 2025-03-01T09:30:00 given to a UtcDateTime"
        ),
        bare_engine.begin() as conn,
    ):
        conn.execute(
            sa.insert(runs).values(started_at=datetime(2025, 3, 1, 9, 30), mode="full", accounts="a")
        )


def test_check_database_unreachable_names_setting_without_password():
    url = "postgresql+psycopg://ecauto:Sup3rS3cretPw@127.0.0.1:1/master"
    with pytest.raises(ConfigError) as caught:
        check_database(url)
    message = str(caught.value)
    assert caught.value.setting == "DATABASE_URL"
    assert message.startswith(
        "DATABASE_URL: cannot connect to postgresql+psycopg://ecauto:***@127.0.0.1:1/master"
    )
    assert "OperationalError" in message
    assert "Sup3rS3cretPw" not in message
    assert "Sup3rS3cretPw" not in repr(caught.value.__cause__) and caught.value.__suppress_context__


def test_check_database_bad_url_and_unknown_driver():
    with pytest.raises(ConfigError, match="DATABASE_URL: not a valid SQLAlchemy URL"):
        check_database("not a url")
    with pytest.raises(ConfigError) as caught:
        check_database("nosuchdb://user:Pw123456@host/db")
    assert "cannot use nosuchdb://user:***@host/db" in str(caught.value)
    assert "Pw123456" not in str(caught.value)
