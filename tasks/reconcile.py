"""Drift reconciliation: compare one shop's BASE items with the DB and repair the DB."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import db
from ecauto_lib.config import AccountConfig, Settings
from ecauto_lib.connect import base_client, token_store
from ecauto_lib.db import blocks
from ecauto_lib.domain import BudgetBlock
from ecauto_lib.reconcile import Drift, find_drift
from ecauto_lib.stock import item_stock
from tasks._common import engine_for


@task(name="base-budget-block", cache_policy=NO_CACHE, task_run_name="block-{account_id}")
def base_budget_block(database_url: str, account_id: str) -> BudgetBlock | None:
    """The shop's day_api_limit block, if BASE refused it for the day and the reset has not come."""
    return blocks.active_block(engine_for(database_url), account_id, datetime.now(UTC))


@task(name="repair-drift", cache_policy=NO_CACHE, task_run_name="repair-{account.id}")
def repair_drift(
    settings: Settings, account: AccountConfig, listings: pd.DataFrame, items: list[dict], *, dry_run: bool
) -> Drift:
    """Check listings the scan missed with items/detail, then write BASE's real price/visibility into
    the DB and delist items BASE no longer has (each reported)."""
    now = datetime.now(UTC)
    engine = engine_for(settings.database_url)
    client = base_client(settings, account, token_store(settings, engine))
    drift = find_drift(account.id, listings, items, now, client)
    logger = get_run_logger()
    for c in drift.corrections:
        logger.warning(
            "%s %s item %s: %s %s → %s (BASE)",
            account.id,
            c.asin,
            c.base_item_id,
            c.field,
            c.old_value,
            c.new_value,
        )
    for d in drift.still_there:
        logger.info("%s %s item %s: missing from the scan, still in BASE", account.id, d.asin, d.base_item_id)
    for d in drift.unchecked:
        logger.warning(
            "%s %s item %s: missing from the scan, not checked (%s); left listed",
            account.id,
            d.asin,
            d.base_item_id,
            d.message,
        )
    for d in drift.deleted:
        logger.warning(
            "%s %s item %s: gone from BASE (items/detail: no_item)", account.id, d.asin, d.base_item_id
        )
    if not dry_run:
        db.apply_pushed_changes(engine, None, drift.corrections)
        # BASE's stock and variations as listed (issue #11 §2), drift or not
        listed = set(listings.loc[listings["account_id"] == account.id, "base_item_id"].astype(int))
        db.record_item_stock(
            engine,
            account.id,
            {int(i["item_id"]): item_stock(i) for i in items if i.get("item_id") in listed},
        )
        for d in drift.deleted:
            db.mark_delisted(
                engine,
                account.id,
                d.base_item_id,
                "gone from BASE (reconciliation, items/detail: no_item)",
                now,
            )
    return drift
