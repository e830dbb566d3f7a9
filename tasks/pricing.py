"""Step 4: prices and visibility, on pandas frames; the guards; the floor."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import pricing, stock
from ecauto_lib.config import SyncMode, SyncPolicy
from ecauto_lib.domain import HeldChange, Variation
from ecauto_lib.guards import GuardPolicy, hold_risky_changes
from ecauto_lib.pricing import PricingPlan, plan_changes


@task(name="compute-changes", cache_policy=NO_CACHE)
def compute_changes(
    listings: pd.DataFrame,
    policy: SyncPolicy,
    markups: dict[str, Decimal],
    mode: SyncMode,
    now: datetime | None = None,
) -> PricingPlan:
    """Every price and visibility change the listings call for, and the prices refused."""
    plan = plan_changes(listings, policy, markups, mode, now=now)
    fields = plan.changes["field"].value_counts().to_dict()
    get_run_logger().info(
        "planned %d price changes, %d visibility changes, %d prices flagged",
        fields.get("price", 0),
        fields.get("visible", 0),
        len(plan.flagged),
    )
    return plan


@task(name="top-up-stock", cache_policy=NO_CACHE)
def top_up_stock(
    plan: PricingPlan,
    listings: pd.DataFrame,
    quantities: dict[str, int],
    variations: dict[tuple[str, int], tuple[Variation, ...]],
    states: dict[str, str],
    mode: SyncMode,
) -> PricingPlan:
    """Stock back to the shop's quantity where BASE sold out and Amazon has it (items and variations)."""
    plan = stock.plan_stock(plan, listings, quantities, variations, states, mode)
    items = int(plan.changes["field"].eq("stock").sum())
    get_run_logger().info(
        "planned %d stock top-ups of items, %d of variations, %d variations skipped",
        items,
        len(plan.variation_stock),
        len(plan.stock_skipped),
    )
    return plan


@task(name="hold-risky-changes", cache_policy=NO_CACHE)
def hold_risky(
    plan: PricingPlan,
    listings: pd.DataFrame,
    policies: dict[str, GuardPolicy],
    *,
    releasable: list[HeldChange] | None = None,
    earlier: dict[tuple[str, str], int] | None = None,
) -> PricingPlan:
    """Hold big price moves and circuit-breaker volumes for review (``--confirm`` releases those stored)."""
    per_account = {str(account_id): int(n) for account_id, n in listings.groupby("account_id").size().items()}
    outcome = hold_risky_changes(
        plan.changes, per_account, policies, releasable=releasable or (), earlier=earlier
    )
    logger = get_run_logger()
    if len(outcome.held):
        logger.warning("%d changes held for review: %s", len(outcome.held), outcome.held["reason"].iloc[0])
    if len(outcome.released):
        logger.info("%d held changes released by --confirm", len(outcome.released))
    return replace(
        plan, changes=outcome.push.reset_index(drop=True), held=outcome.held, released=outcome.released
    )


@task(name="keep-above-floor", cache_policy=NO_CACHE)
def keep_above_floor(plan: PricingPlan, listings: pd.DataFrame, policy: SyncPolicy) -> PricingPlan:
    """Hide (or keep hidden) every in-stock item whose price would stay below Amazon × (1 + margin)."""
    plan = pricing.keep_above_floor(plan, listings, policy)
    if len(plan.below_floor):
        get_run_logger().warning(
            "%d items not public below the floor: %s",
            len(plan.below_floor),
            plan.below_floor["reason"].iloc[0],
        )
    return plan
