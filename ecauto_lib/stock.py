"""BASE stock after a sale (issue #11 §2): put it back while Amazon still has the product.

An order on BASE decrements ``stock``; ``stock 0`` with ``visible 1`` is legal and shows as sold
out (base-api.md §4). A no-stock seller wants the item buyable again while Amazon has it:

* Amazon in stock and BASE stock 0 → stock back to the shop's ``stock_quantity`` (accounts file,
  default 1), as a ``stock`` field of the item's one ``items/edit`` (with any price/visibility change);
* an item with variations: its ``stock`` is the variations' sum (base-api.md §7), so each variation
  at 0 is topped up on its own through ``items/edit_stock`` (``variation_id`` + ``variation_stock``),
  following the Amazon state of the ASIN its ``variation_identifier`` holds (the listing's own ASIN,
  or another ASIN the master DB tracks). A variation whose ASIN cannot be known, or whose ASIN the
  DB does not track, is skipped with a report line: we never guess;
* an item that has stock is never touched, nor one whose stock is unknown; stock 0 with Amazon out
  of stock is hidden by the usual visibility rule and its stock left alone.

Full and ``--stock-only`` runs top up; ``--price-only`` runs do not. Plain Python, no Prefect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from ecauto_lib.asin import asin_in_identifier
from ecauto_lib.config import DEFAULT_STOCK_QUANTITY, SyncMode
from ecauto_lib.domain import ItemStock, StockSkip, StockTopUp, Variation
from ecauto_lib.pricing import PricingPlan, ordered_by_listing

VariationsByItem = Mapping[tuple[str, int], tuple[Variation, ...]]


def item_stock(item: Mapping[str, Any]) -> ItemStock:
    """BASE's stock and variations from an item object (list, detail, edit or edit_stock answer)."""
    stock = item.get("stock")
    variations = []
    for v in item.get("variations") or ():
        if not isinstance(v, Mapping) or not isinstance(v.get("variation_id"), int):
            continue
        v_stock = v.get("variation_stock")
        identifier = v.get("variation_identifier")
        variations.append(
            Variation(
                variation_id=v["variation_id"],
                stock=v_stock if isinstance(v_stock, int) and not isinstance(v_stock, bool) else None,
                identifier=identifier if isinstance(identifier, str) else None,
                name=str(v.get("variation") or ""),
            )
        )
    whole = isinstance(stock, int) and not isinstance(stock, bool)
    return ItemStock(stock if whole else None, tuple(variations))


def plan_stock(
    plan: PricingPlan,
    listings: pd.DataFrame,
    quantities: Mapping[str, int],
    variations: VariationsByItem,
    states: Mapping[str, str],
    mode: SyncMode,
) -> PricingPlan:
    """``plan`` with this run's top-ups: ``stock`` rows in ``changes`` for items, StockTopUp values
    in ``variation_stock`` for variations, and StockSkip lines in ``stock_skipped``.

    ``quantities``: account id → its ``stock_quantity``; ``variations``: (account id, item id) →
    the item's variations as stored (items without variations are absent); ``states``: ASIN →
    stored stock state, for variation ASINs that are not the listing's own.
    """
    if mode is SyncMode.PRICE or listings.empty:
        return plan
    has_variations = pd.Series(
        [
            (a, int(i)) in variations
            for a, i in zip(listings["account_id"], listings["base_item_id"], strict=True)
        ],
        index=listings.index,
        dtype=bool,
    )
    sold = listings["stock_state"].eq("in_stock") & listings["base_stock"].eq(0).fillna(False).astype(bool)
    items = listings[sold & ~has_variations]
    quantity = items["account_id"].map(lambda a: quantities.get(a, DEFAULT_STOCK_QUANTITY)).astype("int64")
    rows = pd.DataFrame(
        {
            "account_id": items["account_id"],
            "asin": items["asin"],
            "base_item_id": items["base_item_id"],
            "field": "stock",
            "old_value": 0,
            "new_value": quantity,
            "reason": "BASE stock 0 (sold on BASE), amazon in stock: restocked to " + quantity.astype(str),
        }
    )
    topups, skipped = _variation_topups(listings[has_variations], quantities, variations, states)
    changes = ordered_by_listing(listings, pd.concat([plan.changes, rows.astype({"reason": object})]))
    return replace(plan, changes=changes, variation_stock=tuple(topups), stock_skipped=tuple(skipped))


def _variation_topups(
    listings: pd.DataFrame,
    quantities: Mapping[str, int],
    variations: VariationsByItem,
    states: Mapping[str, str],
) -> tuple[list[StockTopUp], list[StockSkip]]:
    topups: list[StockTopUp] = []
    skipped: list[StockSkip] = []
    columns = listings[["account_id", "asin", "base_item_id", "stock_state"]]
    for account_id, item_asin, base_item_id, stock_state in columns.itertuples(index=False, name=None):
        item_id = int(base_item_id)
        quantity = quantities.get(account_id, DEFAULT_STOCK_QUANTITY)
        for v in variations[(account_id, item_id)]:
            if v.stock != 0:
                continue  # has stock, or BASE did not say: never touched
            label = f"variation {v.variation_id}" + (f" ({v.name})" if v.name else "")
            asin = asin_in_identifier(v.identifier)
            if asin is None:
                reason = (
                    f"{label}: no ASIN in its variation_identifier ({v.identifier!r}): stock not topped up"
                )
                skipped.append(StockSkip(account_id, item_asin, item_id, v.variation_id, reason))
                continue
            state = stock_state if asin == item_asin else states.get(asin)
            if state is None:
                reason = (
                    f"{label}: Amazon state of {asin} unknown (not listed as an item): stock not topped up"
                )
                skipped.append(StockSkip(account_id, item_asin, item_id, v.variation_id, reason))
            elif state == "in_stock":
                reason = f"{label} stock 0 (sold on BASE), amazon {asin} in stock: restocked to {quantity}"
                topups.append(StockTopUp(account_id, asin, item_id, v.variation_id, 0, quantity, reason))
    return topups, skipped
