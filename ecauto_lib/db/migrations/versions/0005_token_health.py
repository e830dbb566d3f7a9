"""Token health of each BASE shop: when it was authorised (and which BASE shop), refreshed, refused.

Revision ID: 0005
Revises: 0004 (reserved on 0003; re-chained after 0005 when rebased on main)
Create Date: 2026-12-01

Frozen: this file must not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("refresh_issued_at", sa.DateTime(timezone=True)),
    ("authorised_at", sa.DateTime(timezone=True)),
    ("base_shop_id", sa.Text()),
    ("base_shop_name", sa.Text()),
    ("base_shop_url", sa.Text()),
    ("refreshed_at", sa.DateTime(timezone=True)),
    ("refused_at", sa.DateTime(timezone=True)),
    ("refusal", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("base_tokens") as batch:
        for name, type_ in _COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("base_tokens") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
