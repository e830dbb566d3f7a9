"""Changes BASE confirmed: the ``listings`` columns they set and their ``change_history`` rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from ecauto_lib.db.bulk import require_aware
from ecauto_lib.db.engine import begin_write
from ecauto_lib.db.models import CHANGE_FIELDS, UtcDateTime, change_history, listings
from ecauto_lib.domain import PushedChange


def apply_pushed_changes(engine: sa.Engine, run_id: int | None, changes: Iterable[PushedChange]) -> None:
    """Record changes BASE confirmed, in one transaction.

    Each change sets ``listings.base_price`` (field ``price``), ``listings.base_visible`` (field
    ``visible``, 1/0 → True/False) or ``listings.base_stock`` (field ``stock`` of the item itself)
    of its (account, item id), clears ``deferred_at``, sets ``updated_at`` to the change's time,
    and adds one ``change_history`` row. A variation's stock change is history only: the item's
    stock and variations are recorded from BASE's answer (:func:`record_item_stock`).
    """
    changes = _checked_changes(changes)
    if not changes:
        return
    with begin_write(engine) as conn:
        write_pushed_changes(conn, run_id, changes)


def _checked_changes(changes: Iterable[PushedChange]) -> list[PushedChange]:
    changes = list(changes)
    for change in changes:
        if change.field not in CHANGE_FIELDS:
            raise ValueError(f"unknown change field {change.field!r} (expected one of {CHANGE_FIELDS})")
        require_aware(change.at, f"time of the {change.field} change of item {change.base_item_id}")
    return changes


def write_pushed_changes(conn: sa.Connection, run_id: int | None, changes: Sequence[PushedChange]) -> None:
    """The body of :func:`apply_pushed_changes`, inside the caller's transaction."""
    changes = _checked_changes(changes)
    if not changes:
        return
    for field_name, column in (("price", "base_price"), ("visible", "base_visible"), ("stock", "base_stock")):
        params = [
            {
                "_account": c.account_id,
                "_item": c.base_item_id,
                "_new": bool(c.new_value) if field_name == "visible" else c.new_value,
                "_at": c.at,
            }
            # sorted (stably) so concurrent writers lock rows in the same order
            for c in sorted(changes, key=lambda c: (c.account_id, c.base_item_id))
            if c.field == field_name and c.variation_id is None
        ]
        if params:
            conn.execute(_listing_change_update(column), params)
    conn.execute(
        sa.insert(change_history),
        [
            {
                "run_id": run_id,
                "account_id": c.account_id,
                "asin": c.asin,
                "base_item_id": c.base_item_id,
                "field": c.field,
                "old_value": c.old_value,
                "new_value": c.new_value,
                "reason": c.reason,
                "at": c.at,
                "variation_id": c.variation_id,
            }
            for c in changes
        ],
    )


def _listing_change_update(column: str) -> sa.Update:
    """UPDATE of one listing column by (account, item id), clearing the deferral."""
    value_type: sa.types.TypeEngine[Any] = sa.Boolean() if column == "base_visible" else sa.Integer()
    return (
        sa.update(listings)
        .where(
            listings.c.account_id == sa.bindparam("_account"),
            listings.c.base_item_id == sa.bindparam("_item", type_=sa.BigInteger()),
        )
        .values(
            {
                column: sa.bindparam("_new", type_=value_type),
                "deferred_at": None,
                "updated_at": sa.bindparam("_at", type_=UtcDateTime()),
            }
        )
    )
