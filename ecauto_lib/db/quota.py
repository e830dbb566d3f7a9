"""A token bucket kept in the master DB, so several processes share one seller's SP-API quota.

SP-API quotas belong to a seller × application pair, per operation (sp-api.md §4). Two flow runs
at once (two Prefect workers, or a manual run beside a scheduled one) each pacing themselves
would together send twice the quota. :class:`SharedPacer` keeps one row per (seller scope,
operation) and hands out *send slots* from it inside a write transaction (``SELECT … FOR UPDATE``
on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so every process draws from the same bucket. It
is a :class:`ecauto_lib.amazon.pacing.Pacer`, like :class:`~ecauto_lib.amazon.pacing.TokenBucket`.

The algorithm is GCRA (the virtual-scheduling form of a token bucket): the row holds ``next_free``,
the earliest time the next call may leave at the steady rate; a caller reserves
``slot = max(now, next_free - burst allowance)``, stores ``next_free + spacing``, commits, and sleeps
locally until its slot, so commit latency is absorbed instead of turning into arrival jitter.

**One clock.** Slots are times on the database's clock (:mod:`ecauto_lib.db.clock`:
``clock_timestamp()`` on PostgreSQL; on SQLite the one machine's clock), never a worker's own:
with workers on several machines, a worker whose clock ran behind by more than the slack would
otherwise take a slot already past for the others and send right after them. A caller reads the
database's time in the reserving transaction and sleeps the difference on its local monotonic
clock; only durations are measured locally.

**Late wake-ups.** A caller that wakes later than its slot by more than :data:`LATE_TOLERANCE`
of its slack (a GC pause, a thread waiting for the GIL behind CPU-bound threads, a slow commit)
must not crowd the call reserved after it. If nobody reserved after it (the row still holds the
``next_free`` it stored) it sends now and moves ``next_free`` to now + spacing, in one conditional
update; only if another caller already holds the next slot does it reserve a new one behind. (It
used to re-reserve every time: under CPU load nearly every wake-up of searchCatalogItems, whose
tolerance is ~6 ms, was late, and 2 req/s fell to 0.38-0.77 req/s.)

Why not Prefect's global concurrency ``rate_limit``: measured here it reaches 42-55 % of the
limit (its waits poll; ``benchmarks/pacer_check.py``), and getItemOffersBatch at 0.1 req/s is the bottleneck of the whole job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from ecauto_lib.amazon.pacing import DEFAULT_SAFETY_MARGIN, check_rate, slot_spacing
from ecauto_lib.db.clock import DatabaseClock, database_time
from ecauto_lib.db.engine import begin_write, dialect_insert
from ecauto_lib.db.models import quota_buckets

LATE_TOLERANCE = 0.25
"""How late a call may leave without asking the bucket again, as a share of the slack its spacing
keeps above the quota's (later than that it re-stamps its slot, or takes a new one)."""


@dataclass(frozen=True)
class Reservation:
    """A send slot from the shared bucket, on the database's clock."""

    slot: float  # when the call may leave
    next_free: float  # what the reservation stored: still there means nobody reserved after it
    slack: float  # seconds its spacing keeps above the quota's
    spacing: float
    local_offset: float  # database time minus the local clock, when the slot was reserved


class SharedPacer:
    """A cross-process pacer: ``rate`` calls/s (less ``safety_margin``), bursts of ``burst``."""

    def __init__(
        self,
        engine: sa.Engine,
        key: str,
        rate: float,
        burst: int = 1,
        *,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
        min_slack: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        db_clock: DatabaseClock = database_time,
    ) -> None:
        """``clock`` measures this process's waits (local, monotonic); ``db_clock`` places the slots."""
        check_rate(rate)
        if burst < 1 or not 0 <= safety_margin < 1 or min_slack < 0:
            raise ValueError("burst must be ≥ 1, safety_margin in [0, 1) and min_slack ≥ 0")
        self._engine, self.key = engine, key
        self._rate, self._burst = float(rate), int(burst)
        self._margin, self._min_slack = safety_margin, min_slack
        self._clock, self._sleep, self._db_clock = clock, sleep, db_clock
        self._turn = threading.Lock()  # one thread of this process at a time holds a reservation
        self._ensure_row()  # with ``rate``: the default until the row learns the server's

    @property
    def rate(self) -> float:
        """The server's rate this bucket paces against (as last stored), before the margin."""
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    def spacing(self, rate: float | None = None) -> float:
        """Seconds between calls: the quota's spacing plus the margin, or plus ``min_slack`` if longer."""
        return slot_spacing(rate or self._rate, self._margin, self._min_slack)

    def acquire(self) -> float:
        """Reserve a send slot in the shared bucket, sleep until it, return the seconds waited."""
        started = self._clock()
        with self._turn:
            while True:
                booked = self._reserve()
                delay = booked.slot - booked.local_offset - self._clock()
                if delay > 0:
                    self._sleep(delay)
                late = self._clock() + booked.local_offset - booked.slot
                if late <= LATE_TOLERANCE * booked.slack + 1e-3 or self._restamp(booked):
                    return self._clock() - started
                # Woke too late and another caller holds the next slot: take a new one behind it.

    def set_rate(self, rate: float) -> None:
        """Store the rate the server reported; every process adopts it with its next reservation."""
        check_rate(rate)
        with begin_write(self._engine) as conn:
            self._locked_row(conn)
            # Slots already promised at the old spacing stay promised (pulling them in could put
            # two calls too close together); reservations from now on use the new spacing. The
            # row keeps the learned rate, so only a database's very first calls use the default.
            conn.execute(
                sa.update(quota_buckets).where(quota_buckets.c.key == self.key).values(rate=float(rate))
            )
        self._rate = float(rate)

    def drain(self) -> None:
        """The server answered 429: its bucket is empty; no process sends before a full spacing."""
        with begin_write(self._engine) as conn:
            row = self._locked_row(conn)
            now = self._db_clock(conn)
            conn.execute(
                sa.update(quota_buckets)
                .where(quota_buckets.c.key == self.key)
                .values(next_free=max(row.next_free, now + self.spacing(row.rate)))
            )

    def __repr__(self) -> str:
        return f"SharedPacer(key={self.key!r}, rate={self._rate:g}, burst={self._burst})"

    # -- internals ----------------------------------------------------------------------------

    def _ensure_row(self) -> None:
        with begin_write(self._engine) as conn:
            insert = dialect_insert(conn, quota_buckets).values(
                key=self.key, rate=self._rate, burst=self._burst, next_free=0.0
            )
            conn.execute(insert.on_conflict_do_nothing(index_elements=["key"]))

    def _locked_row(self, conn: sa.Connection) -> sa.Row:
        return conn.execute(
            sa.select(quota_buckets).where(quota_buckets.c.key == self.key).with_for_update()
        ).one()

    def _reserve(self) -> Reservation:
        """GCRA: the earliest slot this call may use, with the slack its spacing keeps above the
        quota's (both from the rate read in the same transaction: another thread's ``set_rate``
        while this one sleeps must not change what counts as late)."""
        with begin_write(self._engine) as conn:
            row = self._locked_row(conn)
            self._rate = row.rate
            spacing = self.spacing(row.rate)
            allowance = (row.burst - 1) * spacing
            now = self._db_clock(conn)
            offset = now - self._clock()
            theoretical = max(row.next_free, now)
            slot = max(now, theoretical - allowance)
            next_free = theoretical + spacing
            conn.execute(
                sa.update(quota_buckets).where(quota_buckets.c.key == self.key).values(next_free=next_free)
            )
            return Reservation(slot, next_free, spacing - 1.0 / row.rate, spacing, offset)

    def _restamp(self, booked: Reservation) -> bool:
        """A late caller sends now if nobody reserved after it: ``next_free`` moves to now + spacing
        (the bucket as if the call had been reserved now). False when another caller was first."""
        with begin_write(self._engine) as conn:
            now = self._db_clock(conn)
            moved = conn.execute(
                sa.update(quota_buckets)
                .where(quota_buckets.c.key == self.key, quota_buckets.c.next_free == booked.next_free)
                .values(next_free=max(booked.next_free, now + booked.spacing))
            ).rowcount
        return moved == 1
