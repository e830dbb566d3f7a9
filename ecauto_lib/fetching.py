"""The fetch policy: which SP-API calls a run makes, in what order, on which lane.

Plain Python behind a small protocol, so it runs the same on Prefect task runs (``tasks/fetching``)
and on fakes in the tests:

* a :class:`Submitter` takes a :class:`FetchCall` (an operation, its ASINs, a label) and returns a
  :class:`Handle` at once; ``wait_any`` blocks until one of some handles is done;
* a :class:`Handle` says whether its call is done, gives its answers (or the exception it ended
  with: never raises) and whether a cache answered it.

The work is an ordered queue (:class:`WorkQueue`): offer batches most urgent first, a catalog
batch after each so searchCatalogItems' own quota is used in parallel. Only :data:`WINDOW` calls
are in flight at once; each handle is dropped once its answers are collected, so memory does not
grow with the number of batches, and a re-check submitted mid-run waits behind a handful of
batches, not behind the whole run. A batch in its retry back-off does not hold up the ones behind
it: answers are collected as they come, in submission order among those done.

**Lanes.** Each SP-API operation is a :class:`Lane`: its ASINs per call come from its declaration
(:data:`ecauto_lib.amazon.client.OPERATIONS`), its rate from its pacer (live: the pacer adopts
``x-amzn-RateLimit-Limit``). Offers use two lanes: getItemOffersBatch (20 ASINs a call) for the
queue, getItemOffers (1 a call, its own 0.5 req/s quota) for re-checks.

**Re-checks** (:class:`SellOutRechecks`): a new sell-out is re-checked before anything is hidden
(:mod:`ecauto_lib.guards`). The re-checks go to getItemOffers while the batch fetch goes on, in
chunks of :data:`RECHECK_CHUNK`, at most :data:`RECHECK_QUEUE` waiting for its quota; what is left
when the batch fetch ends goes to getItemOffers if that lane clears it within one more batch call,
else back through getItemOffersBatch (free by then); a re-check getItemOffers did not answer goes
through getItemOffersBatch too (with its retries). A re-check is always a fresh answer.

**A run's time budget** (``deadline``): no call starts after it; what the queue still holds is
left for the next run (counted as ``unfetched``), so a run never overlaps the next scheduled one.
The budget is the whole run's: :func:`fetch_deadline` stops the fetch early enough to leave what
followed the last fetch of a run of the same mode (pricing, pushes, the record), never more than
half the budget (:data:`MIN_FETCH_SHARE`). A deployment run that starts late (the one before it
overran: ``ENQUEUE`` starts it when that one ends) counts its budget from its scheduled start
(:func:`budget_start`), so lateness does not carry on into the next hour.

**Every lane full** (``single_refreshes``): while no re-check needs getItemOffers, it refreshes
the queue's head while it holds more than one batch call's ASINs, :data:`RECHECK_CHUNK` ASINs a
call, one call in flight: 0.5 ASIN/s beside
getItemOffersBatch's 2, 2.5 in all. Re-checks always go first (a refresh call is at most
:data:`RECHECK_CHUNK` × 2 s ahead of one); the ASINs a refresh did not answer go back to the
queue's front for getItemOffersBatch.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ecauto_lib.amazon.client import GET_ITEM_OFFERS, GET_ITEM_OFFERS_BATCH, SEARCH_CATALOG_ITEMS, Operation
from ecauto_lib.amazon.offers import error_observations
from ecauto_lib.clock import utc_now
from ecauto_lib.domain import CatalogInfo, Observation
from ecauto_lib.errors import CredentialsRefusedError, describe
from ecauto_lib.freshness import batches
from ecauto_lib.guards import merge_rechecks, sell_outs_to_recheck

MIN_FETCH_SHARE = 0.5  # of a run's time budget, the fetch always gets at least this much
MAX_LATE_SHARE = 0.25  # of a run's time budget, a late start gives back at most this much


def budget_start(started_at: datetime, scheduled_at: datetime | None, budget: timedelta) -> datetime:
    """When a run's time budget starts counting: its scheduled start if it started later than that,
    by at most :data:`MAX_LATE_SHARE` of the budget; else when it started.

    Why: the served loop queues an hourly run behind the one still running (``ENQUEUE``). Counted
    from its real start, a run started 7 minutes late ends 7 minutes late and starts the next one
    late in turn: the day benchmark saw the lateness grow to 7.5 minutes by the evening, each
    late start a gap in getItemOffersBatch's use. Counted from the schedule, the lateness ends with
    the run that caught it. The cap keeps a run that starts very late (a worker that was down)
    fetching for at least the rest: it and the next run or two catch up instead of fetching
    nothing. ``scheduled_at`` None (not a deployment run): ``started_at``."""
    if scheduled_at is None or scheduled_at >= started_at or budget <= timedelta(0):
        return started_at
    return max(scheduled_at, started_at - budget * MAX_LATE_SHARE)


def fetch_deadline(started_at: datetime, budget: timedelta, reserve: timedelta | None) -> datetime | None:
    """When a budgeted run starts its last SP-API call: the budget (from ``started_at``) less
    ``reserve``, the time the last run of its mode went on after its fetch (None: no such run, the
    whole budget), which never takes more than ``1 - MIN_FETCH_SHARE`` of it. None: no budget.

    Why: the budget is there so a run ends before the next scheduled one starts; a run that stops
    fetching at the budget and then prices, pushes and records ends after it, and the next run is
    cancelled (the day benchmark saw every other 15-minute run go that way)."""
    if budget <= timedelta(0):
        return None
    keep = min(max(reserve or timedelta(0), timedelta(0)), budget * (1 - MIN_FETCH_SHARE))
    return started_at + budget - keep


WINDOW = 8  # calls in flight at once (twice the flow's 4 worker threads)
RECHECK_CHUNK = 5  # ASINs per getItemOffers re-check call run (10 s of its quota)
RECHECK_QUEUE = 10  # re-check ASINs submitted to getItemOffers and not yet answered, at most (20 s)
# With getItemOffers refreshing too, or a deadline, getItemOffersBatch calls submitted and not
# answered, at most: ASINs not yet handed to a lane stay in the queue, where the idle lane can take
# them, and a call submitted before the deadline starts at most BATCH_AHEAD spacings after it.
BATCH_AHEAD = 3
# getItemOffers refresh calls in flight at once: two, so one call run's own overhead (~0.1 s of
# Prefect's bookkeeping) overlaps the other's paced wait and the lane stays full.
SINGLE_AHEAD = 2


# -- the protocol ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchCall:
    """One unit of work: ``operation`` for ``asins`` (at most its ``max_items``). ``label`` names it
    in logs (``batch 3/40``); ``fresh``: the answer must be new, never one from a cache (a re-check)."""

    operation: Operation
    asins: tuple[str, ...]
    label: str = ""
    fresh: bool = False


class Handle(Protocol):
    """A submitted call."""

    def done(self) -> bool:
        """The call has finished (answered, failed after its retries, or cancelled)."""
        ...

    def result(self) -> list[Any] | BaseException:
        """Its answers (Observations, CatalogInfo), or the exception it ended with; waits if needed."""
        ...

    def cached(self) -> bool:
        """A cache answered it (a rerun soon after a crash), not the API."""
        ...

    def cancel(self) -> None:
        """It will never start if it has not (a call already running finishes)."""
        ...


class Submitter(Protocol):
    """Where calls run (Prefect task runs in the flow, fakes in the tests)."""

    def submit(self, call: FetchCall) -> Handle: ...

    def wait_any(self, handles: Sequence[Handle]) -> Sequence[Handle]:
        """Block until at least one of ``handles`` is done; return those done."""
        ...


# -- lanes and the queue --------------------------------------------------------------------------


@dataclass(frozen=True)
class Lane:
    """An SP-API operation as a lane of work: ``operation`` (its path, rate, burst and items per
    call, as declared) and ``rate``, its live rate in calls per second (from its pacer)."""

    operation: Operation
    rate: Callable[[], float]

    @property
    def per_call(self) -> int:
        return self.operation.max_items

    def asins_per_call_of(self, other: Lane) -> int | None:
        """ASINs this lane answers in the time ``other`` makes one call; None when unpaced (an
        infinite rate, as the benchmarks' instant client reports)."""
        ratio = self.rate() / other.rate()
        return int(ratio) * self.per_call if math.isfinite(ratio) else None


@dataclass(frozen=True)
class Lanes:
    """The offers lanes (getItemOffersBatch for the queue, getItemOffers for re-checks) and the
    catalog lane (searchCatalogItems)."""

    batch: Lane
    single: Lane
    catalog: Lane

    @classmethod
    def paced_by(cls, rate: Callable[[str], float]) -> Lanes:
        """The lanes of the declared operations; ``rate(operation name)`` is the live rate."""
        return cls(
            batch=Lane(GET_ITEM_OFFERS_BATCH, lambda: rate(GET_ITEM_OFFERS_BATCH.name)),
            single=Lane(GET_ITEM_OFFERS, lambda: rate(GET_ITEM_OFFERS.name)),
            catalog=Lane(SEARCH_CATALOG_ITEMS, lambda: rate(SEARCH_CATALOG_ITEMS.name)),
        )


class WorkQueue:
    """What a run has to fetch, in order: offer ASINs most urgent first, catalog ASINs beside them.

    ``next_call`` gives offer batch *i* then catalog batch *i*, for *i* = 1, 2, ... (labels
    ``batch i/N``), until both are empty.
    """

    def __init__(self, offer_asins: Sequence[str], info_asins: Sequence[str], lanes: Lanes) -> None:
        self._offers, self._info = deque(offer_asins), deque(info_asins)
        self._offer_lane, self._catalog_lane = lanes.batch, lanes.catalog
        self._offer_batches = -(-len(self._offers) // self._offer_lane.per_call)
        self._sent = 0
        self._catalog_next = False
        # Taken off the queue since the last :meth:`mark` (rounds): offer and catalog ASINs.
        self.taken: set[str] = set()
        self.taken_info: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self._offers or self._info)

    def take_offers(self, n: int) -> list[str]:
        """The next ``n`` offer ASINs (most urgent first), off the queue."""
        taken = [self._offers.popleft() for _ in range(min(n, len(self._offers)))]
        self.taken.update(taken)
        return taken

    def mark(self, handed: set[str], handed_info: set[str]) -> None:
        """A round has been handed these answers: what stays taken is what is still in flight
        (or answered and waiting), which a fresher order from that round must skip."""
        self.taken -= handed
        self.taken_info -= handed_info

    def replace(self, offer_asins: Sequence[str], info_asins: Sequence[str], *, skip: set[str]) -> None:
        """A fresher order (a round's): what is left to fetch becomes ``offer_asins`` and
        ``info_asins``, less ``skip`` (in flight, or answered and not handed over yet)."""
        self._offers = deque(a for a in offer_asins if a not in skip and a not in self.taken)
        self._info = deque(a for a in info_asins if a not in self.taken_info)
        self._offer_batches = self._sent + -(-len(self._offers) // self._offer_lane.per_call)

    def put_back(self, asins: Sequence[str]) -> None:
        """``asins`` back at the queue's front (in their order): asked again first."""
        self._offers.extendleft(reversed(asins))
        self.taken.difference_update(asins)

    @property
    def offers_left(self) -> int:
        return len(self._offers)

    def next_call(self) -> FetchCall | None:
        if self._catalog_next or not self._offers:
            self._catalog_next = False
            if self._info:
                chunk = [
                    self._info.popleft() for _ in range(min(self._catalog_lane.per_call, len(self._info)))
                ]
                self.taken_info.update(chunk)
                return FetchCall(self._catalog_lane.operation, tuple(chunk))
            if not self._offers:
                return None
        self._sent += 1
        self._catalog_next = True
        chunk = self.take_offers(self._offer_lane.per_call)
        return FetchCall(
            self._offer_lane.operation, tuple(chunk), f"batch {self._sent}/{self._offer_batches}"
        )


# -- the policy -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    """What a fetch gave: the observations (new sell-outs already re-checked), the catalog facts,
    and its counts for the report."""

    observations: list[Observation]
    infos: list[CatalogInfo]
    batches: int = 0  # offer batches collected (re-checks through getItemOffersBatch included)
    cached_batches: int = 0  # of those, answered from the cache
    rechecks: int = 0  # new sell-outs re-checked
    catalog_failed: int = 0  # catalog ASINs whose batch failed after its retries
    unfetched: int = 0  # offer ASINs the run's time budget left for the next run
    single_refreshed: int = 0  # offer ASINs getItemOffers refreshed while no re-check needed it
    handed_over: int = (
        0  # observations handed to the run's rounds as the fetch went on (not in ``observations``)
    )


class _Counts:
    def __init__(self) -> None:
        self.batches = self.cached = self.catalog_failed = self.single_refreshed = self.handed_over = 0


class Rounds(Protocol):
    """A fetch that pushes as it goes (a long run: ``push_every_minutes``) hands what is answered
    and confirmed to its rounds, which write, price and push it elsewhere (the flow's side
    thread) while the fetch goes on, then give the queue a fresher order."""

    def due(self) -> bool:
        """Time to hand over (False while the last round is still being processed)."""
        ...

    def hand_over(self, observations: list[Observation], infos: list[CatalogInfo]) -> None:
        """Start a round with these answers (new sell-outs re-checked); returns at once."""
        ...

    def fresh_order(self) -> tuple[list[str], list[str]] | None:
        """The order the last round computed (offer ASINs, catalog ASINs), once; None: none new."""
        ...

    def wait(self) -> None:
        """Until the round in progress (if any) has ended."""
        ...

    def wait_until_due(self, deadline: datetime | None) -> bool:
        """Until the round in progress has ended and the next is due (True), or ``deadline``
        has passed first (False). The fetch waits so when its queue has run dry."""
        ...


class FetchPolicy:
    """Runs a fetch: the queue through the window, re-checks on their lanes; see the module doc."""

    def __init__(
        self,
        submitter: Submitter,
        lanes: Lanes,
        *,
        stored_states: Mapping[str, str],
        recheck_sell_outs: bool = True,
        window: int = WINDOW,
        now: Callable[[], datetime] = utc_now,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
        deadline: datetime | None = None,
        single_refreshes: bool = False,
        rounds: Rounds | None = None,
    ) -> None:
        self.submitter, self.lanes, self.window, self.now = submitter, lanes, window, now
        self.deadline, self.single_refreshes, self.rounds = deadline, single_refreshes, rounds
        self.stored_states, self.recheck_sell_outs = stored_states, recheck_sell_outs
        self.log = logger or logging.getLogger(__name__)
        self._counts = _Counts()
        self._kept: tuple[list[Observation], list[CatalogInfo]] = ([], [])

    def fetch(self, offer_asins: Sequence[str], info_asins: Sequence[str]) -> FetchResult:
        """Fetch offers for ``offer_asins`` and catalog facts for ``info_asins``, in their order.

        Raises :class:`CredentialsRefusedError` as soon as an answer says LWA or SP-API refused
        the seller's credentials (calls not started yet are cancelled)."""
        self._counts = counts = _Counts()
        rechecks = SellOutRechecks(self, enabled=self.recheck_sell_outs)
        observations: list[Observation] = []
        infos: list[CatalogInfo] = []
        queue = WorkQueue(offer_asins, info_asins, self.lanes)
        while True:
            work = self._windowed(queue, rechecks.idle)
            try:
                for call, handle in work:
                    if call.operation == self.lanes.catalog.operation:
                        infos.extend(self.catalog_answers(call, handle))
                    elif call.operation == self.lanes.single.operation:
                        found = self.refresh_answers(call, handle, queue)
                        observations.extend(found)
                        rechecks.add(found)
                    else:
                        found = self.offer_answers(call, handle)
                        observations.extend(found)
                        rechecks.add(found)
                    if self.rounds is not None:
                        observations, infos = self._next_round(queue, rechecks, observations, infos)
            finally:
                work.close()  # a refusal stops the fetch: calls not started yet are cancelled
            refilled = self._refilled(queue, rechecks, observations, infos)
            observations, infos = self._kept  # a round may have taken some, even when out of time
            if not refilled:
                break
        second = rechecks.finish()
        if second:
            observations = merge_rechecks(observations, second)
        if queue.offers_left:
            self.log.info("time budget spent: %d ASINs left for the next run", queue.offers_left)
        return FetchResult(
            observations,
            infos,
            batches=counts.batches,
            cached_batches=counts.cached,
            rechecks=rechecks.count,
            catalog_failed=counts.catalog_failed,
            unfetched=queue.offers_left,
            single_refreshed=counts.single_refreshed,
            handed_over=counts.handed_over,
        )

    def _next_round(
        self,
        queue: WorkQueue,
        rechecks: SellOutRechecks,
        observations: list[Observation],
        infos: list[CatalogInfo],
    ) -> tuple[list[Observation], list[CatalogInfo]]:
        """Take the last round's fresher order; when a round is due, hand it what is answered and
        confirmed (a new sell-out waits for its re-check). Returns what stays for later rounds."""
        assert self.rounds is not None
        order = self.rounds.fresh_order()
        if order is not None:
            queue.replace(*order, skip=rechecks.waiting())
        if not self.rounds.due():
            return observations, infos
        ready, kept = rechecks.settle(observations)
        if ready or infos:
            self.rounds.hand_over(ready, infos)
            self._counts.handed_over += len(ready)
            queue.mark({o.asin for o in ready}, {i.asin for i in infos})
            return kept, []
        return observations, infos

    def _refilled(
        self,
        queue: WorkQueue,
        rechecks: SellOutRechecks,
        observations: list[Observation],
        infos: list[CatalogInfo],
    ) -> bool:
        """The queue ran dry before the deadline in a run with rounds: wait for the next round,
        hand it what is answered, and go on with the order a round computes (every ASIN, the
        most valuable first). False: no rounds, out of time, or nothing left to fetch."""
        self._kept = observations, infos
        if self.rounds is None or self.out_of_time() or not self.rounds.wait_until_due(self.deadline):
            return False
        self._kept = self._next_round(queue, rechecks, observations, infos)
        if not queue:  # no order yet: the round just handed over computes one
            self.rounds.wait()
            if (order := self.rounds.fresh_order()) is not None:
                queue.replace(*order, skip=rechecks.waiting())
        return bool(queue) and not self.out_of_time()

    def out_of_time(self) -> bool:
        """The run's time budget is spent: no more calls start."""
        return self.deadline is not None and self.now() >= self.deadline

    def _windowed(
        self, queue: WorkQueue, single_idle: Callable[[], bool]
    ) -> Generator[tuple[FetchCall, Handle], None, None]:
        """Submit the queue's calls in order, at most ``window`` in flight, until the queue is
        empty or the deadline has passed; yield each as it finishes (the queue may be refilled
        meanwhile: a refresh's unanswered ASINs)."""
        queued: list[tuple[FetchCall, Handle]] = []
        try:
            while True:
                while len(queued) >= self.window:
                    yield from self._take_finished(queued)
                call = None if self.out_of_time() else self._next_call(queue, queued, single_idle)
                if call is None:
                    if not queued:
                        return
                    yield from self._take_finished(queued)
                    continue
                queued.append((call, self.submitter.submit(call)))
        finally:  # closed early (the caller stopped): what has not started never will
            for _, handle in queued:
                handle.cancel()

    def _next_call(
        self, queue: WorkQueue, queued: list[tuple[FetchCall, Handle]], single_idle: Callable[[], bool]
    ) -> FetchCall | None:
        """getItemOffers takes the queue's head when it is idle (no re-check, no refresh of its
        own in flight), else the queue's next call."""
        single = self.lanes.single.operation
        if (
            self.single_refreshes
            and queue.offers_left > self.lanes.batch.per_call  # more than the next batch call takes
            and single_idle()
            and sum(c.operation == single for c, _ in queued) < SINGLE_AHEAD
        ):
            self._refreshes = getattr(self, "_refreshes", 0) + 1
            return FetchCall(single, tuple(queue.take_offers(RECHECK_CHUNK)), f"refresh {self._refreshes}")
        batch = self.lanes.batch.operation
        if (self.single_refreshes or self.deadline is not None) and sum(
            c.operation == batch for c, _ in queued
        ) >= BATCH_AHEAD:
            return None  # wait: the next ASINs go to whichever lane is free first
        return queue.next_call()

    def refresh_answers(self, call: FetchCall, handle: Handle, queue: WorkQueue) -> list[Observation]:
        """A getItemOffers refresh's observations; the ASINs it did not answer go back to the
        queue's front (asked on getItemOffersBatch, with its retries, if time is left)."""
        result = handle.result()
        stop_if_refused(result)
        answered = [] if isinstance(result, BaseException) else result
        seen = {o.asin for o in answered}
        queue.put_back([a for a in call.asins if a not in seen])
        self._counts.single_refreshed += len(seen)
        return answered

    def _take_finished(self, queued: list[tuple[FetchCall, Handle]]) -> list[tuple[FetchCall, Handle]]:
        """Remove and return the entries of ``queued`` that are done (at least one: waits for the
        first), in submission order."""
        done = {id(h) for h in self.submitter.wait_any([h for _, h in queued])}
        finished = [entry for entry in queued if id(entry[1]) in done]
        queued[:] = [entry for entry in queued if id(entry[1]) not in done]
        return finished

    def offer_answers(self, call: FetchCall, handle: Handle) -> list[Observation]:
        """One batch's observations; a call that failed after its retries gives error observations."""
        result = handle.result()
        stop_if_refused(result)
        self._counts.batches += 1
        if isinstance(result, BaseException):
            return error_observations(
                call.asins, f"batch failed after retries: {describe(result)}", self.now()
            )
        if handle.cached():
            self._counts.cached += 1
        return result

    def catalog_answers(self, call: FetchCall, handle: Handle) -> list[CatalogInfo]:
        result = handle.result()
        stop_if_refused(result)
        if isinstance(result, BaseException):
            self._counts.catalog_failed += len(call.asins)
            self.log.warning("catalog batch failed after retries: %s", describe(result))
            return []
        return result


class SellOutRechecks:
    """New sell-outs, re-checked on getItemOffers while the batch fetch runs (see the module doc).

    ``add`` queues the new sell-outs of each batch answer and submits a re-check per
    :data:`RECHECK_CHUNK` of them, as long as fewer than :data:`RECHECK_QUEUE` wait for
    getItemOffers' quota. ``finish`` sends what is left (getItemOffers if it is done within one
    more getItemOffersBatch call, else getItemOffersBatch), waits for every answer and returns them.
    """

    def __init__(self, policy: FetchPolicy, *, enabled: bool) -> None:
        self.policy, self.enabled = policy, enabled
        self.submitter, self.lanes = policy.submitter, policy.lanes
        self.pending: list[str] = []
        self.sent: list[tuple[FetchCall, Handle]] = []
        self.answers: list[Observation] = []
        self.unanswered: list[str] = []
        self.count = 0

    def add(self, observations: list[Observation]) -> None:
        if not self.enabled:
            return
        self.pending += sell_outs_to_recheck(observations, self.policy.stored_states)
        self._collect_answered()
        while len(self.pending) >= RECHECK_CHUNK and self._waiting() + RECHECK_CHUNK <= RECHECK_QUEUE:
            self._send_single(self.pending[:RECHECK_CHUNK])
            self.pending = self.pending[RECHECK_CHUNK:]
        if self.pending and self._waiting() == 0:  # fewer than a chunk, and the lane has none waiting
            self._send_single(self.pending)
            self.pending = []

    def waiting(self) -> set[str]:
        """ASINs whose re-check has not answered yet (pending, sent, or to be asked again)."""
        sent = {a for call, h in self.sent for a in call.asins}
        return set(self.pending) | set(self.unanswered) | sent

    def settle(self, observations: list[Observation]) -> tuple[list[Observation], list[Observation]]:
        """For a round: ``observations`` split into those ready (their re-check answers merged in,
        taken off) and those still waiting for a re-check. A re-check getItemOffers did not answer
        is asked again on it (``finish`` sends what is left through getItemOffersBatch)."""
        self._collect_answered()
        waiting = self.waiting()
        ready = merge_rechecks([o for o in observations if o.asin not in waiting], self.answers)
        self.answers = []
        if self.unanswered:
            self.pending = self.unanswered + self.pending
            self.unanswered = []
        return ready, [o for o in observations if o.asin in waiting]

    def idle(self) -> bool:
        """No re-check waits for getItemOffers (none pending, none sent and not answered)."""
        return not self.pending and self._waiting() == 0

    def finish(self) -> list[Observation]:
        """Send the rest, wait for every answer; returns the second observations."""
        if self.pending:
            if len(self.pending) <= self._single_capacity() - self._waiting():
                self._send_single(self.pending)
            else:
                self._send_batches(self.pending)
            self.pending = []
        self._collect_answered(wait=True)
        if self.unanswered:  # re-checks getItemOffers did not answer: the batch, with retries
            self._send_batches(self.unanswered, count=False)
            self.unanswered = []
        for call, handle in self.sent:
            self.answers += self.policy.offer_answers(call, handle)
        self.sent = []
        if self.count:
            self.policy.log.info("re-checked %d new sell-outs before hiding anything", self.count)
        return self.answers

    def _send_single(self, asins: list[str]) -> None:
        label = f"{self.count + 1}-{self.count + len(asins)}"
        call = FetchCall(self.lanes.single.operation, tuple(asins), label, fresh=True)
        self.sent.append((call, self.submitter.submit(call)))
        self.count += len(asins)

    def _send_batches(self, asins: list[str], *, count: bool = True) -> None:
        rounds = batches(asins, self.lanes.batch.per_call)
        for i, chunk in enumerate(rounds):
            call = FetchCall(
                self.lanes.batch.operation, tuple(chunk), f"recheck {i + 1}/{len(rounds)}", fresh=True
            )
            self.sent.append((call, self.submitter.submit(call)))
        if count:
            self.count += len(asins)

    def _is_single(self, call: FetchCall) -> bool:
        return call.operation == self.lanes.single.operation

    def _waiting(self) -> int:
        return sum(len(call.asins) for call, h in self.sent if self._is_single(call) and not h.done())

    def _collect_answered(self, *, wait: bool = False) -> None:
        """Take the re-check answers already in (all of them with ``wait``), dropping their handles.

        ASINs a re-check did not answer are kept in ``unanswered``.
        """
        still = []
        for call, handle in self.sent:
            if not self._is_single(call) or not (wait or handle.done()):
                still.append((call, handle))
                continue
            result = handle.result()
            stop_if_refused(result)
            answered = [] if isinstance(result, BaseException) else result
            self.answers += answered
            seen = {o.asin for o in answered}
            self.unanswered += [a for a in call.asins if a not in seen]
        self.sent = still

    def _single_capacity(self) -> int:
        """ASINs getItemOffers re-checks in the time of one getItemOffersBatch call."""
        capacity = self.lanes.single.asins_per_call_of(self.lanes.batch)
        return RECHECK_CHUNK if capacity is None else capacity


def stop_if_refused(result: object) -> None:
    """LWA or SP-API refused the seller's credentials: every other call would fail the same way,
    so the fetch stops here (the flow reports it once, naming the setting)."""
    if isinstance(result, CredentialsRefusedError):
        raise result
