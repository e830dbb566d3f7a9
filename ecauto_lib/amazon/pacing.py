"""Client-side token bucket that mirrors SP-API's per-operation usage plans.

SP-API throttles each operation with a token bucket (``rate`` tokens/second, up to ``burst``);
a call without a token gets HTTP 429 (sp-api.md §4). Pacing the client with the same bucket,
refilled a little *slower* than the server's (``safety_margin``), keeps calls just inside the
quota: with the default 2 % margin a busy client reaches 98 % of the quota and the margin
absorbs scheduling and network jitter. Jitter is a matter of milliseconds whatever the rate, so a
margin can also be given as a floor in seconds (``min_slack``): each call keeps at least that much
time on top of the quota's spacing (2 % of getItemOffersBatch's 10 s is 200 ms, of
searchCatalogItems' 0.5 s only 10 ms).

The bucket is precise: :meth:`TokenBucket.acquire` computes the exact wait and sleeps for it
(no polling; it sleeps again only if a :meth:`drain` or :meth:`set_rate` came in meanwhile). Callers queue on a *turn* lock; the one at the head sleeps, then takes its token at
the moment it actually wakes. So a caller that wakes late (a busy CPU) pushes the callers behind
it back by the same amount, exactly as the server's bucket sees the calls arrive, instead of
letting the next call follow too closely (which the server would answer with 429). The state
lock is never held while sleeping: :meth:`set_rate` and :meth:`drain` never wait for a sleeper.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

# Float slack: after sleeping exactly the computed wait the bucket holds 1.0 give or take rounding.
_EPSILON = 1e-9
DEFAULT_SAFETY_MARGIN = 0.02
"""Pacers refill this much slower than the quota (98 %): room for network jitter (ECAUTO_SP_API_SAFETY_MARGIN)."""


class Pacer(Protocol):
    """What a client needs from a pacer (``TokenBucket`` here, ``ecauto_lib.db.quota.SharedPacer``)."""

    @property
    def rate(self) -> float: ...

    def acquire(self) -> float: ...

    def set_rate(self, rate: float) -> None: ...

    def drain(self) -> None: ...


class TokenBucket:
    """A thread-safe token bucket: ``rate`` tokens per second, at most ``burst`` stored, starts full.

    ``clock`` (monotonic seconds) and ``sleep`` are injectable so tests can run on a fake clock.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
        min_slack: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        check_rate(rate)
        if int(burst) != burst or burst < 1:
            raise ValueError(f"burst must be a positive integer, got {burst!r}")
        if not 0.0 <= safety_margin < 1.0:
            raise ValueError(f"safety_margin must be in [0, 1), got {safety_margin!r}")
        if not min_slack >= 0:
            raise ValueError(f"min_slack must be >= 0 seconds, got {min_slack!r}")
        self._min_slack = float(min_slack)
        self._rate = float(rate)
        self._burst = int(burst)
        self._margin = float(safety_margin)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()  # guards the token count; never held while sleeping
        self._turn = threading.Lock()  # callers wait for a token one at a time, in turn
        # Set when the rate goes up, so a caller sleeping on the old (slower) rate wakes and
        # recomputes: the first call of a run learns the real rate from x-amzn-RateLimit-Limit
        # while the next caller already sleeps on the published default. Only with the real
        # sleep: an injected ``sleep`` (tests on a fake clock) keeps its exact, deterministic waits.
        self._faster = threading.Event() if sleep is time.sleep else None
        self._tokens = float(self._burst)
        self._updated = clock()

    @property
    def rate(self) -> float:
        """The server's rate (requests/second) this bucket paces against, before the safety margin."""
        return self._rate

    @property
    def burst(self) -> int:
        """How many tokens the bucket holds when full."""
        return self._burst

    @property
    def spacing(self) -> float:
        """Seconds between calls once the burst is used up (see :func:`slot_spacing`)."""
        return 1.0 / self._effective_rate()

    def acquire(self) -> float:
        """Block until a token is available, take it, and return the seconds waited (0.0 if none).

        The wait is recomputed after each sleep: if :meth:`drain` or :meth:`set_rate` changed the
        bucket meanwhile (another thread's 429), the caller sleeps for exactly the rest.
        """
        waited = 0.0
        with self._turn:
            while True:
                with self._lock:
                    self._refill()
                    if self._tokens >= 1.0 - _EPSILON:
                        # Taken now, at the real time of the call: refilled (capped at burst) up to here.
                        self._tokens -= 1.0
                        return waited
                    wait = (1.0 - self._tokens) / self._effective_rate()
                    if self._faster is not None:
                        self._faster.clear()
                if self._faster is not None:
                    started = time.monotonic()
                    self._faster.wait(wait)
                    waited += time.monotonic() - started
                else:
                    self._sleep(wait)
                    waited += wait

    def set_rate(self, rate: float) -> None:
        """Adopt the server's actual rate (e.g. from ``x-amzn-RateLimit-Limit``).

        Tokens earned so far are credited at the old rate; refilling from now on uses the new one.
        """
        check_rate(rate)
        with self._lock:
            self._refill()
            faster = float(rate) > self._rate
            self._rate = float(rate)
            if faster and self._faster is not None:
                self._faster.set()

    def drain(self) -> None:
        """Empty the bucket now: the server just answered 429, so its bucket is empty too."""
        with self._lock:
            self._refill()
            self._tokens = 0.0

    def __repr__(self) -> str:
        return (
            f"TokenBucket(rate={self._rate:g}, burst={self._burst}, "
            f"safety_margin={self._margin:g}, min_slack={self._min_slack:g}, tokens={self._tokens:.3f})"
        )

    def _effective_rate(self) -> float:
        return 1.0 / slot_spacing(self._rate, self._margin, self._min_slack)

    def _refill(self) -> None:
        """Credit the tokens earned since the last update (caller holds the lock)."""
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self._burst), self._tokens + elapsed * self._effective_rate())
        self._updated = now


def slot_spacing(rate: float, safety_margin: float, min_slack: float = 0.0) -> float:
    """Seconds between paced calls: ``1 / (rate × (1 − safety_margin))``, and at least
    ``1 / rate + min_slack``."""
    return max(1.0 / (rate * (1.0 - safety_margin)), 1.0 / rate + min_slack)


def check_rate(rate: float) -> None:
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0 or rate == float("inf"):
        raise ValueError(f"rate must be a positive, finite number of requests per second, got {rate!r}")
