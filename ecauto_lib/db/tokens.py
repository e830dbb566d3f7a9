"""BASE OAuth token pairs per shop account, kept in the master DB.

A refresh may rotate the refresh token (UNCONFIRMED whether BASE does: see base-api.md §2), so
:meth:`DbTokenStore.save` commits before it returns: the new pair is durable before anyone uses it.

Beside each pair the table keeps its health, with no secret in it (:class:`TokenRecord`): when the
refresh token was issued, when ``connect_shop`` authorised the shop, the last refresh, and BASE's
refusal of the stored refresh token. Only :meth:`DbTokenStore.load` and :meth:`DbTokenStore.save`
read or write token values.

Token values never appear in reprs, exception messages or logs. Database errors are replaced by a
:class:`TokenStoreError` holding only the account id and the error type, with no chained
exception: a driver message can quote the failing row (PostgreSQL's "Failing row contains ..."),
which here would include the tokens.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa

from ecauto_lib.db.engine import begin_write, dialect_insert, sqlite_file
from ecauto_lib.db.models import base_tokens
from ecauto_lib.domain import BaseShop, BaseTokens, TokenRecord
from ecauto_lib.errors import EcAutoError

# Written by every save (a refresh or an authorisation): the pair, and its health reset.
_TOKEN_COLUMNS = ("access_token", "refresh_token", "expires_at", "updated_at", "refresh_issued_at")
_CLEARED_BY_SAVE = ("refused_at", "refusal")
# Written by a refresh only / by an authorisation (connect_shop) only.
_REFRESH_COLUMNS = ("refreshed_at",)
_AUTHORISATION_COLUMNS = ("authorised_at", "base_shop_id", "base_shop_name", "base_shop_url", "refreshed_at")


class TokenStoreError(EcAutoError):
    """The token store could not read or write (the message holds no token values)."""


class DbTokenStore:
    """Load and save each BASE shop's OAuth pair in the ``base_tokens`` table. Thread-safe."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def __repr__(self) -> str:
        return f"DbTokenStore({self._engine.url.render_as_string(hide_password=True)})"

    @contextmanager
    def refresh_lock(self, account_id: str) -> Iterator[None]:
        """Serialise token refreshes of one shop across processes (a reconcile beside a sync,
        two workers): the second waits, then finds the fresh pair the first saved.

        PostgreSQL: a session advisory lock on its own connection (other writes go on, and no
        transaction stays open through BASE's answer, as ``pg_advisory_xact_lock`` would need).
        SQLite: an exclusive ``flock`` on a file beside the database (SQLite's scope is one machine).
        """
        if self._engine.dialect.name == "postgresql":
            key = int.from_bytes(
                hashlib.sha256(f"ecauto-base-refresh|{account_id}".encode()).digest()[:8], "big", signed=True
            )
            with self._engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
            return
        database = sqlite_file(self._engine.url)
        if database is None:  # :memory: (one process) or a file: URI (no path of ours to lock beside)
            yield
            return
        lock_path = database.with_name(database.name + f".refresh-{_safe(account_id)}.lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self, account_id: str) -> BaseTokens | None:
        """The stored pair of ``account_id``, or None when the shop was never authorised."""
        stmt = sa.select(
            base_tokens.c.access_token,
            base_tokens.c.refresh_token,
            base_tokens.c.expires_at,
            base_tokens.c.refresh_issued_at,
        ).where(base_tokens.c.account_id == account_id)
        failure: str | None = None
        try:
            with self._engine.connect() as conn:
                row = conn.execute(stmt).first()
        except sa.exc.SQLAlchemyError as exc:
            failure = type(exc).__name__
        if failure is not None:  # raised outside the handler: nothing chained
            raise TokenStoreError(f"cannot load BASE tokens of account {account_id}: {failure}")
        if row is None:
            return None
        return BaseTokens(
            access_token=row.access_token,
            refresh_token=row.refresh_token,
            expires_at=row.expires_at,
            refresh_issued_at=row.refresh_issued_at,
        )

    def save(self, account_id: str, tokens: BaseTokens, *, authorised: BaseShop | None = None) -> None:
        """Insert or replace the pair of ``account_id``; committed when this returns.

        A refresh (``authorised`` None) records the time as the last refresh; an authorisation
        (``connect_shop``, ``authorised`` = the BASE shop ``/1/users/me`` named) records it as
        the authorisation, with the shop, and no refresh since. Either clears a recorded refusal.
        """
        _check_tokens(account_id, tokens)
        now = datetime.now(UTC)
        values: dict[str, object] = {
            "account_id": account_id,
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "updated_at": now,
            "refresh_issued_at": tokens.refresh_issued_at,
            **dict.fromkeys(_CLEARED_BY_SAVE),
        }
        if authorised is None:
            values["refreshed_at"] = now
        else:
            values.update(
                authorised_at=now,
                base_shop_id=authorised.shop_id,
                base_shop_name=authorised.name,
                base_shop_url=authorised.url,
                refreshed_at=None,
            )
        written = _TOKEN_COLUMNS + _CLEARED_BY_SAVE
        written += _REFRESH_COLUMNS if authorised is None else _AUTHORISATION_COLUMNS
        failure: str | None = None
        try:
            with begin_write(self._engine) as conn:
                stmt = dialect_insert(conn, base_tokens)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[base_tokens.c.account_id],
                    set_={c: stmt.excluded[c] for c in written},
                )
                conn.execute(stmt, values)
        except sa.exc.SQLAlchemyError as exc:
            failure = type(exc).__name__
        if failure is not None:  # raised outside the handler: nothing chained
            raise TokenStoreError(f"cannot save BASE tokens of account {account_id}: {failure}")

    def record_refusal(self, account_id: str, refusal: str, at: datetime) -> bool:
        """BASE refused to refresh the stored pair (``refusal``: its ``error: description``, no
        secret); False when no pair is stored. Kept until the next :meth:`save`."""
        stmt = (
            sa.update(base_tokens)
            .where(base_tokens.c.account_id == account_id)
            .values(refused_at=at, refusal=refusal)
        )
        return bool(self._write(account_id, "record the refusal of", stmt).rowcount)

    def refusal(self, account_id: str) -> str | None:
        """BASE's refusal of the stored pair (see :meth:`record_refusal`), or None."""
        record = self.records([account_id]).get(account_id)
        return record.refusal if record is not None else None

    def records(self, account_ids: list[str] | None = None) -> dict[str, TokenRecord]:
        """The health facts of every stored pair (or of ``account_ids``), without token values."""
        c = base_tokens.c
        stmt = sa.select(
            c.account_id,
            c.updated_at,
            c.refresh_issued_at,
            c.authorised_at,
            c.refreshed_at,
            c.refused_at,
            c.refusal,
            c.base_shop_id,
            c.base_shop_name,
            c.base_shop_url,
        )
        if account_ids is not None:
            stmt = stmt.where(c.account_id.in_(account_ids))
        failure: str | None = None
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(stmt).all()
        except sa.exc.SQLAlchemyError as exc:
            failure = type(exc).__name__
        if failure is not None:
            raise TokenStoreError(f"cannot read the BASE token records: {failure}")
        return {
            row.account_id: TokenRecord(
                account_id=row.account_id,
                saved_at=row.updated_at,
                refresh_issued_at=row.refresh_issued_at,
                authorised_at=row.authorised_at,
                refreshed_at=row.refreshed_at,
                refused_at=row.refused_at,
                refusal=row.refusal,
                base_shop=None
                if row.base_shop_id is None
                else BaseShop(row.base_shop_id, row.base_shop_name or "", row.base_shop_url),
            )
            for row in rows
        }

    def _write(self, account_id: str, what: str, stmt: sa.Executable) -> sa.CursorResult:
        failure: str | None = None
        try:
            with begin_write(self._engine) as conn:
                return conn.execute(stmt)
        except sa.exc.SQLAlchemyError as exc:
            failure = type(exc).__name__
        raise TokenStoreError(f"cannot {what} BASE tokens of account {account_id}: {failure}")


def _check_tokens(account_id: str, tokens: BaseTokens) -> None:
    """Refuse a pair that must not be stored (empty token, naive expiry), naming only the field."""
    for name in ("access_token", "refresh_token"):
        value = getattr(tokens, name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"BASE tokens of account {account_id}: {name} is missing or not a string")
    expires_at = tokens.expires_at
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise ValueError(f"BASE tokens of account {account_id}: expires_at must be timezone-aware")


def _safe(account_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", account_id)[:64]
