"""Step 3's orchestration: batch tasks in a sliding window, new sell-outs re-checked as they appear.

Offer batches (getItemOffersBatch) are submitted most urgent first, catalog batches
(searchCatalogItems) interleaved so their own quota is used in parallel. Only a few task runs
are queued at a time (:data:`WINDOW`): each batch's future is dropped once its result is
collected, so memory does not grow with the number of batches, and a re-check submitted mid-run
waits behind a handful of batches, not behind the whole run.

A new sell-out is re-checked before anything is hidden (:mod:`ecauto_lib.guards`). The re-check
uses getItemOffers, one ASIN a call on that operation's own quota (0.5 req/s beside the batch's
0.1; sp-api.md §3.1, §4), so it runs while the batch fetch goes on and takes none of the batch
quota. Sell-outs found faster than that quota can re-check, and the ones left when the batch
fetch ends, go back through getItemOffersBatch, which is free by then.
"""

from __future__ import annotations

import concurrent.futures
import math
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.futures import PrefectFuture
from prefect.tasks import exponential_backoff

from ecauto_lib.amazon.client import GET_ITEM_OFFERS, GET_ITEM_OFFERS_BATCH, SpApiClient
from ecauto_lib.amazon.offers import error_observations
from ecauto_lib.clock import utc_now
from ecauto_lib.config import Settings
from ecauto_lib.connect import seller_scope
from ecauto_lib.domain import CatalogInfo, Observation
from ecauto_lib.errors import CredentialsRefusedError
from ecauto_lib.freshness import batches
from ecauto_lib.guards import merge_rechecks, sell_outs_to_recheck
from ecauto_lib.report import FetchSummary
from tasks._common import answers, describe
from tasks.amazon import (
    CATALOG_CACHE,
    OFFERS_CACHE,
    cache_ttls,
    fetch_catalog_batch,
    fetch_offers_batch,
    recheck_offers,
)

BATCH_SIZE = 20  # getItemOffersBatch and searchCatalogItems both take at most 20
WINDOW = 8  # batch task runs queued at once (twice the flow's 4 worker threads)
RECHECK_CHUNK = 5  # ASINs per re-check task run (10 s of getItemOffers quota)
RECHECK_QUEUE = 10  # re-checks submitted and not yet answered, at most (20 s of quota)


def fetch_offers_and_catalog(
    settings: Settings,
    client: SpApiClient,
    stale: pd.DataFrame,
    stored_states: Mapping[str, str],
    summary: FetchSummary,
) -> tuple[list[Observation], list[CatalogInfo]]:
    """Fetch what ``stale`` marks (``needs_offers``, ``needs_info``), in its order; returns
    ``(observations, catalog infos)`` with new sell-outs already re-checked."""
    offer_asins = stale.loc[stale["needs_offers"], "asin"].tolist()
    info_asins = stale.loc[stale["needs_info"], "asin"].tolist()
    submit = BatchSubmitter(settings, client, stored_versions(stale))
    rechecks = SellOutRechecks(submit, stored_states, enabled=settings.recheck_sell_outs)
    observations: list[Observation] = []
    infos: list[CatalogInfo] = []
    work = submit.windowed(_interleaved(offer_asins, info_asins))
    try:
        for kind, asins, future in work:
            if kind == "offers":
                found = collect_offers(asins, future, summary)
                observations.extend(found)
                rechecks.add(found)
            else:
                infos.extend(collect_catalog(asins, future, summary))
    finally:
        work.close()  # a refusal stops the fetch: batches not started yet are cancelled
    second = rechecks.finish(summary)
    if second:
        observations = merge_rechecks(observations, second)
    summary.catalog_fetched = len(infos)
    return observations, infos


def _interleaved(offer_asins: list[str], info_asins: list[str]) -> Iterator[tuple[str, list[str], str]]:
    """``(kind, asins, label)`` per batch: offer batches in order, a catalog batch after each."""
    offer_batches, info_batches = batches(offer_asins, BATCH_SIZE), batches(info_asins, BATCH_SIZE)
    for i in range(max(len(offer_batches), len(info_batches))):
        if i < len(offer_batches):
            yield "offers", offer_batches[i], f"batch {i + 1}/{len(offer_batches)}"
        if i < len(info_batches):
            yield "catalog", info_batches[i], ""


class BatchSubmitter:
    """Submits the fetch tasks with the run's options (cache scope, stored versions, back-off)."""

    def __init__(self, settings: Settings, client: SpApiClient, versions: dict[str, str]) -> None:
        backoff = exponential_backoff(backoff_factor=settings.retry_base_delay_seconds)
        self.client, self.versions = client, versions
        self.started = time.time()
        self.scope = seller_scope(settings)
        self.max_delivery_hours = settings.policy.max_delivery_hours
        ttls = cache_ttls(settings.policy)
        self.offers_task = fetch_offers_batch.with_options(
            cache_expiration=ttls[OFFERS_CACHE], retry_delay_seconds=backoff
        )
        self.catalog_task = fetch_catalog_batch.with_options(
            cache_expiration=ttls[CATALOG_CACHE], retry_delay_seconds=backoff
        )

    def windowed(
        self, work: Iterator[tuple[str, list[str], str]], window: int = WINDOW
    ) -> Iterator[tuple[str, list[str], PrefectFuture]]:
        """Submit ``work`` in order, keeping at most ``window`` task runs queued; yield each as it
        finishes (a batch in its retry back-off does not hold up the ones behind it)."""
        queued: list[tuple[str, list[str], PrefectFuture]] = []
        try:
            for kind, asins, label in work:
                while len(queued) >= window:
                    yield from _take_finished(queued)
                queued.append((kind, asins, self.submit(kind, asins, label)))
            while queued:
                yield from _take_finished(queued)
        finally:  # closed early (the caller stopped): what has not started never will
            for _, _, future in queued:
                wrapped = getattr(future, "wrapped_future", None)
                if isinstance(wrapped, concurrent.futures.Future):
                    wrapped.cancel()

    def submit(self, kind: str, asins: list[str], label: str) -> PrefectFuture:
        if kind == "catalog":
            return self.catalog_task.submit(
                self.client, asins, scope=self.scope, versions=self._versions(asins)
            )
        return self.offers(asins, label)

    def offers(self, asins: list[str], label: str, *, recheck: bool = False) -> PrefectFuture:
        return self.offers_task.submit(
            self.client,
            asins,
            max_delivery_hours=self.max_delivery_hours,
            scope=self.scope,
            # A re-check must be a fresh answer, never the first answer from the cache.
            versions=self._versions(asins, f"recheck@{datetime.now(UTC).isoformat()}:" if recheck else ""),
            label=label,
            started=self.started,
        )

    def recheck(self, asins: list[str], label: str) -> PrefectFuture:
        # recheck_offers has no retries (see its docstring): no back-off to set
        return recheck_offers.submit(
            self.client, asins, max_delivery_hours=self.max_delivery_hours, label=label
        )

    def _versions(self, asins: list[str], prefix: str = "") -> str:
        return prefix + ",".join(self.versions[a] for a in asins)


class SellOutRechecks:
    """New sell-outs, re-checked on getItemOffers while the batch fetch runs.

    ``add`` queues the new sell-outs of each batch answer and submits a re-check task per
    :data:`RECHECK_CHUNK` of them, as long as fewer than :data:`RECHECK_QUEUE` are waiting for
    getItemOffers' quota. ``finish`` sends what is left: on getItemOffers if it would be done
    before one more getItemOffersBatch call, else through getItemOffersBatch.
    """

    def __init__(self, submit: BatchSubmitter, stored_states: Mapping[str, str], *, enabled: bool) -> None:
        self.submit, self.stored_states, self.enabled = submit, stored_states, enabled
        self.pending: list[str] = []
        self.sent: list[tuple[str, list[str], PrefectFuture]] = []
        self.answers: list[Observation] = []
        self.unanswered: list[str] = []
        self.count = 0

    def add(self, observations: list[Observation]) -> None:
        if not self.enabled:
            return
        self.pending += sell_outs_to_recheck(observations, self.stored_states)
        self._collect_answered()
        while len(self.pending) >= RECHECK_CHUNK and self._waiting() + RECHECK_CHUNK <= RECHECK_QUEUE:
            self._send_single(self.pending[:RECHECK_CHUNK])
            self.pending = self.pending[RECHECK_CHUNK:]

    def finish(self, summary: FetchSummary) -> list[Observation]:
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
        for _, asins, future in self.sent:
            self.answers += collect_offers(asins, future, summary)
        self.sent = []
        if self.count:
            get_run_logger().info("re-checked %d new sell-outs before hiding anything", self.count)
        summary.rechecks += self.count
        return self.answers

    def _send_single(self, asins: list[str]) -> None:
        label = f"{self.count + 1}-{self.count + len(asins)}"
        self.sent.append(("single", asins, self.submit.recheck(asins, label)))
        self.count += len(asins)

    def _send_batches(self, asins: list[str], *, count: bool = True) -> None:
        rounds = batches(asins, BATCH_SIZE)
        for i, chunk in enumerate(rounds):
            future = self.submit.offers(chunk, f"recheck {i + 1}/{len(rounds)}", recheck=True)
            self.sent.append(("batch", chunk, future))
        if count:
            self.count += len(asins)

    def _waiting(self) -> int:
        return sum(len(asins) for kind, asins, f in self.sent if kind == "single" and not _done(f))

    def _collect_answered(self, *, wait: bool = False) -> None:
        """Take the re-check answers already in (all of them with ``wait``), dropping their futures.

        ASINs a re-check did not answer are kept in ``unanswered``.
        """
        still = []
        for entry in self.sent:
            kind, asins, future = entry
            if kind != "single" or not (wait or _done(future)):
                still.append(entry)
                continue
            result = future.result(raise_on_failure=False)
            _stop_if_refused(result)
            answered = [] if isinstance(result, BaseException) else answers(result)
            self.answers += answered
            seen = {o.asin for o in answered}
            self.unanswered += [a for a in asins if a not in seen]
        self.sent = still

    def _single_capacity(self) -> int:
        """ASINs getItemOffers re-checks in the time of one getItemOffersBatch call."""
        client = self.submit.client
        ratio = client.pacer(GET_ITEM_OFFERS.name).rate / client.pacer(GET_ITEM_OFFERS_BATCH.name).rate
        # not finite: unpaced operations (the benchmarks' instant client reports infinite rates)
        return int(ratio) if math.isfinite(ratio) else RECHECK_CHUNK


def _take_finished(
    queued: list[tuple[str, list[str], PrefectFuture]],
) -> list[tuple[str, list[str], PrefectFuture]]:
    """Remove and return the entries of ``queued`` whose task runs have finished (at least one:
    waits for the first). Futures without an underlying concurrent future go oldest first."""
    wrapped = [getattr(future, "wrapped_future", None) for _, _, future in queued]
    if any(not isinstance(w, concurrent.futures.Future) for w in wrapped):
        return [queued.pop(0)]
    done, _ = concurrent.futures.wait(wrapped, return_when=concurrent.futures.FIRST_COMPLETED)
    finished = [entry for entry, w in zip(queued, wrapped, strict=True) if w in done]
    queued[:] = [entry for entry, w in zip(queued, wrapped, strict=True) if w not in done]
    return finished


def _done(future: PrefectFuture) -> bool:
    wrapped: Any = getattr(future, "wrapped_future", None)
    return bool(wrapped.done()) if wrapped is not None else False


def collect_offers(asins: list[str], future: PrefectFuture, summary: FetchSummary) -> list[Observation]:
    """One batch's observations; a task that failed after its retries gives error observations.

    ``summary`` counts the batch and whether Prefect's cache answered it.
    """
    result = future.result(raise_on_failure=False)
    _stop_if_refused(result)
    summary.batches += 1
    if isinstance(result, BaseException):
        return error_observations(asins, f"batch failed after retries: {describe(result)}", utc_now())
    if future.state.name == "Cached":
        summary.cached_batches += 1
    return answers(result)


def collect_catalog(asins: list[str], future: PrefectFuture, summary: FetchSummary) -> list[CatalogInfo]:
    result = future.result(raise_on_failure=False)
    _stop_if_refused(result)
    if isinstance(result, BaseException):
        summary.catalog_failed += len(asins)
        get_run_logger().warning("catalog batch failed after retries: %s", describe(result))
        return []
    return answers(result)


def _stop_if_refused(result: object) -> None:
    """LWA or SP-API refused the seller's credentials: every other batch would fail the same way,
    so the fetch stops here (the flow reports it once, naming the setting)."""
    if isinstance(result, CredentialsRefusedError):
        raise result


def stored_versions(stale: pd.DataFrame) -> dict[str, str]:
    """Per ASIN, the stored fetch times: part of the cache key, so a DB update invalidates it."""
    stock = stale["stock_fetched_at"].astype(str).fillna("never")
    price = stale["price_fetched_at"].astype(str).fillna("never")
    return dict(zip(stale["asin"], stale["asin"] + "@" + stock + "/" + price, strict=True))
