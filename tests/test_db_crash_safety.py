"""Push journal and account locks, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ecauto_lib.db import journal, load_listings, locks, make_engine, upgrade, upsert_listings
from ecauto_lib.domain import ListingRow

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    upsert_listings(engine, [ListingRow("shop", "B0FGQJ45HW", 11, base_price=1000, base_visible=True)])
    yield engine
    engine.dispose()


UPDATE = {
    "account_id": "shop",
    "asin": "B0FGQJ45HW",
    "base_item_id": 11,
    "fields": {"price": 1300, "visible": 0},
    "old": {"price": 1000, "visible": 1},
    "reasons": {"price": "amazon ¥1,000 × 1.3", "visible": "amazon out_of_stock"},
}


def test_journal_sent_then_confirmed_updates_listing_and_history_together(engine):
    entry_id = journal.record_sending(engine, None, UPDATE, T0)
    assert [e.id for e in journal.unconfirmed(engine, "shop")] == [entry_id]
    entry = journal.unconfirmed(engine, "shop")[0]
    assert entry.fields == {"price": 1300, "visible": 0} and entry.old_values == {"price": 1000, "visible": 1}
    journal.record_confirmed(engine, entry_id, None, entry.changes(T0))
    assert journal.unconfirmed(engine, "shop") == []
    row = load_listings(engine).iloc[0]
    assert (row["base_price"], row["base_visible"]) == (1300, False)
    with engine.connect() as conn:
        history = conn.execute(
            sa.text("select field, old_value, new_value from change_history order by field")
        ).all()
        status = conn.execute(sa.text("select status from push_journal")).scalar_one()
    assert [tuple(h) for h in history] == [("price", 1000, 1300), ("visible", 1, 0)]
    assert status == "confirmed"


def test_journal_failed_and_abandoned_leave_the_listing_alone(engine):
    a = journal.record_sending(engine, None, UPDATE, T0)
    b = journal.record_sending(engine, None, UPDATE, T0)
    journal.record_outcome(engine, a, "failed", T0)
    journal.record_outcome(engine, b, "abandoned", T0)
    assert journal.unconfirmed(engine, "shop") == []
    assert load_listings(engine).iloc[0]["base_price"] == 1000


def test_account_locks_one_holder_at_a_time_all_or_nothing(engine):
    locks.acquire(engine, ["shop", "other"], "host:1:a", T0)
    with pytest.raises(locks.AlreadyRunningError, match="already running for account 'shop'.*host:1:a"):
        locks.acquire(engine, ["shop"], "host:2:b", T0 + timedelta(minutes=1))
    # all or nothing: 'third' was not taken by the refused attempt
    with pytest.raises(locks.AlreadyRunningError):
        locks.acquire(engine, ["third", "other"], "host:2:b", T0 + timedelta(minutes=1))
    locks.acquire(engine, ["third"], "host:3:c", T0 + timedelta(minutes=1))
    locks.release(engine, ["shop", "other"], "host:1:a")
    locks.acquire(engine, ["shop"], "host:2:b", T0 + timedelta(minutes=2))


def test_stale_lock_is_taken_over_after_missed_heartbeats(engine):
    locks.acquire(engine, ["shop"], "elsewhere:1:a", T0)
    locks.heartbeat(engine, ["shop"], "elsewhere:1:a", T0 + timedelta(minutes=5))
    with pytest.raises(locks.AlreadyRunningError):
        locks.acquire(engine, ["shop"], "here:2:b", T0 + timedelta(minutes=14))
    locks.acquire(engine, ["shop"], "here:2:b", T0 + timedelta(minutes=16))  # 11 min without a beat


def test_lock_of_a_killed_process_on_this_machine_is_taken_over(engine):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a process that no longer exists
    import socket

    dead_holder = f"{socket.gethostname()}:{proc.pid}:x"
    locks.acquire(engine, ["shop"], dead_holder, T0)
    locks.acquire(engine, ["shop"], "here:2:b", T0 + timedelta(seconds=1))
