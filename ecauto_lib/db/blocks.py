"""BASE shops blocked by their daily call budget (table ``base_budget_blocks``, one row per shop)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ecauto_lib.db.engine import begin_write
from ecauto_lib.db.models import base_budget_blocks as table
from ecauto_lib.domain import BudgetBlock


def record_block(engine: sa.Engine, block: BudgetBlock, at: datetime) -> None:
    """Remember that ``block.account_id`` may not be called before ``block.blocked_until``."""
    with begin_write(engine) as conn:
        conn.execute(sa.delete(table).where(table.c.account_id == block.account_id))
        conn.execute(
            sa.insert(table).values(
                account_id=block.account_id,
                code=block.code,
                blocked_until=block.blocked_until,
                recorded_at=at,
            )
        )


def active_block(engine: sa.Engine, account_id: str, now: datetime) -> BudgetBlock | None:
    """The shop's block if it has not ended at ``now`` (a read: dry runs may ask too)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(table.c.code, table.c.blocked_until).where(
                table.c.account_id == account_id, table.c.blocked_until > now
            )
        ).first()
    return None if row is None else BudgetBlock(account_id, row.code, row.blocked_until)


def clear_block(engine: sa.Engine, account_id: str) -> None:
    """Forget the shop's block (BASE answered again)."""
    with begin_write(engine) as conn:
        conn.execute(sa.delete(table).where(table.c.account_id == account_id))
