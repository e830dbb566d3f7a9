"""The push journal: every BASE edit is recorded before it is sent and marked when confirmed.

A run killed at any point leaves at most the entries it was sending in status ``sent``. The next
run settles them *before* planning anything: it reads the item from BASE and, if BASE already
shows the new values, records the change (``recovered``) without sending it again; otherwise the
entry is ``abandoned`` and the fresh plan decides. So nothing is lost, nothing is sent twice, and
the DB ends up agreeing with what BASE was told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ecauto_lib.db.changes import write_pushed_changes
from ecauto_lib.db.engine import begin_write
from ecauto_lib.db.models import push_journal
from ecauto_lib.domain import ItemUpdate, PushedChange


@dataclass(frozen=True)
class JournalEntry:
    """An edit that was (maybe) sent and never confirmed: the planned update, as journalled."""

    id: int
    run_id: int | None
    update: ItemUpdate

    @property
    def base_item_id(self) -> int:
        return self.update.base_item_id

    @property
    def fields(self) -> dict[str, int]:
        return self.update.fields

    def changes(self, at: datetime, reason_prefix: str = "") -> list[PushedChange]:
        return self.update.changes(at, reason_prefix=reason_prefix)


def record_sending(engine: sa.Engine, run_id: int | None, update: ItemUpdate, at: datetime) -> int:
    """Journal one planned edit (status ``sent``) before it goes out; returns the entry id."""
    with begin_write(engine) as conn:
        return int(
            conn.execute(
                sa.insert(push_journal)
                .values(
                    run_id=run_id,
                    account_id=update.account_id,
                    asin=update.asin,
                    base_item_id=update.base_item_id,
                    fields=dict(update.fields),
                    old_values=dict(update.old),
                    reasons=dict(update.reasons),
                    status="sent",
                    created_at=at,
                    updated_at=at,
                )
                .returning(push_journal.c.id)
            ).scalar_one()
        )


def record_confirmed(
    engine: sa.Engine,
    entry_id: int,
    run_id: int | None,
    changes: Sequence[PushedChange],
    *,
    status: str = "confirmed",
) -> None:
    """BASE confirmed the edit: listing, history and journal are updated in one transaction."""
    at = changes[0].at if changes else None
    with begin_write(engine) as conn:
        write_pushed_changes(conn, run_id, changes)
        conn.execute(
            sa.update(push_journal).where(push_journal.c.id == entry_id).values(status=status, updated_at=at)
        )


def record_outcome(engine: sa.Engine, entry_id: int, status: str, at: datetime) -> None:
    """Close an entry without changing the listing (``failed`` or ``abandoned``)."""
    with begin_write(engine) as conn:
        conn.execute(
            sa.update(push_journal).where(push_journal.c.id == entry_id).values(status=status, updated_at=at)
        )


def unconfirmed(engine: sa.Engine, account_id: str) -> list[JournalEntry]:
    """Entries of this account still ``sent``: a run died between sending and confirming."""
    with engine.connect() as conn:
        result = conn.execute(
            sa.select(push_journal)
            .where(push_journal.c.account_id == account_id, push_journal.c.status == "sent")
            .order_by(push_journal.c.id)
        )
        return [
            JournalEntry(
                id=r.id,
                run_id=r.run_id,
                update=ItemUpdate(
                    account_id=r.account_id,
                    asin=r.asin,
                    base_item_id=int(r.base_item_id),
                    fields={k: int(v) for k, v in r.fields.items()},
                    old={k: (None if v is None else int(v)) for k, v in r.old_values.items()},
                    reasons=dict(r.reasons),
                ),
            )
            for r in result
        ]
