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
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Protocol

import requests

from ecauto_lib.base.client import BudgetExhaustedError, base_error_fields, error_from_answer
from ecauto_lib.domain import BaseTokens
from ecauto_lib.errors import AuthError, TransientError
from ecauto_lib.http import DEFAULT_TIMEOUT, json_object, make_session, send

SERVICE = "base"
BASE_TOKEN_URL = "https://api.thebase.in/1/oauth/token"
DEFAULT_LIFETIME = 3600.0
"""BASE's documented ``expires_in`` (base-api.md §2); used until a refresh tells us otherwise."""
MAX_REFRESH_MARGIN = 300.0


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a stored token is no longer used: ``min(300, lifetime / 12)``."""
    return min(MAX_REFRESH_MARGIN, lifetime / 12.0)


class TokenStore(Protocol):
    """Where each shop's current token pair lives. ``save`` must be durable when it returns."""

    def load(self, account_id: str) -> BaseTokens | None: ...

    def save(self, account_id: str, tokens: BaseTokens) -> None: ...

    def refresh_lock(self, account_id: str) -> AbstractContextManager[None]:
        """Held around a refresh: serialises the refreshes of one shop across processes."""
        ...


class InMemoryTokenStore:
    """A :class:`TokenStore` in a dict, for tests and dry runs (not durable across processes)."""

    def __init__(self, initial: dict[str, BaseTokens] | None = None) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, BaseTokens] = dict(initial or {})
        self.saves = 0

    def load(self, account_id: str) -> BaseTokens | None:
        with self._lock:
            return self._tokens.get(account_id)

    def save(self, account_id: str, tokens: BaseTokens) -> None:
        with self._lock:
            self._tokens[account_id] = tokens
            self.saves += 1

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
        self._lifetime = DEFAULT_LIFETIME
        self._current: BaseTokens | None = None  # last pair loaded or saved, to spare the store
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"BaseAuth(account_id={self.account_id!r}, client_id={self.client_id!r}, token_url={self.token_url!r})"

    def access_token(self) -> str:
        """A usable access token: the stored one while it is fresh, otherwise a refreshed one."""
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
        we waited) is used as it is. Raises :class:`AuthError` when BASE refuses the refresh
        token (the shop owner must re-authorise); a failing ``store.save`` propagates and the new
        access token is neither cached nor returned.
        """
        with self._lock, self.store.refresh_lock(self.account_id):
            stored = self.store.load(self.account_id)
            if stored is not None:
                self._current = stored
                if stored.access_token != rejected_access_token and self._is_fresh(stored):
                    return stored.access_token
            refresh_token = stored.refresh_token if stored is not None else self._initial_refresh_token
            try:
                tokens, lifetime = self._request_tokens(refresh_token)
            except AuthError:
                # Another refresher the store's lock does not cover (a second BaseAuth on an
                # in-memory store, a process with its own lock file) may have spent the same
                # refresh token a moment earlier: BASE rotated it and refuses ours. Its new pair
                # is in the shared store: use it rather than lock the shop out.
                winner = self.store.load(self.account_id)
                if winner is not None and winner.refresh_token != refresh_token and self._is_fresh(winner):
                    self._current = winner
                    return winner.access_token
                raise
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

    def _is_fresh(self, tokens: BaseTokens) -> bool:
        remaining = tokens.expires_at.timestamp() - self._clock()
        return remaining > refresh_margin(self._lifetime)

    def _request_tokens(self, refresh_token: str) -> tuple[BaseTokens, float]:
        """POST the refresh grant and return the new pair and its lifetime (caller holds the lock)."""
        self.refresh_count += 1
        sent_at = self._clock()
        response = send(
            self._session,
            "POST",
            self.token_url,
            service=SERVICE,
            timeout=self._timeout,
            data={
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "client_secret": self._client_secret,
                "refresh_token": refresh_token,
                # Documented as required; production clients omit it and still work (base-api.md §2).
                "redirect_uri": self.redirect_uri,
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise self._refresh_error(response)
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
                f"base token refresh for account {self.account_id}: the answer lacks access_token or expires_in",
                service=SERVICE,
                status=200,
                code="MalformedBody",
            )
        if not isinstance(new_refresh, str) or not new_refresh:
            # The recorded answers always carry one; without it the one we sent is all we have.
            new_refresh = refresh_token
        expires_at = datetime.fromtimestamp(sent_at, UTC) + timedelta(seconds=float(expires_in))
        return BaseTokens(access, new_refresh, expires_at), float(expires_in)

    def _refresh_error(self, response: requests.Response) -> Exception:
        """Transient for 5xx/server errors and exhausted budgets' own types; otherwise AuthError."""
        error, description = base_error_fields(response)
        context = f"base token refresh for account {self.account_id}"
        mapped = error_from_answer(response.status_code, error, description, context=context)
        if isinstance(mapped, TransientError | BudgetExhaustedError):
            return mapped
        detail = ": ".join(part for part in (error, description) if part) or "no error body"
        return AuthError(
            f"BASE account {self.account_id}: token refresh refused (HTTP {response.status_code}, {detail}); "
            "the shop owner must re-authorise the app",
            service=SERVICE,
            status=response.status_code,
            code=error,
        )
