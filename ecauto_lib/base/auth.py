"""BASE OAuth for one shop: access tokens from a durable store, refresh with rotation in mind.

``POST /1/oauth/token`` with ``grant_type=refresh_token`` answers a new access token (1 h) and a
``refresh_token``. Whether that refresh token is *new* and the old one dead is UNCONFIRMED
(base-api.md §2), so the code assumes rotation:

- the returned pair is saved to the :class:`TokenStore` **before** the new access token is used
  or returned (a crash after BASE answered must not lose the only live refresh token);
- refreshes of one shop are serialised by a lock, and a thread that waited for the lock re-reads
  the store first and reuses a pair another thread just obtained, instead of spending the
  (possibly already rotated) refresh token a second time.

Share one :class:`BaseAuth` per shop within a process; across processes, the store is the
meeting point (a second process reads the rotated pair when its own token is stale).

When BASE refuses the stored refresh token, the refusal is recorded in the store and nothing asks
BASE again with that pair (no retry storm, in this run or the next): the shop owner re-authorises
with ``flows/connect_shop.py``, whose :func:`exchange_code` obtains a new pair
(``grant_type=authorization_code``) and whose save clears the refusal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import NoReturn, Protocol

import requests

from ecauto_lib.base.errors import SERVICE, BudgetExhaustedError, base_error_fields, error_from_answer
from ecauto_lib.base.urls import BASE_API_URL, token_url
from ecauto_lib.domain import BaseShop, BaseTokens
from ecauto_lib.errors import ApiErrorFields, AuthError, TransientError
from ecauto_lib.http import DEFAULT_TIMEOUT, json_object, make_session, send

BASE_TOKEN_URL = token_url(BASE_API_URL)
CONNECT_COMMAND = "python flows/connect_shop.py --account {account_id}"
"""What the seller runs to (re-)authorise a shop; every message that asks for it uses this."""
DEFAULT_LIFETIME = 3600.0
"""BASE's documented ``expires_in`` (base-api.md §2); used until a refresh tells us otherwise."""
MAX_REFRESH_MARGIN = 300.0


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a stored token is no longer used: ``min(300, lifetime / 12)``."""
    return min(MAX_REFRESH_MARGIN, lifetime / 12.0)


def connect_command(account_id: str) -> str:
    """``python flows/connect_shop.py --account <id>``."""
    return CONNECT_COMMAND.format(account_id=account_id)


class NeedsAuthorisationError(AuthError):
    """The shop must be (re-)authorised with ``connect_shop``: BASE refused its refresh token, or
    it never had one. ``reason`` is BASE's answer (``error: description``) or why none was sent."""

    def __init__(self, account_id: str, reason: str, *, status: int | None = None, code: str | None = None):
        self.account_id = account_id
        self.reason = reason
        super().__init__(
            f"BASE account {account_id}: {reason}; the shop owner must re-authorise the app: "
            f"run {connect_command(account_id)}",
            service=SERVICE,
            status=status,
            code=code,
        )


class ClientRefusedError(AuthError):
    """BASE does not accept the app's ``client_id`` / ``client_secret`` (the accounts file)."""


class CodeRefusedError(AuthError):
    """BASE refused an authorization code (unknown, expired or already used): ask for a new one."""


class TokenStore(Protocol):
    """Where each shop's current token pair lives. ``save`` must be durable when it returns."""

    def load(self, account_id: str) -> BaseTokens | None: ...

    def save(self, account_id: str, tokens: BaseTokens, *, authorised: BaseShop | None = None) -> None: ...

    def record_refusal(self, account_id: str, refusal: str, at: datetime) -> bool:
        """BASE refused the stored pair's refresh token (kept until the next ``save``)."""
        ...

    def refusal(self, account_id: str) -> str | None: ...

    def refresh_lock(self, account_id: str) -> AbstractContextManager[None]:
        """Held around a refresh: serialises the refreshes of one shop across processes."""
        ...


class InMemoryTokenStore:
    """A :class:`TokenStore` in a dict, for tests and dry runs (not durable across processes)."""

    def __init__(self, initial: dict[str, BaseTokens] | None = None) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, BaseTokens] = dict(initial or {})
        self._refusals: dict[str, str] = {}
        self.saves = 0

    def load(self, account_id: str) -> BaseTokens | None:
        with self._lock:
            return self._tokens.get(account_id)

    def save(self, account_id: str, tokens: BaseTokens, *, authorised: BaseShop | None = None) -> None:
        with self._lock:
            self._tokens[account_id] = tokens
            self._refusals.pop(account_id, None)
            self.saves += 1

    def record_refusal(self, account_id: str, refusal: str, at: datetime) -> bool:
        with self._lock:
            if account_id not in self._tokens:
                return False
            self._refusals[account_id] = refusal
            return True

    def refusal(self, account_id: str) -> str | None:
        with self._lock:
            return self._refusals.get(account_id)

    def refresh_lock(self, account_id: str) -> AbstractContextManager[None]:
        return nullcontext()  # one process: BaseAuth's own lock serialises its refreshes

    def __repr__(self) -> str:
        return f"InMemoryTokenStore(accounts={sorted(self._tokens)})"


class BaseAuth:
    """Access tokens for one BASE shop (``account_id``), refreshed and rotated safely.

    ``refresh_count`` counts the token requests sent to BASE.
    """

    def __init__(
        self,
        account_id: str,
        *,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        initial_refresh_token: str,
        store: TokenStore,
        token_url: str = BASE_TOKEN_URL,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        lifetime: float = DEFAULT_LIFETIME,
    ) -> None:
        self.account_id = account_id
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._initial_refresh_token = initial_refresh_token
        self.store = store
        self.token_url = token_url
        self._session = session if session is not None else make_session()
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._lifetime = lifetime  # of BASE's access tokens, as last seen (sets the refresh margin)
        self._current: BaseTokens | None = None  # last pair loaded or saved, to spare the store
        self._refusal: Callable[[], AuthError] | None = None  # BASE refused: never ask again
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"BaseAuth(account_id={self.account_id!r}, client_id={self.client_id!r}, token_url={self.token_url!r})"

    def access_token(self) -> str:
        """A usable access token: the stored one while it is fresh, otherwise a refreshed one."""
        self._raise_if_refused()
        current = self._current
        if current is None:
            current = self._current = self.store.load(self.account_id)
        if current is not None and self._is_fresh(current):
            return current.access_token
        return self.refresh()

    def refresh(self, *, rejected_access_token: str | None = None) -> str:
        """Get a new access token from BASE and return it, after the new pair has been saved.

        Serialised per instance. After taking the lock the store is re-read: a fresh pair whose
        access token is not ``rejected_access_token`` (another thread or process refreshed while
        we waited) is used as it is. Raises :class:`NeedsAuthorisationError` when BASE refuses the
        refresh token (recorded in the store: later calls, here or in another process, raise it
        without asking BASE) or the shop has none, :class:`ClientRefusedError` when BASE refuses
        the client; a failing ``store.save`` propagates and the new access token is neither cached
        nor returned.
        """
        self._raise_if_refused()
        with self._lock, self.store.refresh_lock(self.account_id):
            self._raise_if_refused()
            stored = self.store.load(self.account_id)
            if stored is not None:
                self._current = stored
                if stored.access_token != rejected_access_token and self._is_fresh(stored):
                    return stored.access_token
                earlier = self.store.refusal(self.account_id)
                if earlier is not None:
                    reason = f"BASE refused its refresh token earlier ({earlier})"
                    self._refuse(lambda: NeedsAuthorisationError(self.account_id, reason))
            refresh_token = stored.refresh_token if stored is not None else self._initial_refresh_token
            if not refresh_token:
                reason = "not connected yet (no refresh token stored or in the accounts file)"
                self._refuse(lambda: NeedsAuthorisationError(self.account_id, reason))
            try:
                tokens, lifetime = self._request_tokens(refresh_token, stored)
            except _Refused as answer:
                # Another refresher the store's lock does not cover (a second BaseAuth on an
                # in-memory store, a process with its own lock file) may have spent the same
                # refresh token a moment earlier: BASE rotated it and refuses ours. Its new pair
                # is in the shared store: use it rather than lock the shop out.
                winner = self.store.load(self.account_id)
                if winner is not None and winner.refresh_token != refresh_token and self._is_fresh(winner):
                    self._current = winner
                    return winner.access_token
                if not answer.is_client_error and stored is not None:
                    self.store.record_refusal(self.account_id, answer.detail, datetime.now(UTC))
                self._refuse(partial(self._refresh_error, answer))
            try:
                self.store.save(self.account_id, tokens)
            except BaseException as exc:
                exc.add_note(
                    f"BASE account {self.account_id}: BASE issued a new token pair but saving it failed; "
                    "if BASE rotated the refresh token, the shop owner may have to re-authorise the app."
                )
                raise
            self._lifetime = lifetime
            self._current = tokens
            return tokens.access_token

    def _raise_if_refused(self) -> None:
        if self._refusal is not None:  # a new exception each time (it may be raised in many threads)
            raise self._refusal()

    def _refuse(self, make: Callable[[], AuthError]) -> NoReturn:
        self._refusal = make
        raise make()

    def _is_fresh(self, tokens: BaseTokens) -> bool:
        remaining = tokens.expires_at.timestamp() - self._clock()
        return remaining > refresh_margin(self._lifetime)

    def _request_tokens(self, refresh_token: str, stored: BaseTokens | None) -> tuple[BaseTokens, float]:
        """POST the refresh grant and return the new pair and its lifetime (caller holds the lock)."""
        self.refresh_count += 1
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "refresh_token": refresh_token,
            # Documented as required; production clients omit it and still work (base-api.md §2).
            "redirect_uri": self.redirect_uri,
        }
        context = f"base token refresh for account {self.account_id}"
        tokens, lifetime = _token_grant(
            self._session, self.token_url, form, self._timeout, self._clock, context
        )
        if tokens.refresh_token == refresh_token:
            # BASE handed back the refresh token we sent (or none): its 30 days still run from
            # its own issue (whether a refresh restarts them is not documented: assume not).
            tokens = replace(tokens, refresh_issued_at=stored.refresh_issued_at if stored else None)
        return tokens, lifetime

    def _refresh_error(self, refused: _Refused) -> AuthError:
        """The shop needs re-authorising, unless BASE refused the client (the accounts file)."""
        detail = refused.detail
        if refused.is_client_error:
            return ClientRefusedError(
                f"BASE account {self.account_id}: BASE refused the app's credentials (HTTP {refused.status}, "
                f"{detail}): check client_id and client_secret of account {self.account_id} in the accounts file",
                service=SERVICE,
                status=refused.status,
                code=refused.error,
            )
        return NeedsAuthorisationError(
            self.account_id,
            f"BASE refused the token refresh (HTTP {refused.status}, {detail})",
            status=refused.status,
            code=refused.error,
        )


class _Refused(Exception):
    """BASE's token endpoint refused the grant (not transient): what it said, no secrets."""

    def __init__(self, status: int, error: str | None, description: str | None) -> None:
        super().__init__(error)
        self.status, self.error, self.description = status, error, description

    @property
    def detail(self) -> str:
        return ": ".join(part for part in (self.error, self.description) if part) or "no error body"

    @property
    def is_client_error(self) -> bool:
        """``unauthorized_client`` (unknown or suspended client), or client credentials missing."""
        return self.error == "unauthorized_client" or "client_id" in (self.description or "")


def _token_grant(
    session: requests.Session,
    token_url: str,
    form: dict[str, str],
    timeout: tuple[float, float],
    clock: Callable[[], float],
    context: str,
) -> tuple[BaseTokens, float]:
    """POST one grant to ``/1/oauth/token``: the pair (its refresh token issued now) and its lifetime.

    Raises :class:`TransientError` (5xx, ``server_error``, a malformed answer), the budget errors,
    or :class:`_Refused` for any other refusal.
    """
    sent_at = clock()
    response = send(
        session,
        "POST",
        token_url,
        service=SERVICE,
        timeout=timeout,
        data=form,
        headers={"Accept": "application/json"},
    )
    if response.status_code != 200:
        error, description = base_error_fields(response)
        mapped = error_from_answer(response.status_code, error, description, context=context)
        if isinstance(mapped, TransientError | BudgetExhaustedError):
            raise mapped
        raise _Refused(response.status_code, error, description)
    body = json_object(response, service=SERVICE)
    access, expires_in = body.get("access_token"), body.get("expires_in")
    new_refresh = body.get("refresh_token")
    if (
        not isinstance(access, str)
        or not access
        or isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or expires_in <= 0
    ):
        raise TransientError(
            f"{context}: the answer lacks access_token or expires_in",
            service=SERVICE,
            status=200,
            code="MalformedBody",
        )
    if not isinstance(new_refresh, str) or not new_refresh:
        # The recorded answers always carry one; without it the one we sent is all we have.
        new_refresh = form.get("refresh_token", "")
    issued = datetime.fromtimestamp(sent_at, UTC)
    expires_at = issued + timedelta(seconds=float(expires_in))
    return BaseTokens(access, new_refresh, expires_at, refresh_issued_at=issued), float(expires_in)


def exchange_code(
    *,
    code: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    token_url: str = BASE_TOKEN_URL,
    session: requests.Session | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    clock: Callable[[], float] = time.time,
) -> BaseTokens:
    """Exchange an authorization code for a pair (``grant_type=authorization_code``, base-api.md §2).

    Raises :class:`CodeRefusedError` for a code BASE calls invalid or expired (a used code is
    invalid: ask for a new one), :class:`ClientRefusedError` for the client credentials, an
    :class:`AuthError` for anything else BASE refuses (e.g. a ``redirect_uri`` other than the
    app's), and :class:`TransientError` when BASE did not answer properly.
    """
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "client_secret": client_secret,
        "code": code,
        "redirect_uri": redirect_uri,
    }
    own = session is None
    session = session if session is not None else make_session()
    try:
        tokens, _ = _token_grant(session, token_url, form, timeout, clock, "base authorization-code exchange")
    except _Refused as refused:
        message = f"BASE refused the authorization code (HTTP {refused.status}, {refused.detail})"
        fields: ApiErrorFields = {"service": SERVICE, "status": refused.status, "code": refused.error}
        if refused.is_client_error:
            raise ClientRefusedError(message, **fields) from None
        text = refused.description or ""
        if refused.error == "invalid_grant" or "認可コード" in text:
            raise CodeRefusedError(message, **fields) from None
        raise AuthError(message, **fields) from None
    finally:
        if own:
            session.close()
    return tokens
