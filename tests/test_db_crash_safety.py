"""Push journal and account locks, on SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecauto_lib.db import journal, load_listings, locks, make_engine, upgrade, upsert_listings
from ecauto_lib.domain import ItemUpdate, ListingRow

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    upsert_listings(engine, [ListingRow("shop", "B0FGQJ45HW", 11, base_price=1000, base_visible=True)])
    yield engine
    engine.dispose()


UPDATE = ItemUpdate(
    account_id="shop",
    asin="B0FGQJ45HW",
    base_item_id=11,
    fields={"price": 1300, "visible": 0},
    old={"price": 1000, "visible": 1},
    reasons={"price": "amazon ¥1,000 × 1.3", "visible": "amazon out_of_stock"},
)


def test_journal_sent_then_confirmed_updates_listing_and_history_together(engine):
    entry_id = journal.record_sending(engine, None, UPDATE, T0)
    assert [e.id for e in journal.unconfirmed(engine, "shop")] == [entry_id]
    entry = journal.unconfirmed(engine, "shop")[0]
    assert entry.update == UPDATE
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


def holder(name: str) -> locks.LockHolder:
    return locks.LockHolder(token=f"token-{name}", where=f"host:{name}")


def at(moment: datetime):
    """A database clock stopped at ``moment`` (the tests' way to move time)."""
    return lambda conn: moment.timestamp()


def test_account_locks_one_holder_at_a_time_all_or_nothing(engine):
    a, b, c = holder("a"), holder("b"), holder("c")
    with locks.alive(engine, a), locks.alive(engine, b), locks.alive(engine, c):
        locks.acquire(engine, ["shop", "other"], a, clock=at(T0))
        with pytest.raises(locks.AlreadyRunningError, match="already running for account 'shop'.*host:a"):
            locks.acquire(engine, ["shop"], b, clock=at(T0 + timedelta(minutes=1)))
        # all or nothing: 'third' was not taken by the refused attempt
        with pytest.raises(locks.AlreadyRunningError):
            locks.acquire(engine, ["third", "other"], b, clock=at(T0 + timedelta(minutes=1)))
        locks.acquire(engine, ["third"], c, clock=at(T0 + timedelta(minutes=1)))
        assert locks.release(engine, ["shop", "other"], a) is True
        locks.acquire(engine, ["shop"], b, clock=at(T0 + timedelta(minutes=2)))


def test_stale_lock_is_taken_over_and_the_old_holder_finds_out(engine):
    a, b = holder("a"), holder("b")
    with locks.alive(engine, a), locks.alive(engine, b):
        locks.acquire(engine, ["shop"], a, clock=at(T0))
        assert locks.heartbeat(engine, ["shop"], a, clock=at(T0 + timedelta(minutes=5))) is True
        with pytest.raises(locks.AlreadyRunningError):
            locks.acquire(engine, ["shop"], b, clock=at(T0 + timedelta(minutes=14)))
        locks.acquire(engine, ["shop"], b, clock=at(T0 + timedelta(minutes=16)))  # 11 min without a beat
        # the old holder is told at its next heartbeat, by holds(), and by release()
        assert locks.heartbeat(engine, ["shop"], a, clock=at(T0 + timedelta(minutes=17))) is False
        assert locks.holds(engine, "shop", a) is False and locks.holds(engine, "shop", b) is True
        assert locks.release(engine, ["shop"], a) is False
        assert locks.holds(engine, "shop", b) is True  # a's release did not free b's lock


def test_an_insert_race_lost_to_a_run_that_has_finished_takes_the_lock(engine, monkeypatch):
    """Two runs read "no lock row" and both insert (PostgreSQL does not lock a missing row): the
    loser's INSERT fails. When the winner has released by the time the loser re-reads the row,
    there is no holder to name: the lock is free, and the loser takes it (found by mypy: the
    re-read row was used without checking it was there, an AttributeError)."""
    real_begin_write = locks.begin_write
    writes = []

    @contextmanager
    def lost_the_first_insert(engine):
        writes.append(1)
        if len(writes) == 1:  # the winner inserted first, then finished and released
            raise sa.exc.IntegrityError("INSERT INTO account_locks", {}, Exception("duplicate key"))
        with real_begin_write(engine) as conn:
            yield conn

    monkeypatch.setattr(locks, "begin_write", lost_the_first_insert)
    loser = holder("loser")
    with locks.alive(engine, loser):
        locks.acquire(engine, ["shop"], loser, clock=at(T0))
        assert locks.holds(engine, "shop", loser) is True
    assert len(writes) == 2


def test_a_holder_that_is_gone_is_taken_over_at_once(engine):
    gone = holder("gone")
    with locks.alive(engine, gone):
        locks.acquire(engine, ["shop"], gone, clock=at(T0))
    # its liveness lock is free now (the process died: the OS or the server dropped it)
    locks.acquire(engine, ["shop"], holder("next"), clock=at(T0 + timedelta(seconds=1)))


HOLD_IN_ANOTHER_PROCESS = """
import datetime as dt, os, sys, time
url, skew, fake_pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
if fake_pid:  # a PID of another PID namespace (a container with host networking): dead-looking here
    os.getpid = lambda: fake_pid
if skew:  # this machine's clock runs behind
    real = time.time
    time.time = lambda: real() + skew
    class Skewed(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.fromtimestamp(time.time(), tz)
import ecauto_lib.db.locks as locks
if skew:
    locks.datetime = Skewed
from ecauto_lib.db import make_engine
with locks.account_locks(make_engine(url), ["shop"], heartbeat_every=3600):
    print("held", flush=True)
    sys.stdin.read()
"""


def hold_in_another_process(url: str, *, skew: float = 0.0, fake_pid: int = 0) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_IN_ANOTHER_PROCESS, url, str(skew), str(fake_pid)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_live_holder_elsewhere_is_not_taken_over_whatever_its_pid_or_clock(engine, db_url):
    # Same hostname, a PID that does not exist in this namespace; on PostgreSQL its clock also runs
    # 20 minutes behind (on SQLite every process runs on the DB's machine and reads its clock).
    skew = -1200.0 if engine.dialect.name == "postgresql" else 0.0
    child = hold_in_another_process(db_url, skew=skew, fake_pid=2**22 + 4242)
    try:
        with pytest.raises(locks.AlreadyRunningError), locks.account_locks(engine, ["shop"]):
            pass
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    with locks.account_locks(engine, ["shop"]):  # released on exit: free again
        pass


def test_the_lock_of_a_killed_process_is_taken_over_at_once(engine, db_url):
    child = hold_in_another_process(db_url)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    with locks.account_locks(engine, ["shop"]) as mine:  # no wait for its heartbeat to go stale
        assert locks.holds(engine, "shop", mine)
