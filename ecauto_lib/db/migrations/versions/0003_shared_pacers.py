"""Shared SP-API pacers: one token bucket per (seller, operation) that every process uses.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Frozen: this file must not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quota_buckets",
        sa.Column("key", sa.String(120), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("next_free", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_quota_buckets"),
    )


def downgrade() -> None:
    op.drop_table("quota_buckets")
