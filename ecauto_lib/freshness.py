"""TTL diff: which ASINs need which data, most urgent first.

Every ASIN is considered once, however many accounts list it. Offers (getItemOffersBatch) give
price and stock in one answer, so an ASIN whose price *or* stock is stale (as the mode asks) is
fetched once for both; catalog info (searchCatalogItems) is fetched separately when it is stale.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from ecauto_lib.config import SyncMode, SyncPolicy

STALE_COLUMNS = [
    "asin",
    "needs_offers",
    "needs_info",
    "never_fetched",
    "stock_fetched_at",
    "price_fetched_at",
]


def stale_asins(listings: pd.DataFrame, policy: SyncPolicy, now: datetime, mode: SyncMode) -> pd.DataFrame:
    """One row per ASIN that needs fetching, most urgent first.

    Urgency: never fetched, then oldest stock observation, then oldest price observation (an
    out-of-date "in stock" is what sells something that cannot be bought). ``needs_info`` is
    only set in a full sync.
    """
    products = listings.drop_duplicates("asin")[
        ["asin", "stock_state", "info_fetched_at", "price_fetched_at", "stock_fetched_at"]
    ]
    # ``ttl_slack``: data within the slack of its TTL counts as stale (never more than the TTL
    # itself), so a run scheduled every TTL refreshes what the previous run fetched.
    now_ts = pd.Timestamp(now)

    def cutoff(ttl):  # noqa: ANN001, ANN202
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
        needs_offers=needs_offers,
        needs_info=needs_info,
        never_fetched=products["stock_fetched_at"].isna() & products["price_fetched_at"].isna(),
    )
    stale = stale[stale["needs_offers"] | stale["needs_info"]]
    stale = stale.sort_values(
        ["never_fetched", "stock_fetched_at", "price_fetched_at", "asin"],
        ascending=[False, True, True, True],
        na_position="first",
        kind="stable",
    )
    return stale[STALE_COLUMNS].reset_index(drop=True)


def _older_than(fetched_at: pd.Series, cutoff: pd.Timestamp) -> pd.Series:
    """True where the value is missing or at/before ``cutoff``."""
    return fetched_at.isna() | (fetched_at <= cutoff)


def batches(asins: list[str], size: int) -> list[list[str]]:
    """``asins`` cut into consecutive batches of at most ``size`` (order kept: most urgent first)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [asins[i : i + size] for i in range(0, len(asins), size)]
