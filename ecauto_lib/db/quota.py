"""A token bucket kept in the master DB, so several processes share one seller's SP-API quota.

SP-API quotas belong to a seller × application pair, per operation (sp-api.md §4). Two flow runs
at once (two Prefect workers, or a manual run beside a scheduled one) each pacing themselves
would together send twice the quota. :class:`SharedPacer` keeps the bucket (rate, burst, balance,
time) in one row per (seller scope, operation) and takes tokens inside a write transaction
(``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so every process draws
from the same bucket. It has the interface of :class:`ecauto_lib.amazon.pacing.TokenBucket`.

Why not Prefect's global concurrency ``rate_limit``: measured here it reaches only 60-70 % of the
limit (its waits poll), and getItemOffersBatch at 0.1 req/s is the bottleneck of the whole job.
This pacer computes the exact wait; it re-reads the row at least every ``max_sleep`` seconds so
a rate another process learned from ``x-amzn-RateLimit-Limit`` is adopted promptly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from ecauto_lib.db.engine import begin_write, dialect_insert
from ecauto_lib.db.models import quota_buckets

_EPSILON = 1e-9


class SharedPacer:
    """A cross-process token bucket: ``rate`` tokens/s (less ``safety_margin``), ``burst`` at most."""

    def __init__(
        self,
        engine: sa.Engine,
        key: str,
        rate: float,
        burst: int = 1,
        *,
        safety_margin: float = 0.02,
        max_sleep: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not rate > 0 or burst < 1 or not 0 <= safety_margin < 1:
            raise ValueError("rate must be > 0, burst ≥ 1 and safety_margin in [0, 1)")
        self._engine, self.key = engine, key
        self._default_rate, self._burst = float(rate), int(burst)
        self._margin, self._max_sleep, self._clock = safety_margin, max_sleep, clock
        self._turn = threading.Lock()  # one thread of this process at a time asks the DB
        self._faster = threading.Event()
        self._rate = float(rate)
        self._ensure_row()

    @property
    def rate(self) -> float:
        """The server's rate this bucket paces against (as last stored), before the margin."""
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    def acquire(self) -> float:
        """Block until the shared bucket has a token, take it, return the seconds waited."""
        started = time.monotonic()
        with self._turn:
            while True:
                self._faster.clear()
                wait = self._try_take()
                if wait <= 0:
                    return time.monotonic() - started
                self._faster.wait(min(wait, self._max_sleep))

    def set_rate(self, rate: float) -> None:
        """Store the rate the server reported; every process adopts it on its next look."""
        if not rate > 0:
            raise ValueError("rate must be > 0")
        with begin_write(self._engine) as conn:
            row = self._locked_row(conn)
            now = self._clock()
            tokens = self._refilled(row, now)
            conn.execute(
                sa.update(quota_buckets)
                .where(quota_buckets.c.key == self.key)
                .values(rate=float(rate), tokens=tokens, updated=now)
            )
        faster = rate > self._rate
        self._rate = float(rate)
        if faster:
            self._faster.set()

    def drain(self) -> None:
        """The server answered 429: its bucket is empty, and so is ours (for every process)."""
        with begin_write(self._engine) as conn:
            self._locked_row(conn)
            conn.execute(
                sa.update(quota_buckets)
                .where(quota_buckets.c.key == self.key)
                .values(tokens=0.0, updated=self._clock())
            )

    def __repr__(self) -> str:
        return f"SharedPacer(key={self.key!r}, rate={self._rate:g}, burst={self._burst})"

    # -- internals ----------------------------------------------------------------------------

    def _ensure_row(self) -> None:
        with begin_write(self._engine) as conn:
            insert = dialect_insert(conn, quota_buckets).values(
                key=self.key,
                rate=self._default_rate,
                burst=self._burst,
                tokens=float(self._burst),
                updated=self._clock(),
            )
            conn.execute(insert.on_conflict_do_nothing(index_elements=["key"]))

    def _locked_row(self, conn: sa.Connection) -> sa.Row:
        return conn.execute(
            sa.select(quota_buckets).where(quota_buckets.c.key == self.key).with_for_update()
        ).one()

    def _refilled(self, row: sa.Row, now: float) -> float:
        effective = row.rate * (1.0 - self._margin)
        return min(float(row.burst), row.tokens + max(0.0, now - row.updated) * effective)

    def _try_take(self) -> float:
        """Take a token now (returns 0) or return how long until one is due."""
        with begin_write(self._engine) as conn:
            row = self._locked_row(conn)
            self._rate = row.rate
            now = self._clock()
            tokens = self._refilled(row, now)
            if tokens >= 1.0 - _EPSILON:
                conn.execute(
                    sa.update(quota_buckets)
                    .where(quota_buckets.c.key == self.key)
                    .values(tokens=tokens - 1.0, updated=now)
                )
                return 0.0
            return (1.0 - tokens) / (row.rate * (1.0 - self._margin))
