"""Release requests: a --confirm that found a running sync asks it to release the held changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Issue #17 §2: the hourly sync is a served loop that holds the shops 58 minutes of each hour, so a
--confirm run (or a deployment run with ``confirm=true``) would mostly find them locked. It
records a request per shop here instead; the running sync's next round (or the next run) takes
it and releases what is held. Frozen: this file must not import the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "release_requests",
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_release_requests"),
    )


def downgrade() -> None:
    op.drop_table("release_requests")
