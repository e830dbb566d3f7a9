"""Step 2: the TTL diff."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import freshness
from ecauto_lib.config import SyncMode, SyncPolicy


@task(name="diff-ttls", cache_policy=NO_CACHE)
def diff_ttls(listings: pd.DataFrame, policy: SyncPolicy, now: datetime, mode: SyncMode) -> pd.DataFrame:
    """Which ASINs need offers and/or catalog info, most urgent first (each ASIN once)."""
    stale = freshness.stale_asins(listings, policy, now, mode)
    get_run_logger().info(
        "%d ASINs: %d need offers, %d need catalog info",
        listings["asin"].nunique(),
        int(stale["needs_offers"].sum()),
        int(stale["needs_info"].sum()),
    )
    return stale
