"""Where a product's price came from.

``products.price_source``: ``offer`` (a listed offer passed the filter) or ``summary`` (Amazon
listed only the 20 lowest-priced offers and the price is the Summary's Amazon-fulfilled one); the
values are ``ecauto_lib.domain.PriceSource`` (no CHECK: SQLite cannot add one to an existing
table without rebuilding ``products``, which ``listings`` references).

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-30

Frozen: this file must not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("products", sa.Column("price_source", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as batch:
        batch.drop_column("price_source")
