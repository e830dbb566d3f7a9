"""Step 3: batched SP-API fetches, one task run per batch of up to 20 ASINs.

Pacing is the client's token bucket (a precise local pacer per operation, adapted from
``x-amzn-RateLimit-Limit``); Prefect retries 429/5xx/timeouts with exponential back-off and
jitter. Results are cached by Prefect for the data's TTL under a key made of the batch's ASINs
*and their stored fetch times*, so a rerun soon after a crash reuses what was already fetched,
while a run after the DB was updated never sees an old answer.

Errors are never cached. An error does not change the stored fetch times, so the next run would
compute the same key and be served the same failures for the whole TTL; an answer holding one
is therefore not written to the result store (Prefect's transaction is told not to write on
commit). The run still gets it, and writes its good answers to the DB, so the next run finds only
the failed ASINs stale and asks Amazon for those alone.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.transactions import get_transaction

from ecauto_lib.amazon.client import GET_ITEM_OFFERS_BATCH, SpApiClient
from ecauto_lib.amazon.offers import catalog_info_from_item, observation_from_item
from ecauto_lib.clock import utc_now
from ecauto_lib.config import SyncPolicy
from ecauto_lib.domain import CatalogInfo, Observation, Outcome
from ecauto_lib.errors import TransientError
from tasks._common import Answers, api_retries

OFFERS_CACHE, CATALOG_CACHE = "ecauto-offers", "ecauto-catalog"  # cache-key prefixes (keys are global)


def cache_ttls(policy: SyncPolicy) -> dict[str, timedelta]:
    """How long each fetch task's cached answers live, by cache-key prefix: the data's TTL."""
    return {OFFERS_CACHE: policy.stock_ttl, CATALOG_CACHE: policy.info_ttl}


def _batch_key(prefix: str) -> Callable[[TaskRunContext, dict[str, Any]], str]:
    def key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
        text = "|".join([parameters["scope"], parameters["versions"], ",".join(parameters["asins"])])
        return f"{prefix}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"

    return key


@task(
    name="fetch-offers-batch",
    cache_key_fn=_batch_key(OFFERS_CACHE),
    **api_retries(5),  # 2, 4, 8, 16, 32 s (the flow applies the run's setting: with_retry_policy)
    persist_result=True,
)
def fetch_offers_batch(
    client: SpApiClient,
    asins: list[str],
    *,
    max_delivery_hours: int,
    scope: str,
    versions: str,
    label: str = "",
    started: float | None = None,
) -> Answers[Observation]:
    """getItemOffersBatch for up to 20 ASINs → one Observation per ASIN (errors included)."""
    items = client.item_offers_batch(asins)
    observed_at = utc_now()
    observations = [
        observation_from_item(a, items.get(a), max_delivery_hours=max_delivery_hours, observed_at=observed_at)
        for a in asins
    ]
    errors = sum(1 for o in observations if o.outcome == Outcome.ERROR)
    if errors:
        keep_out_of_cache()
    stats = client.stats[GET_ITEM_OFFERS_BATCH.name]
    get_run_logger().info(
        "offers %s: %d ASINs, %d errors · %.1f s since the fetch began · quota %.3g req/s, "
        "%d calls so far (%d throttled), %.1f s spent pacing",
        label,
        len(asins),
        errors,
        0.0 if started is None else time.time() - started,
        client.pacer(GET_ITEM_OFFERS_BATCH.name).rate,
        stats["calls"],
        stats["throttled"],
        stats["waited_seconds"],
    )
    return Answers(observations)


def keep_out_of_cache() -> None:
    """Do not write this task run's result under its cache key (Prefect 3's transaction: the
    result is still returned to the flow, only never served to a later run)."""
    txn = get_transaction()
    if txn is not None:
        txn.write_on_commit = False


@task(name="recheck-offers", cache_policy=NO_CACHE)  # a re-check must be a fresh answer
def recheck_offers(
    client: SpApiClient, asins: list[str], *, max_delivery_hours: int, label: str = ""
) -> Answers[Observation]:
    """getItemOffers, one call per ASIN on that operation's own quota → an Observation per answer.

    Used to re-check new sell-outs while the batch fetch goes on (it takes none of
    getItemOffersBatch's quota). One attempt per ASIN and no task retries (a retry would ask
    again for the ASINs already answered): an ASIN whose call failed (429, 5xx, timeout) is left
    out of the result, and the caller re-checks it through getItemOffersBatch, with its retries.
    """
    logger = get_run_logger()
    observations = []
    for asin in asins:
        try:
            item = client.item_offers(asin)
        except TransientError as exc:
            logger.info(
                "re-check of %s not answered (%s): left to a getItemOffersBatch re-check", asin, exc.code
            )
            continue
        observations.append(
            observation_from_item(asin, item, max_delivery_hours=max_delivery_hours, observed_at=utc_now())
        )
    logger.info(
        "re-checked %s: %d ASINs, %d answered, %d still gone, %d error answers",
        label,
        len(asins),
        len(observations),
        sum(1 for o in observations if o.outcome in ("out_of_stock", "filtered_out")),
        sum(1 for o in observations if o.outcome == "error"),
    )
    return Answers(observations)


@task(
    name="fetch-catalog-batch",
    cache_key_fn=_batch_key(CATALOG_CACHE),
    **api_retries(5),
    persist_result=True,
)
def fetch_catalog_batch(
    client: SpApiClient, asins: list[str], *, scope: str, versions: str
) -> Answers[CatalogInfo]:
    """searchCatalogItems for up to 20 ASINs (pageSize 20) → catalog info of those found."""
    observed_at = datetime.now(UTC)
    return Answers([catalog_info_from_item(item, observed_at) for item in client.search_catalog_items(asins)])


@task(name="prune-fetch-cache", cache_policy=NO_CACHE)
def prune_fetch_cache(max_age_seconds: dict[str, float]) -> int:
    """Delete this project's cached batch results older than their TTL, by key prefix (Prefect
    never deletes expired cache records, so without this the result storage grows every run)."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    storage = Path(PREFECT_LOCAL_STORAGE_PATH.value())
    removed = 0
    for prefix, max_age in max_age_seconds.items():
        cutoff = time.time() - max_age
        for record in storage.glob(f"{prefix}-*"):
            try:
                if record.stat().st_mtime < cutoff:
                    record.unlink()
                    removed += 1
            except FileNotFoundError:  # another run pruned it first
                continue
    return removed
