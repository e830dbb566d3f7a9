"""Drift reconciliation: compare one shop's BASE items with the DB and repair the DB."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import db
from ecauto_lib.reconcile import Drift, find_drift
from tasks._common import engine_for


@task(name="repair-drift", cache_policy=NO_CACHE, task_run_name="repair-{account_id}")
def repair_drift(
    database_url: str, account_id: str, listings: pd.DataFrame, items: list[dict], *, dry_run: bool
) -> Drift:
    """Write BASE's real price/visibility into the DB and delist items gone from BASE (each reported)."""
    now = datetime.now(UTC)
    drift = find_drift(account_id, listings, items, now)
    logger = get_run_logger()
    for c in drift.corrections:
        logger.warning(
            "%s %s item %s: %s %s → %s (BASE)",
            account_id,
            c.asin,
            c.base_item_id,
            c.field,
            c.old_value,
            c.new_value,
        )
    for d in drift.deleted:
        logger.warning("%s %s item %s: gone from BASE", account_id, d["asin"], d["base_item_id"])
    if not dry_run:
        engine = engine_for(database_url)
        db.apply_pushed_changes(engine, None, drift.corrections)
        for d in drift.deleted:
            db.mark_delisted(engine, account_id, d["base_item_id"], "gone from BASE (reconciliation)", now)
    return drift
