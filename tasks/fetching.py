"""Step 3 on Prefect: the fetch policy (:mod:`ecauto_lib.fetching`) submitting task runs.

The policy decides which calls go out, in what order, on which lane; this adapter turns each
:class:`~ecauto_lib.fetching.FetchCall` into a task run (getItemOffersBatch and searchCatalogItems
batches with Prefect's cache and retries, getItemOffers re-checks without either) and each
``PrefectFuture`` into a :class:`~ecauto_lib.fetching.Handle`.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.futures import PrefectFuture

from ecauto_lib.amazon.client import GET_ITEM_OFFERS, SEARCH_CATALOG_ITEMS, SpApiClient
from ecauto_lib.config import Settings
from ecauto_lib.connect import seller_scope
from ecauto_lib.fetching import FetchCall, FetchPolicy, FetchResult, Handle, Lanes, Rounds
from tasks._common import answers, with_retry_policy
from tasks.amazon import (
    CATALOG_CACHE,
    OFFERS_CACHE,
    cache_ttls,
    fetch_catalog_batch,
    fetch_offers_batch,
    recheck_offers,
)

CACHED = "Cached"  # the name Prefect gives the Completed state of a run its cache answered


def fetch_offers_and_catalog(
    settings: Settings,
    client: SpApiClient,
    stale: pd.DataFrame,
    stored_states: Mapping[str, str],
    deadline: datetime | None = None,
    rounds: Rounds | None = None,
) -> FetchResult:
    """Fetch what ``stale`` marks (``needs_offers``, ``needs_info``), in its order, with new
    sell-outs re-checked, every offers lane used, no call started after ``deadline``, what is
    confirmed handed to ``rounds`` as it goes (the policy: :mod:`ecauto_lib.fetching`)."""
    policy = FetchPolicy(
        PrefectSubmitter(settings, client, stored_versions(stale), per_pass=rounds is not None),
        Lanes.paced_by(lambda name: client.pacer(name).rate),
        stored_states=stored_states,
        recheck_sell_outs=settings.recheck_sell_outs,
        logger=get_run_logger(),
        deadline=deadline,
        single_refreshes=deadline is not None,  # a run that fills its budget uses every lane
        rounds=rounds,
    )
    return policy.fetch(
        stale.loc[stale["needs_offers"], "asin"].tolist(), stale.loc[stale["needs_info"], "asin"].tolist()
    )


class PrefectHandle:
    """A task run's future as a fetch handle. ``done`` follows the future's done callback."""

    __slots__ = ("_done", "_future")

    def __init__(self, future: PrefectFuture, on_done: Any) -> None:
        self._future = future
        self._done = done = threading.Event()

        def finished(_: object) -> None:  # holds the event, not the handle: nothing keeps a handle alive
            done.set()
            on_done()

        future.add_done_callback(finished)

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> list[Any] | BaseException:
        result = self._future.result(raise_on_failure=False)
        return result if isinstance(result, BaseException) else answers(result)

    def cached(self) -> bool:
        return self._future.state.name == CACHED

    def cancel(self) -> None:
        # PrefectFuture has no cancel of its own; a thread-pool run that has not started is the
        # concurrent future under it (other task runners: a no-op, the run goes ahead).
        wrapped = getattr(self._future, "wrapped_future", None)
        if isinstance(wrapped, concurrent.futures.Future):
            wrapped.cancel()


class PrefectSubmitter:
    """Submits each fetch call as its task run, with the run's options (cache scope, stored
    versions, the retry policy)."""

    def __init__(
        self, settings: Settings, client: SpApiClient, versions: dict[str, str], *, per_pass: bool = False
    ) -> None:
        # per_pass (a run with rounds: it asks the same ASINs again and again, while the versions
        # stay those of its start): every call's answer is its own, never a cached one
        self.client, self.versions, self.per_pass = client, versions, per_pass
        self.started = time.time()
        self.scope = seller_scope(settings)
        self.max_delivery_hours = settings.policy.max_delivery_hours
        ttls = cache_ttls(settings.policy)
        self.offers_task = with_retry_policy(fetch_offers_batch, settings).with_options(
            cache_expiration=ttls[OFFERS_CACHE]
        )
        self.catalog_task = with_retry_policy(fetch_catalog_batch, settings).with_options(
            cache_expiration=ttls[CATALOG_CACHE]
        )
        self._changed = threading.Condition()

    def submit(self, call: FetchCall) -> PrefectHandle:
        asins = list(call.asins)
        future: PrefectFuture[Any]
        if call.operation == SEARCH_CATALOG_ITEMS:
            future = self.catalog_task.submit(
                self.client, asins, scope=self.scope, versions=self._versions(asins)
            )
        elif call.operation == GET_ITEM_OFFERS:
            # recheck_offers has no retries and no cache (see its docstring)
            future = recheck_offers.submit(
                self.client, asins, max_delivery_hours=self.max_delivery_hours, label=call.label
            )
        else:
            # A re-check must be a fresh answer, never the first answer from the cache.
            prefix = f"recheck@{datetime.now(UTC).isoformat()}:" if call.fresh or self.per_pass else ""
            future = self.offers_task.submit(
                self.client,
                asins,
                max_delivery_hours=self.max_delivery_hours,
                scope=self.scope,
                versions=self._versions(asins, prefix),
                label=call.label,
                started=self.started,
            )
        return PrefectHandle(future, self._notify)

    def wait_any(self, handles: Sequence[Handle]) -> list[Handle]:
        with self._changed:
            while not (done := [h for h in handles if h.done()]):
                self._changed.wait()
        return done

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _versions(self, asins: list[str], prefix: str = "") -> str:
        # an ASIN a round's order added (listed since the run began) has no stored version yet
        return prefix + ",".join(self.versions.get(a, f"{a}@new") for a in asins)


def stored_versions(stale: pd.DataFrame) -> dict[str, str]:
    """Per ASIN, the stored fetch times: part of the cache key, so a DB update invalidates it."""
    stock = stale["stock_fetched_at"].astype(str).fillna("never")
    price = stale["price_fetched_at"].astype(str).fillna("never")
    return dict(zip(stale["asin"], stale["asin"] + "@" + stock + "/" + price, strict=True))
