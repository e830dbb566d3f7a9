"""BASE stock: listings.base_stock and base_variations; "stock" changes in the history.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Issue #11 §2: import, reconcile and every push record the stock BASE shows (the item's, and its
variations' as JSON ``[{"variation_id", "stock", "identifier", "name"}]``); change_history accepts
the field ``stock`` and says which variation a stock change was for. Frozen: this file must not
import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.add_column(sa.Column("base_stock", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("base_variations", sa.JSON(), nullable=True))
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table.
    with op.batch_alter_table("change_history", recreate="auto") as batch:
        batch.drop_constraint(op.f("ck_change_history_field"), type_="check")
        batch.create_check_constraint(
            op.f("ck_change_history_field"), "field IN ('price', 'visible', 'stock')"
        )
        batch.add_column(sa.Column("variation_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM change_history WHERE field = 'stock'")
    with op.batch_alter_table("change_history", recreate="auto") as batch:
        batch.drop_column("variation_id")
        batch.drop_constraint(op.f("ck_change_history_field"), type_="check")
        batch.create_check_constraint(op.f("ck_change_history_field"), "field IN ('price', 'visible')")
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("base_variations")
        batch.drop_column("base_stock")
