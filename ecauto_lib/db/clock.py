"""The database's clock: the one clock every process sharing the master DB agrees on.

Workers on several machines share a PostgreSQL master DB, and machines' clocks differ (by
seconds when NTP is off, by hours in a misconfigured container). Anything that compares times
written by different processes (the shared SP-API pacer's send slots, lock heartbeats and
takeovers) therefore reads the time from the database server: ``clock_timestamp()``, the real
time even inside a transaction (``now()`` is the transaction's start).

SQLite is a file on one machine; every process that opens it runs on that machine and reads the
same clock, so that machine's clock *is* the database's clock and is read locally (SQLite's own
``'now'`` comes from the same clock, at millisecond precision only).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

DatabaseClock = Callable[[sa.Connection], float]
"""Seconds since the epoch on the database's clock, read over ``conn`` (injectable in tests)."""


def database_time(conn: sa.Connection) -> float:
    """Seconds since the epoch on the database's clock (see the module docstring)."""
    if conn.dialect.name == "postgresql":
        return float(conn.execute(sa.text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one())
    return time.time()


def database_now(conn: sa.Connection, clock: DatabaseClock = database_time) -> datetime:
    """:func:`database_time` as an aware UTC datetime."""
    return datetime.fromtimestamp(clock(conn), UTC)
