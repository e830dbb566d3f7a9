"""Held changes: what the guards held for review, so --confirm releases exactly those.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

One row per (shop, item, field): the value the guards held, why, and which run held it. A
--confirm run releases a change it would hold again only when it matches a row here by shop,
item, field and value (issue #10). Frozen: this file must not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "held_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("base_item_id", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("old_value", sa.Integer(), nullable=True),
        sa.Column("new_value", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("field IN ('price', 'visible')", name="ck_held_changes_field"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_held_changes_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_held_changes"),
        sa.UniqueConstraint(
            "account_id", "base_item_id", "field", name="uq_held_changes_account_id_base_item_id_field"
        ),
    )


def downgrade() -> None:
    op.drop_table("held_changes")
