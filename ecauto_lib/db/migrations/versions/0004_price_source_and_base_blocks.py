"""Where a product's price came from, and BASE shops blocked by their daily call limit.

``products.price_source``: ``offer`` (a listed offer passed the filter) or ``summary`` (Amazon
listed only the 20 lowest-priced offers and the price is the Summary's Amazon-fulfilled one); the
values are ``ecauto_lib.domain.PriceSource`` (no CHECK: SQLite cannot add one to an existing
table without rebuilding ``products``, which ``listings`` references).

``base_budget_blocks``: a shop BASE refused with ``day_api_limit`` is not called again until
``blocked_until`` (the next daily reset), so hourly runs spend no calls on it meanwhile.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Frozen: this file must not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("products", sa.Column("price_source", sa.String(16), nullable=True))
    op.create_table(
        "base_budget_blocks",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("blocked_until", _utc(), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_base_budget_blocks"),
    )


def downgrade() -> None:
    op.drop_table("base_budget_blocks")
    with op.batch_alter_table("products") as batch:
        batch.drop_column("price_source")
