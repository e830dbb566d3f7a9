"""Held changes in the master DB: what the guards held for review, for ``--confirm`` to release.

Storage (migration 0007, table ``held_changes``): one row per (shop, item, field) with the value
held and why. A run that is not a dry run calls :func:`record_held` once its plan is final:

* for the fields its mode decides for every listing (full: price and visibility; --price-only:
  price; --stock-only: visibility) the shop's stored rows are replaced by this run's holds, so a
  hold nobody confirmed disappears as soon as a run no longer holds it;
* for the other fields only the items this run planned, held or released are replaced (a
  --stock-only run that re-checks the price of one item it publishes leaves the price holds of
  the rest alone).

A --confirm run reads them with :func:`load_held` before the guards run; the guards release a
change only if it matches a row by shop, item, field and value (ecauto_lib.guards).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa

from ecauto_lib.db.engine import begin_write
from ecauto_lib.db.models import HELD_FIELDS, held_changes, release_requests
from ecauto_lib.domain import CHANGE_COLUMNS, HeldChange


def load_held(engine: sa.Engine, account_ids: Sequence[str]) -> list[HeldChange]:
    """The stored held changes of ``account_ids``, by shop, item and field."""
    columns = [held_changes.c[c] for c in CHANGE_COLUMNS]
    stmt = (
        sa.select(*columns)
        .where(held_changes.c.account_id.in_(list(account_ids)))
        .order_by(held_changes.c.account_id, held_changes.c.base_item_id, held_changes.c.field)
    )
    with engine.connect() as conn:
        return [
            HeldChange(
                account_id=r.account_id,
                asin=r.asin,
                base_item_id=int(r.base_item_id),
                field=r.field,
                old_value=None if r.old_value is None else int(r.old_value),
                new_value=int(r.new_value),
                reason=r.reason,
            )
            for r in conn.execute(stmt)
        ]


def record_held(
    engine: sa.Engine,
    account_ids: Sequence[str],
    decided_fields: Sequence[str],
    touched: Iterable[tuple[str, int, str]],
    held: Sequence[HeldChange],
    *,
    run_id: int | None,
    at: datetime,
) -> None:
    """Replace the stored holds this run decided on by the ones it made, in one transaction.

    ``decided_fields``: fields the run decided for every listing of its shops; ``touched``:
    (shop, item id, field) of every change it planned, held or released.
    """
    for change in held:
        if change.field not in HELD_FIELDS:
            raise ValueError(f"a held change must be one of {HELD_FIELDS}, got {change.field!r}")
    accounts = sorted(set(account_ids))
    touched_keys = sorted(
        {(a, int(i), f) for a, i, f in touched if a in accounts}
        | {(h.account_id, h.base_item_id, h.field) for h in held if h.account_id in accounts}
    )
    with begin_write(engine) as conn:
        fields = [f for f in decided_fields if f in HELD_FIELDS]
        if accounts and fields:
            conn.execute(
                sa.delete(held_changes).where(
                    held_changes.c.account_id.in_(accounts), held_changes.c.field.in_(fields)
                )
            )
        stmt = sa.delete(held_changes).where(
            held_changes.c.account_id == sa.bindparam("_account"),
            held_changes.c.base_item_id == sa.bindparam("_item", type_=sa.BigInteger()),
            held_changes.c.field == sa.bindparam("_field"),
        )
        keys = [{"_account": a, "_item": i, "_field": f} for a, i, f in touched_keys if f not in fields]
        if keys:
            conn.execute(stmt, keys)
        rows = [
            {
                "account_id": h.account_id,
                "asin": h.asin,
                "base_item_id": h.base_item_id,
                "field": h.field,
                "old_value": h.old_value,
                "new_value": h.new_value,
                "reason": h.reason,
                "run_id": run_id,
                "held_at": at,
            }
            for h in sorted(held, key=lambda h: (h.account_id, h.base_item_id, h.field))
            if h.account_id in accounts
        ]
        if rows:
            conn.execute(sa.insert(held_changes), rows)


def _requested(conn: sa.Connection, account_ids: Sequence[str]) -> set[str]:
    """The shops among ``account_ids`` with a release request."""
    column = release_requests.c.account_id
    return set(conn.execute(sa.select(column).where(column.in_(list(account_ids)))).scalars())


def request_release(engine: sa.Engine, account_ids: Sequence[str], at: datetime) -> None:
    """Ask whichever sync holds these shops to release their held changes (one request per shop;
    asking again keeps the first time)."""
    with begin_write(engine) as conn:
        have = _requested(conn, account_ids)
        rows = [{"account_id": a, "requested_at": at} for a in account_ids if a not in have]
        if rows:
            conn.execute(sa.insert(release_requests), rows)


def take_release_requests(engine: sa.Engine, account_ids: Sequence[str]) -> set[str]:
    """The shops among ``account_ids`` whose held changes a seller asked to release, the requests
    taken (deleted) in the same transaction, so one run takes each request once."""
    with begin_write(engine) as conn:
        asked = _requested(conn, account_ids)
        if asked:
            conn.execute(sa.delete(release_requests).where(release_requests.c.account_id.in_(sorted(asked))))
        return asked
