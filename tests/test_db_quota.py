"""The shared SP-API pacer: one bucket in the DB for every process (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest

from ecauto_lib.db import make_engine, upgrade
from ecauto_lib.db.quota import SharedPacer


@pytest.fixture
def engines(db_url):
    first = make_engine(db_url)
    upgrade(first)
    second = make_engine(db_url)  # another "process": its own engine and connection pool
    yield first, second
    first.dispose()
    second.dispose()


def on_fake_clock(engine, key, rate, burst, fake: list[float], *, sleep=None, **options) -> SharedPacer:
    """A pacer whose local and database clocks are both ``fake[0]``; ``sleep`` advances it."""
    return SharedPacer(
        engine,
        key,
        rate,
        burst,
        clock=lambda: fake[0],
        sleep=sleep or (lambda s: fake.__setitem__(0, fake[0] + s)),
        db_clock=lambda conn: fake[0],
        **options,
    )


def test_two_pacers_on_one_key_share_the_rate(engines):
    """Two processes taking turns on the virtual clock: every call exactly one spacing after the
    one before, whichever process sent it (no bunching, and no slot wasted)."""
    fake = [1000.0]
    a = on_fake_clock(engines[0], "seller|op", 20.0, 1, fake, safety_margin=0.0, min_slack=0.0)
    b = on_fake_clock(engines[1], "seller|op", 20.0, 1, fake, safety_margin=0.0, min_slack=0.0)
    stamps = []
    for pacer in (a, b, b, a, b, a, a, b) * 4:
        pacer.acquire()
        stamps.append(fake[0])
    assert stamps == pytest.approx([1000.0 + n / 20.0 for n in range(32)])


def test_two_pacers_on_one_key_share_the_rate_across_threads(engines):
    """The same with four threads on the real clock (the DB's row lock serialises them): every
    caller gets its tokens and together they never beat the rate. No bound on gaps or wall time:
    a loaded machine wakes and stamps callers late (the fake-clock test above checks the spacing
    exactly; the benchmarks measure the share of the quota used)."""
    rate = 20.0
    a = SharedPacer(engines[0], "seller|op", rate, 1, safety_margin=0.0)
    b = SharedPacer(engines[1], "seller|op", rate, 1, safety_margin=0.0)
    stamps: list[float] = []
    lock = threading.Lock()

    def take(pacer, n):
        for _ in range(n):
            entered = time.monotonic()
            sent = entered + pacer.acquire()  # the pacer's own reading of when it let the call go
            with lock:
                stamps.append(sent)

    threads = [threading.Thread(target=take, args=(p, 8)) for p in (a, b, a, b)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.monotonic() - started
    assert len(stamps) == 32
    # 32 tokens at 20/s with a burst of 1: the first is free, the other 31 need 31/20 s together
    assert elapsed >= 31 / rate * 0.97
    assert max(stamps) - min(stamps) >= 31 / rate * 0.97  # as the pacers saw it, too


def test_a_rate_learned_by_one_process_is_adopted_by_the_other(engines):
    fake = [1000.0]
    a = on_fake_clock(engines[0], "seller|op", 0.1, 1, fake)
    a.set_rate(50.0)  # an answer's x-amzn-RateLimit-Limit, before any slot was promised
    b = on_fake_clock(engines[1], "seller|op", 0.1, 1, fake)  # another process, built with the default
    assert a.acquire() == 0.0
    waited = b.acquire()  # at 0.1/s this would wait 10 s
    assert waited == pytest.approx(b.spacing(50.0)) and waited < 0.05
    assert b.rate == 50.0


def test_a_caller_that_wakes_late_sends_at_once_when_nobody_reserved_after_it(engines):
    fake = [1000.0]
    late_once = {"done": False}

    def sleep(seconds: float) -> None:
        fake[0] += seconds
        if not late_once["done"]:
            late_once["done"] = True
            fake[0] += 0.5  # a GC pause / busy CPU: woke half a second after the slot

    pacer = on_fake_clock(engines[0], "seller|op", 1.0, 1, fake, sleep=sleep, safety_margin=0.0)
    pacer.acquire()  # slot 1000 (idle bucket: now)
    pacer.acquire()  # slot 1001, woke at 1001.5: nobody is behind it, so it goes now ...
    assert fake[0] == pytest.approx(1001.5)
    pacer.acquire()  # ... and the next call is spaced from when it really went
    assert fake[0] == pytest.approx(1002.5)


def test_a_caller_that_wakes_late_behind_another_process_takes_a_new_slot(engines):
    fake = [1000.0]
    other_sent: list[float] = []
    other = on_fake_clock(engines[1], "seller|op", 1.0, 1, fake, safety_margin=0.0)
    late_once = {"done": False}

    def sleep(seconds: float) -> None:
        fake[0] += seconds
        if not late_once["done"]:
            late_once["done"] = True
            fake[0] += 0.5  # woke half a second late; meanwhile another process reserved the next slot
            other.acquire()
            other_sent.append(fake[0])

    pacer = on_fake_clock(engines[0], "seller|op", 1.0, 1, fake, sleep=sleep, safety_margin=0.0)
    pacer.acquire()  # slot 1000
    pacer.acquire()  # slot 1001, woke late; the other process took 1002: this one goes at 1003
    assert other_sent == [pytest.approx(1002.0)]
    assert fake[0] == pytest.approx(1003.0)


def test_min_slack_spaces_shared_slots(engines):
    fake = [1000.0]
    pacer = on_fake_clock(engines[0], "seller|fast", 2.0, 1, fake, safety_margin=0.02, min_slack=0.020)
    assert pacer.spacing() == pytest.approx(0.520)  # 2 % of 0.5 s is 10 ms: the 20 ms floor wins
    pacer.acquire()
    pacer.acquire()
    assert fake[0] == pytest.approx(1000.520)


def test_a_rate_learned_while_a_caller_sleeps_does_not_make_its_on_time_call_late(engines):
    fake = [1000.0]
    pacer: SharedPacer | None = None

    def sleep(seconds: float) -> None:
        fake[0] += seconds  # woke exactly on its slot ...
        pacer.set_rate(0.05)  # ... while another thread stored a slower rate from a header

    pacer = on_fake_clock(engines[0], "seller|slow", 0.1, 1, fake, sleep=sleep, safety_margin=0.02)
    pacer.acquire()  # idle bucket: now, no sleep
    pacer.acquire()  # slot 10.2 s later, computed at 0.1/s: sent then, not given up for a new slot
    assert fake[0] == pytest.approx(1000 + 10 / 0.98)


def test_drain_empties_the_bucket_for_everyone(engines):
    fake = [1000.0]
    a = on_fake_clock(engines[0], "seller|op", 5.0, 1, fake, safety_margin=0.0, min_slack=0.0)
    b = on_fake_clock(engines[1], "seller|op", 5.0, 1, fake, safety_margin=0.0, min_slack=0.0)
    assert b.acquire() == 0.0
    fake[0] += 0.25  # the bucket refills to its burst
    a.drain()  # a 429 seen by one process
    assert b.acquire() == pytest.approx(0.2)  # had to wait for a fresh token (1/5 s)


def test_keys_are_independent(engines):
    slow = SharedPacer(engines[0], "seller|getItemOffersBatch", 0.1, 1)
    slept: list[float] = []
    fake = [1000.0]  # a fake clock: a slow commit on a loaded machine would make a call "late"

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        fake[0] += seconds

    fast = on_fake_clock(engines[0], "seller|searchCatalogItems", 2.0, 2, fake, sleep=sleep)
    slow.acquire()
    fast.acquire()
    fast.acquire()
    assert slept == []  # the slow key's use left the fast key's burst of 2 untouched
    fast.acquire()
    assert len(slept) == 1 and slept[0] > 0.4  # its own third call waits for its own refill


# ---------------------------------------------------------------------------------------------
# The database's clock (#11 §5) and late wake-ups under CPU load (#12 §6)


def test_a_worker_whose_clock_runs_behind_does_not_crowd_the_others(engines):
    """Two machines, one 5 s behind: the slots are on the database's clock, not on either machine's."""
    rate = 2.0  # 550 ms spacing: the bug sends the second call ~1 ms after the first
    slack = {"safety_margin": 0.0, "min_slack": 0.05}  # 50 ms: a commit is never "late"
    behind = SharedPacer(engines[0], "seller|skew", rate, 1, clock=lambda: time.time() - 5.0, **slack)
    on_time = SharedPacer(engines[1], "seller|skew", rate, 1, **slack)
    stamps = []
    for pacer in (behind, on_time, behind, on_time):
        pacer.acquire()
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    # a lower bound, with room for a loaded machine to stamp a call late (gaps only grow otherwise)
    assert min(gaps) >= 0.5 / rate, gaps


def test_slots_are_placed_on_the_database_clock_whatever_each_worker_reads_locally(engines):
    """The same on fake clocks: the database's time is ``true``; the workers' clocks are off by
    −5 s and +3 s. Each call is one spacing after the one before, on the database's clock."""
    true = [1000.0]
    sent = []

    def pacer(engine, skew):
        return SharedPacer(
            engine,
            "seller|skew",
            1.0,
            1,
            safety_margin=0.0,
            clock=lambda: true[0] + skew,
            sleep=lambda s: true.__setitem__(0, true[0] + s),
            db_clock=lambda conn: true[0],
        )

    behind, ahead = pacer(engines[0], -5.0), pacer(engines[1], 3.0)
    for worker in (behind, ahead, behind, ahead):
        worker.acquire()
        sent.append(true[0])
    assert sent == [pytest.approx(t) for t in (1000.0, 1001.0, 1002.0, 1003.0)]


class LateWaker:
    """A fake clock whose sleeps always wake ``late`` seconds after the slot (a thread waiting for the
    GIL behind CPU-bound threads); refuses to sleep more than ``limit`` times."""

    def __init__(self, late: float, limit: int = 200) -> None:
        self.now, self.late, self.sleeps, self.limit = 1000.0, late, 0, limit

    def clock(self) -> float:
        return self.now

    def db_clock(self, conn) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.sleeps > self.limit:
            raise AssertionError(f"{self.sleeps} sleeps: the pacer keeps giving its slot up")
        self.now += seconds + self.late


def test_a_caller_that_always_wakes_a_little_late_still_gets_the_rate(engines):
    """searchCatalogItems: 2 req/s, 20 ms slack. Woken 10 ms late every time, each call is 10 ms late
    and no more: the rate stays at 2 / (1 + 2 × 0.03) instead of collapsing (0.38 req/s reported)."""
    waker = LateWaker(late=0.010)
    pacer = SharedPacer(
        engines[0],
        "seller|searchCatalogItems",
        2.0,
        1,
        safety_margin=0.02,
        min_slack=0.020,
        clock=waker.clock,
        sleep=waker.sleep,
        db_clock=waker.db_clock,
    )
    sent = []
    for _ in range(20):
        pacer.acquire()
        sent.append(waker.now)
    assert waker.sleeps == 19  # one sleep per call after the first: no slot given up
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert all(g == pytest.approx(0.520 + 0.010) for g in gaps)  # each call spaced from the one before
