"""Crash safety: the push journal and per-account run locks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Frozen: this file must not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "push_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("base_item_id", sa.BigInteger(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("old_values", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('sent', 'confirmed', 'recovered', 'abandoned', 'failed')",
            name="ck_push_journal_status",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_push_journal_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_push_journal"),
    )
    op.create_index("ix_push_journal_account_id_status", "push_journal", ["account_id", "status"])
    op.create_table(
        "account_locks",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("acquired_at", _utc(), nullable=False),
        sa.Column("heartbeat_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_account_locks"),
    )


def downgrade() -> None:
    op.drop_table("account_locks")
    op.drop_index("ix_push_journal_account_id_status", table_name="push_journal")
    op.drop_table("push_journal")
