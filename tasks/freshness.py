"""Step 2: the TTL diff."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import freshness
from ecauto_lib.config import SyncMode, SyncPolicy
from ecauto_lib.db.history import change_counts
from tasks._common import engine_for


@task(name="diff-ttls", cache_policy=NO_CACHE)
def diff_ttls(
    listings: pd.DataFrame,
    policy: SyncPolicy,
    now: datetime,
    mode: SyncMode,
    database_url: str | None = None,
    fill: bool = False,
) -> pd.DataFrame:
    """Which ASINs need offers and/or catalog info, most valuable first (each ASIN once); with
    ``fill`` every ASIN, for a run that spends its time budget."""
    history = None
    if policy.value_order and database_url is not None:
        since = now - timedelta(days=freshness.HISTORY_DAYS)
        history = change_counts(engine_for(database_url), listings["asin"].unique().tolist(), since)
    stale = freshness.stale_asins(listings, policy, now, mode, history=history, fill=fill)
    get_run_logger().info(
        "%d ASINs: %d need offers (%d past their TTL), %d need catalog info; order: %s",
        listings["asin"].nunique(),
        int(stale["needs_offers"].sum()),
        int(stale["stale"].sum()),
        int(stale["needs_info"].sum()),
        "by value" if history is not None else "oldest first",
    )
    return stale
