"""The database's clock (pacer slots, lock heartbeats and takeovers): the server's on PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from ecauto_lib.db import make_engine
from ecauto_lib.db.clock import database_now, database_time


def test_the_database_clock_is_the_servers_on_postgresql_and_this_machines_on_sqlite(db_url, monkeypatch):
    engine = make_engine(db_url)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() - 3600)  # this machine's clock, an hour behind
    try:
        with engine.connect() as conn:
            read = database_time(conn)
            now = database_now(conn)
    finally:
        engine.dispose()
    if engine.dialect.name == "postgresql":  # the server's clock_timestamp(), whatever ours says
        assert abs(read - real()) < 5 and abs(now.timestamp() - real()) < 5
    else:  # SQLite: every process runs on the one machine; its clock is the database's
        assert abs(read - (real() - 3600)) < 5
    assert now.tzinfo is UTC and isinstance(now, datetime)
