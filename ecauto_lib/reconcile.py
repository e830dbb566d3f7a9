"""Drift reconciliation: make the master DB agree with what each BASE shop really shows.

Someone edits a price in the BASE admin, deletes an item, or a push was confirmed by BASE but the
process died before the DB heard of it: the DB's idea of "the price BASE has" drifts, and pricing
decisions built on it go wrong. Reading every item of a shop (100 a page) and comparing gives the
repairs; each one is reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from ecauto_lib.domain import PushedChange


@dataclass
class Drift:
    """The repairs one shop needs."""

    account_id: str
    corrections: list[PushedChange] = field(default_factory=list)  # DB value → what BASE shows
    deleted: list[dict[str, Any]] = field(default_factory=list)  # asin, base_item_id: gone from BASE
    checked: int = 0  # listings compared

    @property
    def count(self) -> int:
        return len(self.corrections) + len(self.deleted)


def find_drift(
    account_id: str, listings: pd.DataFrame, items: Iterable[dict[str, Any]], at: datetime
) -> Drift:
    """Compare one shop's listed rows (``load_listings`` columns) with its BASE items."""
    by_id = {int(i["item_id"]): i for i in items if isinstance(i.get("item_id"), int)}
    drift = Drift(account_id=account_id)
    mine = listings[listings["account_id"] == account_id]
    drift.checked = len(mine)
    for row in mine.itertuples(index=False):
        item = by_id.get(int(row.base_item_id))
        if item is None:
            drift.deleted.append({"asin": row.asin, "base_item_id": int(row.base_item_id)})
            continue
        stored_price = None if pd.isna(row.base_price) else int(row.base_price)
        stored_visible = None if pd.isna(row.base_visible) else int(bool(row.base_visible))
        live = {"price": item.get("price"), "visible": item.get("visible")}
        stored = {"price": stored_price, "visible": stored_visible}
        for name in ("price", "visible"):
            value = live[name]
            if isinstance(value, int) and value != stored[name]:
                drift.corrections.append(
                    PushedChange(
                        account_id=account_id,
                        asin=row.asin,
                        base_item_id=int(row.base_item_id),
                        field=name,
                        old_value=stored[name],
                        new_value=value,
                        reason="drift: BASE shows a different value (reconciliation)",
                        at=at,
                    )
                )
    return drift
