"""BASE OAuth token pairs per shop account, kept in the master DB, encrypted.

A refresh may rotate the refresh token (UNCONFIRMED whether BASE does: see base-api.md §2), so
:meth:`DbTokenStore.save` commits before it returns: the new pair is durable before anyone uses it.

Beside each pair the table keeps its health, with no secret in it (:class:`TokenRecord`): when the
refresh token was issued, when ``connect_shop`` authorised the shop, the last refresh, and BASE's
refusal of the stored refresh token. Only :meth:`DbTokenStore.load` and :meth:`DbTokenStore.save`
read or write token values.

**At rest** the tokens are encrypted with ``ECAUTO_SECRET_KEY`` (Fernet from the well-kept
``cryptography`` package: AES-128-CBC with an HMAC-SHA256 tag, so a wrong key or a changed value
is detected, never silently decrypted). Each value is sealed together with its account id, so a
pair copied to another shop's row is refused. Every read and write of a token value goes through
:class:`TokenCipher` (:meth:`DbTokenStore._sealed` on the way in, :meth:`DbTokenStore._opened`
on the way out): new columns or methods of the store must use those two and nothing else. A
row stored in plain text by an earlier version is refused with the command that encrypts it
(:func:`encrypt_stored_tokens`, ``python flows/encrypt_tokens.py``).

Token values never appear in reprs, exception messages or logs. Database errors are replaced by a
:class:`TokenStoreError` holding only the account id and the error type, with no chained
exception: a driver message can quote the failing row (PostgreSQL's "Failing row contains ..."),
which here would include the tokens.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from ecauto_lib.config import merged_environment
from ecauto_lib.db.engine import begin_write, dialect_insert, sqlite_file
from ecauto_lib.db.models import base_tokens
from ecauto_lib.domain import BaseShop, BaseTokens, TokenRecord
from ecauto_lib.errors import ConfigError, EcAutoError

# Written by every save (a refresh or an authorisation): the pair, and its health reset.
_TOKEN_COLUMNS = ("access_token", "refresh_token", "expires_at", "updated_at", "refresh_issued_at")
_CLEARED_BY_SAVE = ("refused_at", "refusal")
# Written by a refresh only / by an authorisation (connect_shop) only.
_REFRESH_COLUMNS = ("refreshed_at",)
_AUTHORISATION_COLUMNS = ("authorised_at", "base_shop_id", "base_shop_name", "base_shop_url", "refreshed_at")
_SECRET_COLUMNS = ("access_token", "refresh_token")  # encrypted (TokenCipher): _sealed / _opened only
SECRET_KEY_SETTING = "ECAUTO_SECRET_KEY"
SEALED_PREFIX = "fernet:"  # what an encrypted value starts with (plain BASE tokens never do)
ENCRYPT_COMMAND = "python flows/encrypt_tokens.py"
NEW_KEY_COMMAND = "python flows/encrypt_tokens.py --new-key"


class TokenStoreError(EcAutoError):
    """The token store could not read or write (the message holds no token values)."""


class TokenCipher:
    """``ECAUTO_SECRET_KEY``'s Fernet: the one place token values are encrypted and decrypted."""

    def __init__(self, key: str) -> None:
        fernet: Fernet | None = None
        with suppress(ValueError, TypeError):
            fernet = Fernet(key.encode() if isinstance(key, str) else key)
        if fernet is None:  # raised outside the handler: nothing chained
            raise ConfigError(
                SECRET_KEY_SETTING,
                f"must be a Fernet key (44 characters of url-safe base64); make one with `{NEW_KEY_COMMAND}`",
            )
        self._fernet = fernet

    def __repr__(self) -> str:  # never print the key
        return "TokenCipher(***)"

    @classmethod
    def of(cls, secret_key: str | None) -> TokenCipher:
        """The cipher of ``secret_key`` (the settings' ``ECAUTO_SECRET_KEY``), or of the environment's."""
        return cls(secret_key) if secret_key else cls.from_environment()

    @classmethod
    def from_environment(cls) -> TokenCipher:
        """The cipher of ``ECAUTO_SECRET_KEY`` (environment, then ``.env``)."""
        key = merged_environment().get(SECRET_KEY_SETTING)
        if not key:
            raise ConfigError(
                SECRET_KEY_SETTING,
                "is not set: the BASE tokens in the master DB are encrypted with it. Make one with "
                f"`{NEW_KEY_COMMAND}` and put it in .env (keep a copy: without it the shops must be "
                "authorised again)",
            )
        return cls(key)

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, account_id: str, value: str) -> str:
        """``value`` encrypted for ``account_id``'s row."""
        return SEALED_PREFIX + self._fernet.encrypt(f"{account_id}\n{value}".encode()).decode()

    def unseal(self, account_id: str, stored: str) -> str:
        """The value ``seal`` stored for ``account_id``; a ConfigError naming the key otherwise."""
        if not is_sealed(stored):
            raise ConfigError(
                SECRET_KEY_SETTING,
                f"the BASE tokens of account {account_id} are stored unencrypted (by an earlier "
                f"version): run `{ENCRYPT_COMMAND}` once to encrypt them",
            )
        text: str | None = None
        with suppress(InvalidToken, UnicodeDecodeError):
            text = self._fernet.decrypt(stored[len(SEALED_PREFIX) :].encode()).decode()
        if text is None:  # raised outside the handler: nothing chained
            raise ConfigError(
                SECRET_KEY_SETTING,
                f"does not decrypt the BASE tokens of account {account_id}: it is not the key they were "
                "stored with (restore that key, or authorise the shop again)",
            )
        owner, _, value = text.partition("\n")
        if owner != account_id:
            raise ConfigError(
                SECRET_KEY_SETTING,
                f"the stored BASE tokens of account {account_id} were sealed for another account: refused",
            )
        return value


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)


class DbTokenStore:
    """Load and save each BASE shop's OAuth pair in the ``base_tokens`` table. Thread-safe.

    ``cipher`` defaults to ``ECAUTO_SECRET_KEY``'s, read at first use.
    """

    def __init__(self, engine: sa.Engine, cipher: TokenCipher | None = None) -> None:
        self._engine = engine
        self._cipher = cipher

    def _sealer(self) -> TokenCipher:
        if self._cipher is None:
            self._cipher = TokenCipher.from_environment()
        return self._cipher

    def _sealed(self, account_id: str, tokens: BaseTokens) -> dict[str, str]:
        """The token columns of ``account_id``'s row, encrypted: the only way token values go in."""
        cipher = self._sealer()
        return {name: cipher.seal(account_id, getattr(tokens, name)) for name in _SECRET_COLUMNS}

    def _opened(self, account_id: str, row: sa.Row) -> BaseTokens:
        """A stored row as a pair, decrypted: the only way token values come out."""
        cipher = self._sealer()
        return BaseTokens(
            access_token=cipher.unseal(account_id, row.access_token),
            refresh_token=cipher.unseal(account_id, row.refresh_token),
            expires_at=row.expires_at,
            refresh_issued_at=row.refresh_issued_at,
        )

    def check(self, account_ids: list[str] | tuple[str, ...]) -> None:
        """Before any API call: the key is set and opens every stored pair of these accounts
        (a ConfigError naming ``ECAUTO_SECRET_KEY`` otherwise)."""
        self._sealer()
        for account_id in account_ids:
            self.load(account_id)

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
        with open(os.open(lock_path, os.O_CREAT | os.O_RDWR | os.O_APPEND, 0o600)) as handle:
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
        return self._opened(account_id, row)

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
            **self._sealed(account_id, tokens),
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
        written: tuple[str, ...] = _TOKEN_COLUMNS + _CLEARED_BY_SAVE
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


def encrypt_stored_tokens(engine: sa.Engine, cipher: TokenCipher) -> tuple[int, int]:
    """Encrypt every token row still in plain text, in one transaction; returns ``(encrypted,
    already encrypted)``. Rows already encrypted are checked against ``cipher`` (a wrong key
    changes nothing and raises the ConfigError)."""
    encrypted = already = 0
    with begin_write(engine) as conn:
        rows = conn.execute(
            sa.select(
                base_tokens.c.account_id, *(base_tokens.c[c] for c in _SECRET_COLUMNS)
            ).with_for_update()
        ).all()
        for row in rows:
            stored = {c: getattr(row, c) for c in _SECRET_COLUMNS}
            plain = {c: v for c, v in stored.items() if not is_sealed(v)}
            for value in stored.values():
                if is_sealed(value):
                    cipher.unseal(row.account_id, value)
            if not plain:
                already += 1
                continue
            conn.execute(
                sa.update(base_tokens)
                .where(base_tokens.c.account_id == row.account_id)
                .values({c: cipher.seal(row.account_id, v) for c, v in plain.items()})
            )
            encrypted += 1
    return encrypted, already


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
