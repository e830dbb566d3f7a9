"""Drift reconciliation: make the master DB agree with what each BASE shop really shows.

Someone edits a price in the BASE admin, deletes an item, or a push was confirmed by BASE but the
process died before the DB heard of it: the DB's idea of "the price BASE has" drifts, and pricing
decisions built on it go wrong. Reading every item of a shop (100 a page) and comparing gives the
repairs; each one is reported.

A listing missing from the scan is not yet gone: ``/1/items`` has no total and no documented stable
order (base-api.md §3), so a page scan while the shop is being edited can skip an item (an item
deleted or moved in front of the page being read shifts the rest by one). Each missing item is
looked up with ``items/detail``; only BASE's not-found answer (``no_item``) delists it. An item
the lookup finds is compared like a scanned one; a lookup that fails changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import pandas as pd

from ecauto_lib.base.client import BudgetExhaustedError
from ecauto_lib.domain import PushedChange
from ecauto_lib.errors import EcAutoError


class ItemLookup(Protocol):
    """What checking a missing item needs (``ecauto_lib.base.BaseClient`` provides it)."""

    def item_detail(self, item_id: int) -> dict | None: ...


@dataclass(frozen=True)
class Drift:
    """The repairs one shop needs, and how the listings missing from the scan were checked."""

    account_id: str
    corrections: list[PushedChange] = field(default_factory=list)  # DB value → what BASE shows
    deleted: list[dict[str, Any]] = field(default_factory=list)  # asin, base_item_id: BASE said no_item
    still_there: list[dict[str, Any]] = field(default_factory=list)  # missing from the scan, found by detail
    unchecked: list[dict[str, Any]] = field(default_factory=list)  # + error, message: lookup failed
    checked: int = 0  # listings compared

    @property
    def missing(self) -> int:
        """Listings the scan did not show (each looked up, or left unchecked)."""
        return len(self.deleted) + len(self.still_there) + len(self.unchecked)

    @property
    def detail_checked(self) -> int:
        """Missing listings ``items/detail`` answered for (gone or still there)."""
        return len(self.deleted) + len(self.still_there)

    @property
    def count(self) -> int:
        return len(self.corrections) + len(self.deleted)


def find_drift(
    account_id: str,
    listings: pd.DataFrame,
    items: Iterable[dict[str, Any]],
    at: datetime,
    lookup: ItemLookup,
) -> Drift:
    """Compare one shop's listed rows (``load_listings`` columns) with its scanned BASE items,
    looking up with ``lookup.item_detail`` each listing the scan did not show."""
    by_id = {int(i["item_id"]): i for i in items if isinstance(i.get("item_id"), int)}
    mine = listings[listings["account_id"] == account_id]
    drift = Drift(account_id=account_id, checked=len(mine))
    missing = []
    for row in mine.itertuples(index=False):
        item = by_id.get(int(row.base_item_id))
        if item is None:
            missing.append(row)
        else:
            drift.corrections.extend(_corrections(account_id, row, item, at))
    for position, row in enumerate(missing):
        ref = {"asin": row.asin, "base_item_id": int(row.base_item_id)}
        try:
            item = lookup.item_detail(int(row.base_item_id))
        except EcAutoError as exc:
            error = {"error": getattr(exc, "code", None) or type(exc).__name__, "message": str(exc)}
            if isinstance(exc, BudgetExhaustedError):  # no call left: the rest waits for the next run
                drift.unchecked.extend(
                    {"asin": r.asin, "base_item_id": int(r.base_item_id), **error} for r in missing[position:]
                )
                break
            drift.unchecked.append({**ref, **error})
            continue
        if item is None:
            drift.deleted.append(ref)
        else:
            drift.still_there.append(ref)
            drift.corrections.extend(_corrections(account_id, row, item, at))
    return drift


def _corrections(account_id: str, row: Any, item: dict[str, Any], at: datetime) -> list[PushedChange]:
    """The price/visibility the DB has wrong for one listing, given the item BASE shows."""
    stored_price = None if pd.isna(row.base_price) else int(row.base_price)
    stored_visible = None if pd.isna(row.base_visible) else int(bool(row.base_visible))
    live = {"price": item.get("price"), "visible": item.get("visible")}
    stored = {"price": stored_price, "visible": stored_visible}
    return [
        PushedChange(
            account_id=account_id,
            asin=row.asin,
            base_item_id=int(row.base_item_id),
            field=name,
            old_value=stored[name],
            new_value=live[name],
            reason="drift: BASE shows a different value (reconciliation)",
            at=at,
        )
        for name in ("price", "visible")
        if isinstance(live[name], int) and live[name] != stored[name]
    ]
