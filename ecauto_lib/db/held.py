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
change only if it matches a row by shop, item, field and value (ecauto_lib.guards). A released
change stays stored as held until BASE has it: :func:`settle_released` drops it after the push.

A --confirm that finds a sync holding the shops records a release request instead
(:func:`request_release`); each round of that sync reads it (:func:`pending_release_requests`),
releases the shop's holds, and closes it with :func:`settle_released` once they are on BASE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa

from ecauto_lib.db.engine import begin_write
from ecauto_lib.db.models import HELD_FIELDS, UtcDateTime, held_changes, release_requests
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


def pending_release_requests(engine: sa.Engine, account_ids: Sequence[str]) -> dict[str, datetime]:
    """The shops among ``account_ids`` whose held changes a seller asked to release, and when.
    Read, not taken: :func:`settle_released` removes a request once what it released is
    on BASE, so a round that crashes or whose push fails leaves it for the next one."""
    column = release_requests.c.account_id
    stmt = sa.select(column, release_requests.c.requested_at).where(column.in_(list(account_ids)))
    with engine.connect() as conn:
        return {r.account_id: r.requested_at for r in conn.execute(stmt)}


def request_release(engine: sa.Engine, account_ids: Sequence[str], at: datetime) -> None:
    """Ask whichever sync holds these shops to release their held changes (one request per shop;
    asking again moves its time to ``at``, so a round that read the earlier one leaves it open)."""
    accounts = sorted(set(account_ids))
    with begin_write(engine) as conn:
        conn.execute(sa.delete(release_requests).where(release_requests.c.account_id.in_(accounts)))
        if accounts:
            conn.execute(
                sa.insert(release_requests), [{"account_id": a, "requested_at": at} for a in accounts]
            )


def settle_released(
    engine: sa.Engine, on_base: Iterable[tuple[str, int, str]], done: Mapping[str, datetime]
) -> None:
    """After a push, in one transaction: drop the holds of the released changes now on BASE
    (``on_base``: shop, item id, field) and close the release requests ``done`` names (shop →
    the time read; a request asked again since stays open). :func:`record_held` keeps a released
    change stored as held until this runs, so a crash or a failed push before it releases the
    change again in the next round rather than holding it for a second ``--confirm``."""
    keys = [{"_account": a, "_item": int(i), "_field": f} for a, i, f in on_base]
    requests = [{"_account": a, "_at": at} for a, at in sorted(done.items())]
    with begin_write(engine) as conn:
        if keys:
            conn.execute(
                sa.delete(held_changes).where(
                    held_changes.c.account_id == sa.bindparam("_account"),
                    held_changes.c.base_item_id == sa.bindparam("_item", type_=sa.BigInteger()),
                    held_changes.c.field == sa.bindparam("_field"),
                ),
                keys,
            )
        if requests:
            conn.execute(
                sa.delete(release_requests).where(
                    release_requests.c.account_id == sa.bindparam("_account"),
                    release_requests.c.requested_at <= sa.bindparam("_at", type_=UtcDateTime()),
                ),
                requests,
            )
