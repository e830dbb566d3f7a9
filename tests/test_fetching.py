"""The fetch policy (ecauto_lib.fetching) on fake lanes and a virtual clock: no Prefect, no sleeps.

:class:`FakeLanes` answers each call after its operation's pace: a lane makes one call per
``1/rate`` virtual seconds (getItemOffers one call per ASIN), so which calls are done when the
policy looks is decided by the clock, as the pacers decide it in a real run.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from ecauto_lib.amazon.client import GET_ITEM_OFFERS, GET_ITEM_OFFERS_BATCH, SEARCH_CATALOG_ITEMS
from ecauto_lib.domain import CatalogInfo, Observation, Outcome
from ecauto_lib.errors import CredentialsRefusedError, TransientError
from ecauto_lib.fetching import (
    RECHECK_CHUNK,
    RECHECK_QUEUE,
    WINDOW,
    FetchCall,
    FetchPolicy,
    Lane,
    Lanes,
    WorkQueue,
)

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
RATES = {GET_ITEM_OFFERS_BATCH.name: 0.1, GET_ITEM_OFFERS.name: 0.5, SEARCH_CATALOG_ITEMS.name: 2.0}
BATCH, SINGLE, CATALOG = GET_ITEM_OFFERS_BATCH.name, GET_ITEM_OFFERS.name, SEARCH_CATALOG_ITEMS.name


def asins(n: int, start: int = 0) -> list[str]:
    return [f"B0{i:08d}" for i in range(start, start + n)]


class FakeHandle:
    def __init__(self, lanes: FakeLanes, finish: float, value: list | BaseException, cached: bool) -> None:
        self.lanes, self.finish, self.value, self._cached, self.cancelled = (
            lanes,
            finish,
            value,
            cached,
            False,
        )

    def done(self) -> bool:
        return self.cancelled or self.finish <= self.lanes.now

    def result(self):
        self.lanes.now = max(self.lanes.now, self.finish)  # waiting for it moves the clock on
        return self.value

    def cached(self) -> bool:
        return self._cached

    def cancel(self) -> None:
        if self.lanes.now < self.finish - self.lanes.duration(self):  # not started yet
            self.cancelled = True


class FakeLanes:
    """A Submitter whose calls finish at their lane's pace on a virtual clock (``now``, seconds).

    ``answer(call)`` gives a call's result (answers or an exception); ``slow`` adds seconds to the
    calls whose label it names (a batch in its retry back-off). Keeps weak references only.
    """

    def __init__(
        self,
        answer: Callable[[FetchCall], list | BaseException],
        *,
        rates: dict[str, float] = RATES,
        slow: dict[str, float] | None = None,
        cached: Callable[[FetchCall], bool] = lambda call: False,
    ) -> None:
        self.answer, self.rates, self.slow, self.is_cached = answer, rates, slow or {}, cached
        self.now = 0.0
        self.free_at = dict.fromkeys(rates, 0.0)
        self.log: list[tuple[float, FetchCall]] = []
        self.handles: list[weakref.ref] = []
        self.most_alive = 0

    def duration(self, handle: FakeHandle) -> float:
        return 0.0

    def submit(self, call: FetchCall) -> FakeHandle:
        op = call.operation.name
        calls = len(call.asins) if op == SINGLE else 1
        start = max(self.now, self.free_at[op])
        self.free_at[op] = start + calls / self.rates[op]
        finish = self.free_at[op] + self.slow.get(call.label, 0.0)
        handle = FakeHandle(self, finish, self.answer(call), self.is_cached(call))
        self.log.append((self.now, call))
        self.handles.append(weakref.ref(handle))
        gc.collect()
        self.most_alive = max(self.most_alive, sum(1 for h in self.handles if h() is not None))
        return handle

    def wait_any(self, handles: Sequence[FakeHandle]) -> list[FakeHandle]:
        if not any(h.done() for h in handles):
            self.now = min(h.finish for h in handles)
        return [h for h in handles if h.done()]

    def calls(self, op: str | None = None) -> list[FetchCall]:
        return [c for _, c in self.log if op is None or c.operation.name == op]


def answering(gone: set[str] = frozenset(), *, again: set[str] | None = None, refuse=()):
    """Answers: in stock, except ``gone`` (out of stock); re-checks of ``again`` answer in stock
    (the first answer was false); a single re-check leaves out the ASINs in ``refuse`` (a 429)."""

    def answer(call: FetchCall):
        if call.operation == SEARCH_CATALOG_ITEMS:
            return [CatalogInfo(a, T0, title=a) for a in call.asins]
        rechecking = call.fresh
        out = []
        for a in call.asins:
            if call.operation == GET_ITEM_OFFERS and a in refuse:
                continue
            sold = a in gone and not (rechecking and again is not None and a in again)
            outcome = Outcome.OUT_OF_STOCK if sold else Outcome.IN_STOCK
            out.append(Observation(a, outcome, T0, price_yen=None if sold else 1000))
        return out

    return answer


def policy(lanes: FakeLanes, *, stored: dict[str, str] | None = None, recheck: bool = True) -> FetchPolicy:
    return FetchPolicy(
        lanes,
        Lanes.paced_by(lambda name: lanes.rates[name]),
        stored_states=stored or {},
        recheck_sell_outs=recheck,
        now=lambda: T0,
    )


# -- the queue and the window -----------------------------------------------------------------


def test_offer_batches_go_most_urgent_first_with_a_catalog_batch_after_each():
    lanes = FakeLanes(answering())
    result = policy(lanes).fetch(asins(45), asins(25, start=100))
    assert [(c.operation.name, c.asins[0], len(c.asins), c.label) for c in lanes.calls()] == [
        (BATCH, "B000000000", 20, "batch 1/3"),
        (CATALOG, "B000000100", 20, ""),
        (BATCH, "B000000020", 20, "batch 2/3"),
        (CATALOG, "B000000120", 5, ""),
        (BATCH, "B000000040", 5, "batch 3/3"),
    ]
    assert [o.asin for o in result.observations] == asins(45)
    assert len(result.infos) == 25 and (result.batches, result.rechecks) == (3, 0)


def test_the_queue_interleaves_until_both_kinds_are_done():
    lanes = Lanes.paced_by(RATES.__getitem__)
    queue = WorkQueue(asins(20), asins(50, start=100), lanes)
    labels = []
    while (call := queue.next_call()) is not None:
        labels.append((call.operation.name, len(call.asins)))
    assert labels == [(BATCH, 20), (CATALOG, 20), (CATALOG, 20), (CATALOG, 10)]
    assert not queue


def test_at_most_a_window_of_calls_is_in_flight_and_collected_handles_are_dropped():
    lanes = FakeLanes(answering())
    policy(lanes).fetch(asins(20 * 30), [])
    assert len(lanes.calls(BATCH)) == 30
    # the window filled, and never more than it was alive (plus the one being collected): the
    # handles of collected calls are dropped, memory does not grow with the number of batches
    assert WINDOW <= lanes.most_alive <= WINDOW + 1


def test_a_slow_call_at_the_head_does_not_hold_up_the_finished_ones_behind_it():
    lanes = FakeLanes(answering(), slow={"batch 1/12": 500.0})  # its retries back off for 500 s
    seen = []
    fetch = policy(lanes)
    original = fetch.offer_answers

    def collect(call, handle):
        seen.append((call.label, lanes.now))
        return original(call, handle)

    fetch.offer_answers = collect  # type: ignore[method-assign]
    fetch.fetch(asins(240), [])
    order = [label for label, _ in seen]
    assert order[0] == "batch 2/12" and "batch 1/12" in order  # collected later, not lost
    # the window kept moving: batch 9 was submitted before batch 1 came back
    submitted = {c.label: t for t, c in lanes.log}
    assert submitted["batch 9/12"] < dict(seen)["batch 1/12"]


def test_a_refusal_stops_the_fetch_and_cancels_what_has_not_started():
    refused = CredentialsRefusedError("LWA refused", setting="LWA_CLIENT_SECRET", service="lwa")

    def answer(call):
        return refused if call.label == "batch 2/20" else answering()(call)

    lanes = FakeLanes(answer)
    live = []
    original = lanes.submit

    def submit(call):
        handle = original(call)
        live.append(handle)
        return handle

    lanes.submit = submit  # type: ignore[method-assign]
    with pytest.raises(CredentialsRefusedError):
        policy(lanes).fetch(asins(400), [])
    assert len(lanes.calls()) == WINDOW + 1  # batch 1 collected, one more submitted, then the stop
    assert [h.cancelled for h in live].count(True) == len(live) - 2  # all but the two finished


# -- answers, failures, the cache -------------------------------------------------------------


def test_a_failed_batch_gives_error_observations_and_a_failed_catalog_batch_is_counted():
    def answer(call):
        if call.label == "batch 2/2" or (
            call.operation == SEARCH_CATALOG_ITEMS and "B000000100" in call.asins
        ):
            return TransientError("boom", service="sp-api", status=503, code="ServiceUnavailable")
        return answering()(call)

    result = policy(FakeLanes(answer, cached=lambda c: c.label == "batch 1/2")).fetch(
        asins(30), asins(20, 100)
    )
    errors = [o for o in result.observations if o.outcome is Outcome.ERROR]
    assert [o.asin for o in errors] == asins(10, start=20)
    assert errors[0].reason == "batch failed after retries: HTTP 503 ServiceUnavailable: boom"
    assert errors[0].observed_at == T0  # the policy's clock
    assert (result.batches, result.cached_batches, result.catalog_failed, result.infos) == (2, 1, 20, [])


# -- re-checks of new sell-outs ---------------------------------------------------------------


def test_two_new_sell_outs_are_rechecked_on_getitemoffers_at_the_end():
    # the demo's shape: 11 ASINs in one batch, two newly gone, re-checked one call each
    gone = {"B000000003", "B000000007"}
    lanes = FakeLanes(answering(gone))
    result = policy(lanes, stored={a: "in_stock" for a in asins(11)}).fetch(asins(11), asins(11))
    assert [(c.operation.name, c.asins, c.label, c.fresh) for c in lanes.calls()][2:] == [
        (SINGLE, ("B000000003", "B000000007"), "1-2", True)
    ]
    assert result.rechecks == 2 and result.batches == 1
    assert {o.asin: o.outcome for o in result.observations if o.asin in gone} == dict.fromkeys(
        gone, Outcome.OUT_OF_STOCK
    )


def test_a_sell_out_the_recheck_does_not_confirm_is_not_hidden():
    gone = {"B000000003"}
    lanes = FakeLanes(answering(gone, again=gone))
    result = policy(lanes).fetch(asins(5), [])
    assert {o.asin: o.outcome for o in result.observations}["B000000003"] is Outcome.IN_STOCK


def test_sell_outs_already_known_are_not_rechecked_and_rechecks_can_be_off():
    gone = {"B000000003", "B000000004"}
    lanes = FakeLanes(answering(gone))
    policy(lanes, stored={"B000000003": "out_of_stock", "B000000004": "filtered_out"}).fetch(asins(5), [])
    assert lanes.calls(SINGLE) == []
    lanes = FakeLanes(answering(gone))
    assert policy(lanes, recheck=False).fetch(asins(5), []).rechecks == 0
    assert len(lanes.calls()) == 1


def _many_sell_outs() -> set[str]:
    return {a for i, a in enumerate(asins(300)) if i % 8 == 3}  # 38 sell-outs, 1 or 2 per batch


def test_rechecks_run_beside_the_batch_fetch_in_chunks_never_more_than_the_queue_waiting():
    gone = _many_sell_outs()
    lanes = FakeLanes(answering(gone))
    result = policy(lanes).fetch(asins(300), [])
    singles = [(t, c) for t, c in lanes.log if c.operation == GET_ITEM_OFFERS]
    last_batch = max(t for t, c in lanes.log if c.label.startswith("batch"))
    during = [(t, c) for t, c in singles if t < last_batch]
    assert during and all(1 <= len(c.asins) <= RECHECK_CHUNK for _, c in during)
    # a chunk smaller than RECHECK_CHUNK goes only when getItemOffers has nothing waiting: a
    # sell-out is never kept back for company while the lane is idle
    for at, call in during:
        if len(call.asins) < RECHECK_CHUNK:
            assert not [c for t, c in singles if t < at and _finish(lanes, c) > at]
    # each sell-out re-checked once, on one lane or the other, in the order they were found
    batch_rechecks = [c for c in lanes.calls(BATCH) if c.fresh]
    rechecked = [a for _, c in singles for a in c.asins] + [a for c in batch_rechecks for a in c.asins]
    assert sorted(rechecked) == sorted(gone) and len(rechecked) == len(set(rechecked))
    assert result.rechecks == len(gone)
    # the virtual clock shows getItemOffers never had more than RECHECK_QUEUE ASINs waiting
    for at, call in singles:
        waiting = sum(
            len(c.asins) for t, c in singles if t <= at and c is not call and _finish(lanes, c) > at
        )
        assert waiting + len(call.asins) <= RECHECK_QUEUE


def test_sell_outs_found_faster_than_getitemoffers_rechecks_them_wait_and_go_to_the_batch():
    gone = {a for i, a in enumerate(asins(200)) if i % 4}  # 15 a batch: 3 times getItemOffers' pace
    lanes = FakeLanes(answering(gone))
    result = policy(lanes).fetch(asins(200), [])
    singles = [(t, c) for t, c in lanes.log if c.operation == GET_ITEM_OFFERS]
    for at, call in singles:
        waiting = sum(
            len(c.asins) for t, c in singles if t <= at and c is not call and _finish(lanes, c) > at
        )
        assert waiting + len(call.asins) <= RECHECK_QUEUE
    batch_rechecks = [c for c in lanes.calls(BATCH) if c.fresh]
    assert batch_rechecks and all(c.label.startswith("recheck ") for c in batch_rechecks)
    assert sum(len(c.asins) for _, c in singles) + sum(len(c.asins) for c in batch_rechecks) == len(gone)
    assert result.rechecks == len(gone) == 150


def _finish(lanes: FakeLanes, call: FetchCall) -> float:
    """When a getItemOffers call finished on the fake lane (replayed from the log)."""
    free = 0.0
    for at, c in lanes.log:
        if c.operation == GET_ITEM_OFFERS:
            free = max(at, free) + len(c.asins) / lanes.rates[SINGLE]
            if c is call:
                return free
    raise AssertionError(call)


def test_left_over_rechecks_go_to_the_lane_that_clears_them_first():
    lane_rates = Lanes.paced_by(RATES.__getitem__)
    assert lane_rates.single.asins_per_call_of(lane_rates.batch) == 5  # 0.5 / 0.1 req/s, 1 ASIN each
    few = {"B000000001", "B000000002", "B000000003"}  # within what getItemOffers clears in 10 s
    lanes = FakeLanes(answering(few))
    policy(lanes).fetch(asins(20), [])
    assert [c.label for c in lanes.calls() if c.fresh] == ["1-3"]
    many = set(asins(7))  # 7 > 5: back through getItemOffersBatch, free by then
    lanes = FakeLanes(answering(many))
    policy(lanes).fetch(asins(20), [])
    assert [(c.operation.name, c.label, len(c.asins)) for c in lanes.calls() if c.fresh] == [
        (SINGLE, "1-5", 5),
        (BATCH, "recheck 1/1", 2),
    ]


def test_rechecks_getitemoffers_did_not_answer_go_through_the_batch_and_are_counted_once():
    gone = set(asins(5))
    lanes = FakeLanes(answering(gone, refuse={"B000000001", "B000000004"}))
    result = policy(lanes).fetch(asins(20), [])
    fresh = [(c.operation.name, c.asins, c.label) for c in lanes.calls() if c.fresh]
    assert fresh == [(SINGLE, tuple(asins(5)), "1-5"), (BATCH, ("B000000001", "B000000004"), "recheck 1/1")]
    assert result.rechecks == 5 and result.batches == 2


def test_an_unpaced_client_rechecks_a_chunk_on_getitemoffers_at_the_end():
    rates = dict.fromkeys(RATES, float("inf"))
    lanes = Lanes.paced_by(rates.__getitem__)
    assert lanes.single.asins_per_call_of(lanes.batch) is None
    fake = FakeLanes(answering(set(asins(4))), rates={k: 1e9 for k in RATES})
    FetchPolicy(fake, lanes, stored_states={}, now=lambda: T0).fetch(asins(20), [])
    assert [c.label for c in fake.calls() if c.fresh] == ["1-4"]


def test_a_lane_takes_its_size_from_the_operation_declaration():
    lane = Lane(GET_ITEM_OFFERS_BATCH, lambda: 0.1)
    assert (lane.per_call, lane.rate()) == (20, 0.1)
    assert Lane(GET_ITEM_OFFERS, lambda: 0.5).asins_per_call_of(lane) == 5


# -- a run's time budget and the idle getItemOffers lane (issue #17 §2) ------------------------


def clocked(lanes: FakeLanes, **kw) -> FetchPolicy:
    """A policy whose clock is the lanes' virtual clock."""
    return FetchPolicy(
        lanes,
        Lanes.paced_by(lambda name: lanes.rates[name]),
        stored_states={},
        now=lambda: T0 + timedelta(seconds=lanes.now),
        **kw,
    )


def test_a_run_starts_no_call_after_its_deadline_and_counts_what_it_left():
    lanes = FakeLanes(answering())
    result = clocked(lanes, deadline=T0 + timedelta(seconds=55)).fetch(asins(20 * 30), asins(40, start=900))
    started = [t for t, _ in lanes.log]
    assert max(started) <= 55 < lanes.free_at[BATCH] + 10  # none after the deadline
    fetched = [o.asin for o in result.observations]
    assert fetched == asins(len(fetched)) and 0 < len(fetched) < 600  # most urgent first, then stopped
    assert result.unfetched == 600 - len(fetched)


def test_getitemoffers_refreshes_the_queues_head_while_no_recheck_needs_it():
    def fetched_in_a_minute(**kw) -> tuple[FakeLanes, list[str]]:
        lanes = FakeLanes(answering())
        result = clocked(lanes, deadline=T0 + timedelta(seconds=60), **kw).fetch(asins(1000), [])
        return lanes, [o.asin for o in result.observations]

    _, batch_only = fetched_in_a_minute()
    lanes, both = fetched_in_a_minute(single_refreshes=True)
    # 0.5 ASIN a second more: 2.5 instead of 2.0 (and calls submitted in the minute end a little after it)
    assert len(both) - len(batch_only) >= 0.5 * 60 - RECHECK_CHUNK
    assert sorted(both) == asins(len(both))  # the queue's head, each ASIN once
    refreshes = [c for c in lanes.calls(SINGLE) if not c.fresh]
    assert refreshes and all(len(c.asins) == RECHECK_CHUNK for c in refreshes)
    assert refreshes[0].asins[0] in asins(20)


def test_a_whole_queue_is_fetched_sooner_with_both_lanes():
    lanes = FakeLanes(answering())
    result = clocked(lanes, single_refreshes=True).fetch(asins(200), [])
    assert sorted(o.asin for o in result.observations) == asins(200)
    assert max(lanes.free_at.values()) <= 90  # 100 s on getItemOffersBatch alone


def test_rechecks_keep_getitemoffers_first_while_it_also_refreshes():
    gone = _many_sell_outs()
    lanes = FakeLanes(answering(gone))
    result = clocked(lanes, single_refreshes=True).fetch(asins(300), [])
    assert result.rechecks == len(gone)
    singles = lanes.calls(SINGLE)
    assert any(c.fresh for c in singles) and any(not c.fresh for c in singles)
    observed = [o.asin for o in result.observations]
    assert sorted(observed) == asins(300)
    assert {o.asin for o in result.observations if o.outcome == Outcome.OUT_OF_STOCK} == gone


def test_asins_a_refresh_on_getitemoffers_did_not_answer_go_back_to_the_queue():
    refused = set(asins(3, start=20))
    lanes = FakeLanes(answering(refuse=refused))
    result = clocked(lanes, single_refreshes=True).fetch(asins(100), [])
    assert sorted(o.asin for o in result.observations) == asins(100)
    assert any(a in refused for c in lanes.calls(BATCH) for a in c.asins)


# -- a long run that pushes as it goes: rounds (issue #17 §2) ---------------------------------


class FakeRounds:
    """Rounds every ``every`` virtual seconds; each computes a fresher order, as the flow's does
    from the master DB with every ASIN in it: ``order``, the ASINs answered in a round moved to
    the back (just fetched: the least to gain), handed back at the next look."""

    def __init__(self, lanes: FakeLanes, every: float, order: list[str]) -> None:
        self.lanes, self.every, self.order = lanes, every, order
        self.next_at = every
        self.handed: list[tuple[float, list[Observation], list[CatalogInfo]]] = []
        self.ready: tuple[list[str], list[str]] | None = None

    def due(self) -> bool:
        return self.lanes.now >= self.next_at

    def hand_over(self, observations: list[Observation], infos: list[CatalogInfo]) -> None:
        self.handed.append((self.lanes.now, list(observations), list(infos)))
        self.next_at = self.lanes.now + self.every
        answered = {o.asin for _, obs, _ in self.handed for o in obs}
        self.ready = ([a for a in self.order if a not in answered] + sorted(answered), [])

    def fresh_order(self) -> tuple[list[str], list[str]] | None:
        ready, self.ready = self.ready, None
        return ready

    slow = 0.0  # virtual seconds a round takes, as the fetch sees it when it waits for one

    def wait(self) -> None:
        self.lanes.now += self.slow

    def wait_until_due(self, deadline: datetime | None) -> bool:
        due_at = max(self.lanes.now, self.next_at)
        if deadline is not None and T0 + timedelta(seconds=due_at) >= deadline:
            return False
        self.lanes.now = due_at
        return True


def test_a_long_fetch_hands_each_answer_to_one_round_a_sell_out_only_after_its_recheck():
    gone = _many_sell_outs()
    lanes = FakeLanes(answering(gone, again={"B000000011"}))  # one false sell-out
    rounds = FakeRounds(lanes, every=30.0, order=asins(300))
    deadline = T0 + timedelta(
        seconds=110
    )  # about 270 ASINs' time on both lanes: a round keeps the queue full
    result = clocked(lanes, single_refreshes=True, rounds=rounds, deadline=deadline).fetch(asins(300), [])
    handed = [o for _, obs, _ in rounds.handed for o in obs]
    assert len(rounds.handed) >= 4 and result.handed_over == len(handed)
    everything = handed + result.observations
    fetched = [o.asin for o in everything]
    assert len(fetched) == len(set(fetched)) and fetched  # each answer once: in a round or at the end
    assert set(fetched) == set(asins(len(fetched)))  # the queue's head, in its order
    finished = {a: _finish(lanes, c) for _, c in lanes.log if c.fresh for a in c.asins}
    for at, obs, _ in rounds.handed:
        for o in obs:
            if o.asin in gone:  # a new sell-out reaches a round only with its re-check's answer
                assert finished[o.asin] <= at
    by_asin = {o.asin: o.outcome for o in everything}
    assert by_asin["B000000011"] is Outcome.IN_STOCK  # the re-check's answer, not the first
    sold = {a for a, out in by_asin.items() if out is Outcome.OUT_OF_STOCK}
    assert sold == (gone & set(fetched)) - {"B000000011"}


def test_a_rounds_fresher_order_replaces_the_queue_less_what_is_already_taken():
    lanes = FakeLanes(answering())
    newest_first = list(reversed(asins(400)))
    rounds = FakeRounds(lanes, every=25.0, order=newest_first)
    result = clocked(lanes, rounds=rounds, deadline=T0 + timedelta(seconds=100)).fetch(asins(400), [])
    first_round_at = rounds.handed[0][0]
    after = [c.asins for t, c in lanes.log if t > first_round_at]
    assert after and after[0][0] == "B000000399"  # the fresher order's head, right after the round
    fetched = [o.asin for _, obs, _ in rounds.handed for o in obs] + [o.asin for o in result.observations]
    assert len(fetched) == len(set(fetched))  # nothing taken twice: in flight is skipped


def test_a_queue_that_runs_dry_waits_for_the_next_round_and_goes_on_until_the_deadline():
    lanes = FakeLanes(answering())
    rounds = FakeRounds(lanes, every=30.0, order=asins(30))
    deadline = T0 + timedelta(seconds=200)
    result = clocked(lanes, single_refreshes=True, rounds=rounds, deadline=deadline).fetch(asins(30), [])
    assert max(t for t, _ in lanes.log) <= 200  # none after the deadline
    handed = [o.asin for _, obs, _ in rounds.handed for o in obs] + [o.asin for o in result.observations]
    assert len(handed) >= 5 * 30  # the 30 ASINs again every round (30 s), not once
    starts = [at for at, _, _ in rounds.handed]
    assert all(b - a >= 30 for a, b in zip(starts, starts[1:], strict=False))  # rounds keep their pace


def test_a_lone_sell_out_is_rechecked_at_once_not_kept_back_for_a_full_chunk():
    gone = {"B000000003", "B000000004"}  # 2 sell-outs in the first batch, fewer than a chunk
    lanes = FakeLanes(answering(gone))
    result = policy(lanes).fetch(asins(300), [])
    (recheck,) = [(t, c) for t, c in lanes.log if c.operation == GET_ITEM_OFFERS]
    last_batch = max(t for t, c in lanes.log if c.label.startswith("batch"))
    assert set(recheck[1].asins) == gone and recheck[0] < last_batch  # while the batch fetch goes on
    assert result.rechecks == 2


def test_a_round_that_outlasts_the_deadline_keeps_what_it_took_out_of_the_fetchs_answers():
    lanes = FakeLanes(answering())
    rounds = FakeRounds(lanes, every=30.0, order=[])  # its order: nothing (the queue stays dry)
    rounds.slow = 60.0  # the round the dry queue waits for ends after the deadline
    result = clocked(lanes, rounds=rounds, deadline=T0 + timedelta(seconds=40)).fetch(asins(30), [])
    handed = [o.asin for _, obs, _ in rounds.handed for o in obs]
    assert sorted(handed) == asins(30) and result.observations == []  # each answer once
    assert result.handed_over == 30
