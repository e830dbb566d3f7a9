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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

import pandas as pd

from ecauto_lib.base.errors import BudgetExhaustedError
from ecauto_lib.domain import BudgetBlock, PushedChange
from ecauto_lib.errors import EcAutoError


class ItemLookup(Protocol):
    """What checking a missing item needs (``ecauto_lib.base.BaseClient`` provides it)."""

    def item_detail(self, item_id: int) -> dict | None: ...


@dataclass(frozen=True)
class ScanMiss:
    """A listing the page scan did not show, as ``items/detail`` answered for it: gone, still
    there, or not answered (``error``: BASE's code or the error's type, and its message)."""

    asin: str
    base_item_id: int
    error: str | None = None
    message: str = ""


@dataclass(frozen=True)
class Drift:
    """The repairs one shop needs, and how the listings missing from the scan were checked."""

    account_id: str
    corrections: list[PushedChange] = field(default_factory=list)  # DB value → what BASE shows
    deleted: list[ScanMiss] = field(default_factory=list)  # BASE said no_item
    still_there: list[ScanMiss] = field(default_factory=list)  # missing from the scan, found by detail
    unchecked: list[ScanMiss] = field(default_factory=list)  # the lookup failed (error, message)
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


@dataclass(frozen=True)
class ShopReconciliation:
    """What reconciling one shop came to: its drift, or the block it was skipped for (the report)."""

    account_id: str
    name: str
    scanned: int = 0  # items the page scan returned
    drift: Drift | None = None  # None: skipped, nothing read
    skipped_by: BudgetBlock | None = None  # BASE refused the shop for the day
    dry_run: bool = False  # nothing repaired: the drift is what a real run would correct

    @classmethod
    def skipped(cls, account_id: str, name: str, block: BudgetBlock) -> ShopReconciliation:
        return cls(account_id, name, skipped_by=block)

    @property
    def needs_attention(self) -> bool:
        """A listing that could not be checked, a shop not read at all, or drift repaired (exit 1);
        in a dry run drift alone is the answer asked for, not trouble (exit 0)."""
        if self.drift is None or self.drift.unchecked:
            return True
        return bool(self.drift.count) and not self.dry_run

    def counts(self) -> dict[str, Any]:
        if self.drift is None:
            return {"skipped": self.skipped_by.code if self.skipped_by else None}
        d = self.drift
        return {
            "checked": d.checked,
            "corrected": len(d.corrections),
            "deleted": len(d.deleted),
            "missing": d.missing,
            "detail_checked": d.detail_checked,
            "still_there": len(d.still_there),
            "unchecked": len(d.unchecked),
        }

    def describe(self) -> str:
        head = f"{self.account_id} ({self.name})"
        if self.drift is None:
            block = self.skipped_by
            why = (
                f"BASE {block.code} until {block.blocked_until.isoformat(timespec='minutes')}"
                if block
                else ""
            )
            return f"{head}: skipped, {why}"
        d = self.drift
        corrected, delisted = (
            ("would be corrected", "would be delisted") if self.dry_run else ("corrected", "")
        )
        gone = f"{len(d.deleted)} gone from BASE" + (f" ({len(d.deleted)} {delisted})" if delisted else "")
        return (
            f"{head}: {d.checked} listings checked against {self.scanned} items, {len(d.corrections)} values "
            f"{corrected}; {d.missing} missing from the scan, checked with items/detail: {gone}, "
            f"{len(d.still_there)} still there, {len(d.unchecked)} not answered (left listed)"
        )

    def rows(self) -> list[dict[str, Any]]:
        """The ``reconcile-drift`` artifact's rows: every correction, deletion and unchecked listing."""
        if self.drift is None:
            return []
        shop = self.account_id
        return [
            *(
                {
                    "account_id": shop,
                    "asin": c.asin,
                    "base_item_id": c.base_item_id,
                    "field": c.field,
                    "db_value": c.old_value,
                    "base_value": c.new_value,
                }
                for c in self.drift.corrections
            ),
            *(
                {
                    "account_id": shop,
                    "asin": d.asin,
                    "base_item_id": d.base_item_id,
                    "field": "deleted",
                    "db_value": None,
                    "base_value": None,
                }
                for d in self.drift.deleted
            ),
            *(
                {
                    "account_id": shop,
                    "asin": d.asin,
                    "base_item_id": d.base_item_id,
                    "field": "unchecked",
                    "db_value": None,
                    "base_value": d.message,
                }
                for d in self.drift.unchecked
            ),
        ]


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
    row: Any  # a row of load_listings' columns, typed by the frame's dtypes (unseen by the type checker)
    for row in mine.itertuples(index=False):
        item = by_id.get(int(row.base_item_id))
        if item is None:
            missing.append(row)
        else:
            drift.corrections.extend(_corrections(account_id, row, item, at))
    for position, row in enumerate(missing):
        ref = ScanMiss(row.asin, int(row.base_item_id))
        try:
            item = lookup.item_detail(int(row.base_item_id))
        except EcAutoError as exc:
            code = getattr(exc, "code", None) or type(exc).__name__
            if isinstance(exc, BudgetExhaustedError):  # no call left: the rest waits for the next run
                drift.unchecked.extend(
                    ScanMiss(r.asin, int(r.base_item_id), code, str(exc)) for r in missing[position:]
                )
                break
            drift.unchecked.append(replace(ref, error=code, message=str(exc)))
            continue
        if item is None:
            drift.deleted.append(ref)
        else:
            drift.still_there.append(ref)
            drift.corrections.extend(_corrections(account_id, row, item, at))
    return drift


def _corrections(account_id: str, row: Any, item: dict[str, Any], at: datetime) -> list[PushedChange]:
    """The price/visibility/stock the DB has wrong for one listing, given the item BASE shows."""
    stored_price = None if pd.isna(row.base_price) else int(row.base_price)
    stored_visible = None if pd.isna(row.base_visible) else int(bool(row.base_visible))
    stored_stock = None if pd.isna(row.base_stock) else int(row.base_stock)
    live = {"price": item.get("price"), "visible": item.get("visible"), "stock": item.get("stock")}
    stored = {"price": stored_price, "visible": stored_visible, "stock": stored_stock}
    return [
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
        for name, value in live.items()
        if isinstance(value, int) and value != stored[name]
    ]
