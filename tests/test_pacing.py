"""TokenBucket: spacing, burst, set_rate, drain and thread safety, on a fake clock."""

from __future__ import annotations

import threading
import time

import pytest

from ecauto_lib.amazon.pacing import TokenBucket


class FakeClock:
    """A monotonic clock that only moves when told to, or by exactly the time slept."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bucket(
    rate: float, burst: int = 1, *, margin: float = 0.0, clock: FakeClock | None = None
) -> TokenBucket:
    clock = clock or FakeClock()
    return TokenBucket(rate, burst, safety_margin=margin, clock=clock, sleep=clock.sleep)


def test_starts_full_then_spaces_calls_by_the_rate() -> None:
    clock = FakeClock()
    b = bucket(0.5, burst=2, clock=clock)
    waits = [b.acquire() for _ in range(5)]
    assert waits[:2] == [0.0, 0.0]  # the burst
    assert waits[2:] == pytest.approx([2.0, 2.0, 2.0])
    assert clock.now == pytest.approx(1000.0 + 6.0)


def test_safety_margin_stretches_spacing() -> None:
    clock = FakeClock()
    b = bucket(0.1, margin=0.02, clock=clock)
    assert b.spacing == pytest.approx(1 / (0.1 * 0.98))
    b.acquire()
    assert b.acquire() == pytest.approx(10.0 / 0.98)


def test_min_slack_is_a_floor_in_seconds_above_the_quota_spacing() -> None:
    clock = FakeClock()
    # 2 calls/s: 2 % is 10 ms, the 20 ms floor wins
    fast = TokenBucket(2.0, 1, safety_margin=0.02, min_slack=0.020, clock=clock, sleep=clock.sleep)
    assert fast.spacing == pytest.approx(0.520)
    fast.acquire()
    assert fast.acquire() == pytest.approx(0.520)
    # one call per 10 s: 2 % is 200 ms, the floor changes nothing
    slow = TokenBucket(0.1, 1, safety_margin=0.02, min_slack=0.020, clock=clock, sleep=clock.sleep)
    assert slow.spacing == pytest.approx(10.0 / 0.98)
    with pytest.raises(ValueError, match="min_slack"):
        TokenBucket(1.0, min_slack=-0.1)


def test_wait_is_exact_after_partial_refill_and_never_polls() -> None:
    clock = FakeClock()
    b = bucket(1.0, clock=clock)
    b.acquire()
    clock.advance(0.3)
    assert b.acquire() == pytest.approx(0.7)
    assert clock.sleeps == [pytest.approx(0.7)]  # one sleep for one wait


def test_idle_time_refills_only_up_to_burst() -> None:
    clock = FakeClock()
    b = bucket(1.0, burst=3, clock=clock)
    for _ in range(3):
        b.acquire()
    clock.advance(100.0)
    assert [b.acquire() for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 1.0])


def test_set_rate_credits_earned_tokens_at_the_old_rate() -> None:
    clock = FakeClock()
    b = bucket(1.0, clock=clock)
    b.acquire()
    clock.advance(0.5)  # half a token earned at 1/s
    b.set_rate(0.25)
    assert b.rate == 0.25
    assert b.acquire() == pytest.approx(0.5 / 0.25)  # the other half at 0.25/s
    assert b.acquire() == pytest.approx(4.0)


def test_drain_empties_a_full_bucket() -> None:
    clock = FakeClock()
    b = bucket(2.0, burst=2, clock=clock)
    b.drain()
    assert b.acquire() == pytest.approx(0.5)


def test_drain_during_a_wait_makes_the_sleeper_wait_again() -> None:
    """Another thread's 429 drains the bucket while this caller sleeps: it must not send on waking."""
    clock = FakeClock()
    b = bucket(1.0, clock=clock)
    b.acquire()
    drained = []

    def sleep_then_429(seconds: float) -> None:
        clock.sleep(seconds)
        if not drained:
            drained.append(clock.now)
            b.drain()

    b._sleep = sleep_then_429  # type: ignore[method-assign]
    assert b.acquire() == pytest.approx(2.0)
    assert clock.now == pytest.approx(1002.0)


class LateClock(FakeClock):
    """Every sleep overshoots by ``late`` seconds, like a thread woken late on a busy CPU."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds + self.late)


def test_a_late_wake_up_pushes_the_next_call_back() -> None:
    """The token is taken when the caller really wakes, so calls never bunch up after a late one."""
    clock = LateClock(late=0.05)
    b = TokenBucket(1.0, 1, safety_margin=0.0, clock=clock, sleep=clock.sleep)
    taken_at = []
    for _ in range(3):
        b.acquire()
        taken_at.append(clock.now)
    assert taken_at == pytest.approx([1000.0, 1001.05, 1002.10])


def server_accepts(times: list[float], rate: float, burst: int) -> bool:
    """Would a server-side bucket (rate, burst, starting full) accept calls at ``times``?"""
    tokens, last = float(burst), times[0]
    for t in times:
        tokens = min(burst, tokens + (t - last) * rate) - 1.0
        last = t
        if tokens < -1e-9:
            return False
    return True


@pytest.mark.parametrize(("rate", "burst"), [(0.1, 1), (2.0, 2), (0.5, 1)])
def test_paced_calls_reach_98_percent_of_the_quota_and_are_never_throttled(rate: float, burst: int) -> None:
    clock = FakeClock()
    b = TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(200):
        b.acquire()
        times.append(clock.now)
    assert server_accepts(times, rate, burst)
    steady = (len(times) - burst) / (times[-1] - times[burst - 1])
    assert steady == pytest.approx(0.98 * rate)
    assert not server_accepts(times, rate * 0.975, burst)  # and no slower than it needs to be


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan"), True, "1"])
def test_rejects_bad_rates(rate: object) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TokenBucket(1.0).set_rate(rate)  # type: ignore[arg-type]


@pytest.mark.parametrize(("burst", "margin"), [(0, 0.02), (1.5, 0.02), (1, 1.0), (1, -0.1)])
def test_rejects_bad_burst_or_margin(burst: object, margin: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(1.0, burst, safety_margin=margin)  # type: ignore[arg-type]


def test_concurrent_callers_take_one_token_each() -> None:
    """16 threads at once: 2 burst tokens, then one caller per spacing; no token is handed out twice."""
    clock = FakeClock()
    b = bucket(4.0, burst=2, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        w = b.acquire()
        with lock:
            waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([0.0, 0.0] + [0.25] * 14)
    assert clock.now == pytest.approx(1000.0 + 14 * 0.25)  # 16 tokens took exactly 14 refills


def test_real_clock_threads_keep_the_rate() -> None:
    """With the real clock, 4 threads sharing a 100/s bucket (burst 1) never beat the spacing."""
    b = TokenBucket(100.0, 1, safety_margin=0.0)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            b.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    # 40 tokens, 1 free: at least 39 spacings of 10 ms.
    assert elapsed >= 0.39 - 0.005
    assert len(stamps) == 40


def test_a_caller_sleeping_on_the_default_rate_wakes_when_the_real_rate_arrives():
    """The second call of a run sleeps on 0.1/s until the first answer's header says 10/s."""
    import threading
    import time as real_time

    bucket = TokenBucket(0.1, 1)  # real clock and sleep
    bucket.acquire()  # the first call goes at once
    waited = []
    second = threading.Thread(target=lambda: waited.append(bucket.acquire()))
    started = real_time.monotonic()
    second.start()
    real_time.sleep(0.05)
    bucket.set_rate(10.0)  # x-amzn-RateLimit-Limit: 10.0
    second.join(timeout=5)
    assert not second.is_alive()
    assert real_time.monotonic() - started < 1.0  # not the 10 s the old rate asked for
    assert 0.05 <= waited[0] < 1.0
