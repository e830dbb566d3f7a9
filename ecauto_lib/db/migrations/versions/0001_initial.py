"""Initial schema: products, listings, runs, change_history, base_tokens.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Frozen: this file must not import the models (they will move on; this revision must not).
Timestamps are ``DateTime(timezone=True)``, the DDL of ``models.UtcDateTime``.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("brand", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("info_fetched_at", _utc(), nullable=True),
        sa.Column("amazon_price_yen", sa.Integer(), nullable=True),
        sa.Column("shipping_yen", sa.Integer(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("price_fetched_at", _utc(), nullable=True),
        sa.Column("stock_state", sa.String(16), server_default="unknown", nullable=False),
        sa.Column("offer_count", sa.Integer(), nullable=True),
        sa.Column("stock_fetched_at", _utc(), nullable=True),
        sa.Column("last_outcome", sa.String(16), nullable=True),
        sa.Column("last_reason", sa.Text(), nullable=True),
        sa.Column("last_error_at", _utc(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("asin", name=op.f("pk_products")),
        sa.CheckConstraint(
            "stock_state IN ('in_stock', 'out_of_stock', 'filtered_out', 'unknown')",
            name=op.f("ck_products_stock_state"),
        ),
        sa.CheckConstraint(
            "last_outcome IN ('in_stock', 'out_of_stock', 'filtered_out', 'error')",
            name=op.f("ck_products_last_outcome"),
        ),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("accounts", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), server_default="running", nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_table(
        "listings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("base_item_id", sa.BigInteger(), nullable=False),
        sa.Column("base_price", sa.Integer(), nullable=True),
        sa.Column("base_visible", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(16), server_default="listed", nullable=False),
        sa.Column("delisted_reason", sa.Text(), nullable=True),
        sa.Column("deferred_at", _utc(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listings")),
        sa.ForeignKeyConstraint(["asin"], ["products.asin"], name=op.f("fk_listings_asin_products")),
        sa.UniqueConstraint("account_id", "asin", name=op.f("uq_listings_account_id_asin")),
        sa.UniqueConstraint("account_id", "base_item_id", name=op.f("uq_listings_account_id_base_item_id")),
        sa.CheckConstraint("status IN ('listed', 'delisted')", name=op.f("ck_listings_status")),
    )
    op.create_index(op.f("ix_listings_asin"), "listings", ["asin"])
    op.create_table(
        "change_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("base_item_id", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("old_value", sa.Integer(), nullable=True),
        sa.Column("new_value", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_history")),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_change_history_run_id_runs")),
        sa.CheckConstraint("field IN ('price', 'visible')", name=op.f("ck_change_history_field")),
    )
    op.create_index(op.f("ix_change_history_account_id_asin"), "change_history", ["account_id", "asin"])
    op.create_table(
        "base_tokens",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_base_tokens")),
    )


def downgrade() -> None:
    op.drop_table("base_tokens")
    op.drop_index(op.f("ix_change_history_account_id_asin"), table_name="change_history")
    op.drop_table("change_history")
    op.drop_index(op.f("ix_listings_asin"), table_name="listings")
    op.drop_table("listings")
    op.drop_table("runs")
    op.drop_table("products")
