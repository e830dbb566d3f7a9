"""Lock holders identified by a random token, not host:pid.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Rows written before this revision have no token: their holder can be taken over only when
its heartbeat is stale.

Frozen: this file must not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("account_locks") as batch:
        batch.add_column(sa.Column("token", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account_locks") as batch:
        batch.drop_column("token")
