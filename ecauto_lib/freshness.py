"""TTL diff: which ASINs need which data, most urgent first.

Every ASIN is considered once, however many accounts list it. Offers (getItemOffersBatch) give
price and stock in one answer, so an ASIN whose price *or* stock is stale (as the mode asks) is
fetched once for both; catalog info (searchCatalogItems) is fetched separately when it is stale.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd

from ecauto_lib.config import SyncMode, SyncPolicy
from ecauto_lib.value import ChangeRates, RefreshCandidate, learned_rate, pooled_prior, refresh_order

STALE_COLUMNS = [
    "asin",
    "needs_offers",
    "needs_info",
    "never_fetched",
    "stock_fetched_at",
    "price_fetched_at",
    "stale",
    "reason",
]
HISTORY_DAYS = 7  # how far back an ASIN's own history of changes is read (db.history.change_counts)
# Rates per hour assumed before the master DB holds any history at all (our guess): a sell-out
# every 2–3 days, a ¥100 price move a day, a restock within 8 hours.
PRIOR_RATES = ChangeRates(sell_out=0.015, price_move=0.04, restock=0.12)


def stale_asins(
    listings: pd.DataFrame,
    policy: SyncPolicy,
    now: datetime,
    mode: SyncMode,
    *,
    history: pd.DataFrame | None = None,
    fill: bool = False,
) -> pd.DataFrame:
    """One row per ASIN that needs fetching, most urgent first.

    Without ``history``: never fetched, then oldest stock observation, then oldest price
    observation (an out-of-date "in stock" is what sells something that cannot be bought). With
    the ASINs' ``history`` (:func:`ecauto_lib.db.history.change_counts`): by the harm a stale
    answer can do (:mod:`ecauto_lib.value`), after the never fetched and those older than the
    fairness maximum. ``fill``: every ASIN needs offers (a run with a time budget spends it on the
    most valuable ones); ``stale`` says which are past their TTL. ``reason`` says why each is
    where it is. ``needs_info`` is only set in a full sync.
    """
    products = listings.drop_duplicates("asin")[
        ["asin", "stock_state", "info_fetched_at", "price_fetched_at", "stock_fetched_at"]
    ]
    # ``ttl_slack``: data within the slack of its TTL counts as stale (never more than the TTL
    # itself), so a run scheduled every TTL refreshes what the previous run fetched.
    now_ts = pd.Timestamp(now)

    def cutoff(ttl: timedelta) -> pd.Timestamp:
        return now_ts - ttl + min(policy.ttl_slack, ttl / 2)

    stock_stale = _older_than(products["stock_fetched_at"], cutoff(policy.stock_ttl))
    price_stale = _older_than(products["price_fetched_at"], cutoff(policy.price_ttl))
    info_stale = _older_than(products["info_fetched_at"], cutoff(policy.info_ttl))
    # An item known to be out of stock has no price to refresh: its price counts as stale only
    # once its stock is stale too (else a sold-out item would be re-asked on every run).
    price_due = price_stale & (products["stock_state"].eq("in_stock") | stock_stale)
    no_info = pd.Series(False, index=products.index)
    if mode is SyncMode.PRICE:
        needs_offers, needs_info = price_due, no_info
    elif mode is SyncMode.STOCK:
        needs_offers, needs_info = stock_stale, no_info
    else:
        needs_offers, needs_info = stock_stale | price_due, info_stale
    stale = products.assign(
        needs_offers=needs_offers | fill,
        needs_info=needs_info,
        never_fetched=products["stock_fetched_at"].isna() & products["price_fetched_at"].isna(),
        stale=needs_offers,
        reason="",
    )
    stale = stale[stale["needs_offers"] | stale["needs_info"]]
    if history is not None:
        return _by_value(stale, listings, history, policy, now_ts, mode)
    stale["reason"] = stale["stale"].map({True: "stale (oldest first)", False: "catalog info stale"})
    stale = stale.sort_values(
        ["never_fetched", "stock_fetched_at", "price_fetched_at", "asin"],
        ascending=[False, True, True, True],
        na_position="first",
        kind="stable",
    )
    return stale[STALE_COLUMNS].reset_index(drop=True)


def _by_value(
    stale: pd.DataFrame,
    listings: pd.DataFrame,
    history: pd.DataFrame,
    policy: SyncPolicy,
    now: pd.Timestamp,
    mode: SyncMode,
) -> pd.DataFrame:
    """``stale`` in the order of :func:`ecauto_lib.value.refresh_order`, with each one's reason."""
    mine = listings[listings["asin"].isin(stale["asin"])]
    visible = mine["base_visible"].fillna(False).astype(bool)
    floor = mine["amazon_price_yen"].astype("float64") * (1 + float(policy.min_margin_pct) / 100) + float(
        policy.min_margin_yen
    )
    headroom = (mine["base_price"].astype("float64") / floor - 1).where(visible)
    per_asin = (
        pd.DataFrame(
            {
                "asin": mine["asin"],
                "public": visible,
                "hidden": ~visible,
                "headroom": headroom,
                "listed_at": mine["listed_at"],
            }
        )
        .groupby("asin", sort=False)
        .agg(
            public=("public", "sum"),
            hidden=("hidden", "sum"),
            headroom=("headroom", "min"),
            listed_at=("listed_at", "min"),
        )
    )
    counts = history.set_index("asin")
    window = timedelta(days=HISTORY_DAYS)
    # pandas-stubs declares no Timestamp bound for clip (pandas takes one)
    listed_at = per_asin["listed_at"].fillna(now - window).clip(lower=now - window)  # type: ignore[call-overload]
    exposure = ((now - listed_at) / pd.Timedelta(hours=1)).clip(lower=0.0)
    counts = counts.reindex(per_asin.index)
    kinds = ("sell_outs", "restocks", "price_moves")
    events = {k: counts[k].fillna(0).astype("int64") for k in kinds}
    # The mean rate of each kind, and how far an ASIN's own may stray from it: as far as the ASINs
    # differ beyond chance.
    exposure_hours = exposure.tolist()
    prior = {
        k: pooled_prior(events[k].tolist(), exposure_hours, default_rate=default)
        for k, default in zip(
            kinds, (PRIOR_RATES.sell_out, PRIOR_RATES.restock, PRIOR_RATES.price_move), strict=True
        )
    }

    def rate(kind: str, count: int, hours: float) -> float:
        return learned_rate(count, hours, prior_rate=prior[kind].rate, prior_hours=prior[kind].hours)

    fetched_at = stale["price_fetched_at"] if mode is SyncMode.PRICE else stale["stock_fetched_at"]
    # pandas-stubs declares no Series[Any] / Timedelta (pandas divides timedeltas by one)
    age = ((now - fetched_at) / pd.Timedelta(hours=1)).where(fetched_at.notna())  # type: ignore[operator]
    # Every per-ASIN value aligned with ``stale`` as plain lists: one pass, no lookups per row.
    order_index = pd.Index(stale["asin"])
    aligned = per_asin.reindex(order_index)
    hours_of = exposure.reindex(order_index).fillna(0.0).tolist()
    offer_counts = counts["offer_count"].reindex(order_index) if "offer_count" in counts else None
    columns = zip(
        stale["asin"].tolist(),
        age.tolist(),
        aligned["public"].fillna(0).astype("int64").tolist(),
        aligned["hidden"].fillna(0).astype("int64").tolist(),
        aligned["headroom"].astype("float64").tolist(),
        hours_of,
        *(events[k].reindex(order_index).fillna(0).astype("int64").tolist() for k in kinds),
        offer_counts.astype("float64").tolist() if offer_counts is not None else [math.nan] * len(stale),
        strict=True,
    )
    candidates = [
        RefreshCandidate(
            asin,
            None if math.isnan(hours) else hours,
            public,
            hidden,
            ChangeRates(
                sell_out=rate("sell_outs", sold, h),
                price_move=rate("price_moves", moved, h),
                restock=rate("restocks", back, h),
            ),
            None if math.isnan(headroom) else headroom,
            None if math.isnan(offers) else int(offers),
        )
        for asin, hours, public, hidden, headroom, h, sold, back, moved, offers in columns
    ]
    # The floor applies a little early: the ASIN is asked in this run, not after the next one.
    margin = policy.ttl_slack + policy.run_budget
    max_age = max(policy.stock_ttl, policy.max_stock_age - margin) / timedelta(hours=1)
    order = refresh_order(
        candidates, max_age_hours=max_age, floor_hours=policy.max_stock_age / timedelta(hours=1)
    )
    ranked = stale.set_index("asin").loc[[r.asin for r in order]].reset_index()
    ranked["reason"] = [r.reason for r in order]
    only_info = ~ranked["needs_offers"]
    ranked.loc[only_info, "reason"] = "catalog info stale"
    return ranked[STALE_COLUMNS].reset_index(drop=True)


def _older_than(fetched_at: pd.Series, cutoff: pd.Timestamp) -> pd.Series:
    """True where the value is missing or at/before ``cutoff``."""
    return fetched_at.isna() | (fetched_at <= cutoff)


def batches(asins: list[str], size: int) -> list[list[str]]:
    """``asins`` cut into consecutive batches of at most ``size`` (order kept: most urgent first)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [asins[i : i + size] for i in range(0, len(asins), size)]
