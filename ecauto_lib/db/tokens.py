"""BASE OAuth token pairs per shop account, kept in the master DB.

A refresh may rotate the refresh token (UNCONFIRMED whether BASE does: see base-api.md §2), so
:meth:`DbTokenStore.save` commits before it returns: the new pair is durable before anyone uses it.
Token values never appear in reprs, exception messages or logs: database errors are re-raised as
:class:`TokenStoreError` with only the account id and the error type.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from ecauto_lib.db.engine import begin_write, dialect_insert, safe_url
from ecauto_lib.db.models import base_tokens
from ecauto_lib.domain import BaseTokens
from ecauto_lib.errors import EcAutoError


class TokenStoreError(EcAutoError):
    """The token store could not read or write (the message holds no token values)."""


class DbTokenStore:
    """Load and save each BASE shop's OAuth pair in the ``base_tokens`` table. Thread-safe."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def __repr__(self) -> str:
        return f"DbTokenStore({safe_url(str(self._engine.url))})"

    def load(self, account_id: str) -> BaseTokens | None:
        """The stored pair of ``account_id``, or None when the shop was never authorised."""
        stmt = sa.select(
            base_tokens.c.access_token, base_tokens.c.refresh_token, base_tokens.c.expires_at
        ).where(base_tokens.c.account_id == account_id)
        try:
            with self._engine.connect() as conn:
                row = conn.execute(stmt).first()
        except sa.exc.SQLAlchemyError as exc:
            raise TokenStoreError(
                f"cannot load BASE tokens of account {account_id}: {type(exc).__name__}"
            ) from None
        if row is None:
            return None
        return BaseTokens(
            access_token=row.access_token, refresh_token=row.refresh_token, expires_at=row.expires_at
        )

    def save(self, account_id: str, tokens: BaseTokens) -> None:
        """Insert or replace the pair of ``account_id``; committed when this returns."""
        expires_at = tokens.expires_at
        if expires_at.tzinfo is None or expires_at.utcoffset() is None:
            raise ValueError(f"expires_at of account {account_id}'s BASE tokens must be timezone-aware")
        values = {
            "account_id": account_id,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": expires_at,
            "updated_at": datetime.now(UTC),
        }
        try:
            with begin_write(self._engine) as conn:
                stmt = dialect_insert(conn, base_tokens)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[base_tokens.c.account_id],
                    set_={
                        c: stmt.excluded[c]
                        for c in ("access_token", "refresh_token", "expires_at", "updated_at")
                    },
                )
                conn.execute(stmt, values)
        except sa.exc.SQLAlchemyError as exc:
            raise TokenStoreError(
                f"cannot save BASE tokens of account {account_id}: {type(exc).__name__}"
            ) from None
