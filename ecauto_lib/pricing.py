"""Prices and visibility, computed on whole frames (vectorised, integer-exact).

BASE price = Amazon price (ListingPrice + Shipping of the chosen offer) × the account's markup,
rounded half-up to ``policy.rounding_yen``. The markup is a Decimal turned into an exact integer
ratio, so no binary float ever decides a rounding edge. A price is pushed only when it differs
from the price BASE shows by at least ``policy.min_price_change_yen``; a price outside the
configured bounds is skipped and flagged, never clamped.

Visibility follows stock: out of stock or filtered out → hidden; in stock → public; unknown
(never observed, or the last fetch failed without an earlier answer) → nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from ecauto_lib.config import SyncMode, SyncPolicy

CHANGE_COLUMNS = ["account_id", "asin", "base_item_id", "field", "old_value", "new_value", "reason"]
FLAGGED_COLUMNS = ["account_id", "asin", "base_item_id", "amazon_price_yen", "computed_price", "reason"]

_HIDE_STATES = ("out_of_stock", "filtered_out")


@dataclass(frozen=True)
class PricingPlan:
    """What a run wants BASE to change (one row per field), and the prices it refused to push."""

    changes: pd.DataFrame  # CHANGE_COLUMNS; old_value is NA when BASE's value is unknown
    flagged: pd.DataFrame  # FLAGGED_COLUMNS
    held: pd.DataFrame | None = None  # changes held for review by the guards (CHANGE_COLUMNS)


def markup_ratio(markup: Decimal) -> tuple[int, int]:
    """The markup as an exact integer fraction (numerator, denominator): 1.3 → (13, 10)."""
    numerator, denominator = markup.as_integer_ratio()
    return numerator, denominator


def target_prices(
    amazon_yen: pd.Series, numerator: pd.Series, denominator: pd.Series, unit: int
) -> pd.Series:
    """``amazon_yen × numerator / denominator`` rounded half-up to ``unit`` yen, in integers only.

    round_half_up(x / unit) * unit with x = p·n/d equals floor((2·p·n + d·unit) / (2·d·unit)) · unit.
    """
    p = amazon_yen.astype("Int64")
    n = numerator.astype("int64")
    d = denominator.astype("int64")
    return ((2 * p * n + d * unit) // (2 * d * unit)) * unit


def plan_changes(
    listings: pd.DataFrame,
    policy: SyncPolicy,
    markups: Mapping[str, Decimal],
    mode: SyncMode,
) -> PricingPlan:
    """Every price and visibility change the listings call for, in the listings' order.

    ``listings`` has the columns of :func:`ecauto_lib.db.load_listings` (listing joined with its
    product). ``markups`` maps account id → markup; accounts missing from it use ``policy.markup``.
    """
    frames: list[pd.DataFrame] = []
    flagged = pd.DataFrame(columns=FLAGGED_COLUMNS)
    if mode in (SyncMode.FULL, SyncMode.PRICE):
        price_changes, flagged = _price_changes(listings, policy, markups)
        frames.append(price_changes)
    if mode in (SyncMode.FULL, SyncMode.STOCK):
        frames.append(_visibility_changes(listings))
    changes = pd.concat(frames) if frames else pd.DataFrame(columns=CHANGE_COLUMNS)
    # Keep the listings' order (deferred items first), price before visibility for one item.
    changes = changes.sort_values(["_order", "field"], ascending=[True, True], kind="stable")
    changes = changes[CHANGE_COLUMNS].reset_index(drop=True)
    changes["old_value"] = changes["old_value"].astype("Int64")
    changes["new_value"] = changes["new_value"].astype("int64")
    changes["base_item_id"] = changes["base_item_id"].astype("int64")
    return PricingPlan(changes=changes, flagged=flagged.reset_index(drop=True))


def _price_changes(
    listings: pd.DataFrame, policy: SyncPolicy, markups: Mapping[str, Decimal]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = listings.assign(_order=np.arange(len(listings)))
    frame = frame[frame["stock_state"].eq("in_stock") & frame["amazon_price_yen"].notna()]
    ratios = {acc: markup_ratio(m) for acc, m in markups.items()}
    default = markup_ratio(policy.markup)
    numerator = frame["account_id"].map(lambda a: ratios.get(a, default)[0])
    denominator = frame["account_id"].map(lambda a: ratios.get(a, default)[1])
    computed = target_prices(frame["amazon_price_yen"], numerator, denominator, policy.rounding_yen)
    frame = frame.assign(computed_price=computed)

    too_low = frame["computed_price"] < policy.min_price_yen
    too_high = frame["computed_price"] > policy.max_price_yen
    # Never sell at a loss: computed ≥ amazon × (1 + pct/100) + yen, compared in integers
    # (pct in hundredths of a percent).
    margin_bp = int(policy.min_margin_pct * 100)
    floor_x10000 = (
        frame["amazon_price_yen"].astype("Int64") * (10_000 + margin_bp) + policy.min_margin_yen * 10_000
    )
    thin = (frame["computed_price"] * 10_000 < floor_x10000).fillna(False).astype(bool)
    out_of_bounds = too_low | too_high | thin
    margin_text = (
        f"below the minimum margin ({policy.min_margin_pct}% + ¥{policy.min_margin_yen:,} over Amazon)"
    )
    reasons = np.select(
        [too_low, too_high, thin],
        [
            f"below the minimum price ¥{policy.min_price_yen:,}",
            f"above the maximum price ¥{policy.max_price_yen:,}",
            margin_text,
        ],
        default="",
    )
    flagged = frame.assign(reason=reasons)[out_of_bounds][FLAGGED_COLUMNS]

    frame = frame[~out_of_bounds]
    difference = (frame["computed_price"] - frame["base_price"]).abs()
    moved = frame["base_price"].isna() | (difference >= policy.min_price_change_yen)
    frame = frame[moved.fillna(True).astype(bool)]
    markup_text = frame["account_id"].map(lambda a: _markup_text(ratios.get(a, default))).astype("string")
    amazon_text = frame["amazon_price_yen"].astype("int64").map("{:,}".format).astype("string")
    reason = ("amazon ¥" + amazon_text + " × " + markup_text).astype(object)
    changes = pd.DataFrame(
        {
            "account_id": frame["account_id"],
            "asin": frame["asin"],
            "base_item_id": frame["base_item_id"],
            "field": "price",
            "old_value": frame["base_price"].astype("Int64"),
            "new_value": frame["computed_price"].astype("int64"),
            "reason": reason,
            "_order": frame["_order"],
        }
    )
    return changes, flagged


def _visibility_changes(listings: pd.DataFrame) -> pd.DataFrame:
    frame = listings.assign(_order=np.arange(len(listings)))
    state = frame["stock_state"]
    desired = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    desired[state.isin(_HIDE_STATES)] = 0
    desired[state.eq("in_stock")] = 1
    current = frame["base_visible"].astype("boolean").astype("Int64")
    differs = desired.notna() & (current.isna() | (current != desired)).fillna(True)
    frame, desired, current = frame[differs], desired[differs], current[differs]
    reason = np.where(desired.eq(0), "amazon " + frame["stock_state"].astype(str), "amazon back in stock")
    return pd.DataFrame(
        {
            "account_id": frame["account_id"],
            "asin": frame["asin"],
            "base_item_id": frame["base_item_id"],
            "field": "visible",
            "old_value": current,
            "new_value": desired.astype("int64"),
            "reason": reason,
            "_order": frame["_order"],
        }
    )


def _markup_text(ratio: tuple[int, int]) -> str:
    value = Decimal(ratio[0]) / Decimal(ratio[1])
    return format(value.normalize(), "f")


def item_updates(changes: pd.DataFrame) -> list[dict]:
    """Group per-field changes into one BASE edit per item, in order.

    Each update: ``account_id, asin, base_item_id, fields`` ({"price": 1560, "visible": 0}),
    ``old`` (the old values by field) and ``reasons`` (by field).
    """
    updates: dict[tuple[str, int], dict] = {}
    for row in changes.itertuples(index=False):
        key = (row.account_id, int(row.base_item_id))
        update = updates.setdefault(
            key,
            {
                "account_id": row.account_id,
                "asin": row.asin,
                "base_item_id": int(row.base_item_id),
                "fields": {},
                "old": {},
                "reasons": {},
            },
        )
        update["fields"][row.field] = int(row.new_value)
        update["old"][row.field] = None if pd.isna(row.old_value) else int(row.old_value)
        update["reasons"][row.field] = row.reason
    return list(updates.values())
