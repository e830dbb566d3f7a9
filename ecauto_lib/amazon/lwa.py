"""Login with Amazon (LWA): exchange the seller's refresh token for SP-API access tokens.

``POST {token_url}`` form-encoded ``grant_type=refresh_token, refresh_token, client_id,
client_secret`` answers ``{access_token, token_type, expires_in, refresh_token}``; the access
token lives one hour (sp-api.md §1). LWA does not rotate the refresh token, so unlike BASE
nothing has to be persisted: the access token is cached in memory and reused until shortly
before it expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

import requests

from ecauto_lib.errors import CredentialsRefusedError, TransientError
from ecauto_lib.http import DEFAULT_TIMEOUT, error_body, json_object, make_session, send

SERVICE = "lwa"
LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
"""The one LWA host every official SP-API client uses, JP included (sp-api.md §1)."""

LWA_ROTATION_HELP = (
    "Rotate it in Seller Central (Apps and Services → Develop Apps → your app → LWA credentials → "
    "rotate / view the client secret), put the new secret in LWA_CLIENT_SECRET and the rotation date "
    "in LWA_SECRET_ROTATED_AT (runs then warn 14 days before the next 180 days are up)."
)
"""What to do about the LWA client secret: Amazon retires each one 180 days after it is issued."""

EARLY_REFRESH_SECONDS = 60.0
"""Amazon's Java client refreshes 60 s before expiry (``LWAAccessTokenCacheImpl.expiryAdjustment``)."""


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry at which a token counts as stale: ``min(60, lifetime / 60)``.

    60 s for LWA's one-hour tokens; proportionally less for the short-lived tokens a simulator
    running at high speed hands out, so that a token is still reused for most of its life.
    """
    return min(EARLY_REFRESH_SECONDS, lifetime / 60.0)


@dataclass(frozen=True, slots=True)
class _CachedToken:
    value: str
    expires_at: float  # clock() seconds
    margin: float

    def __repr__(self) -> str:  # never print the token
        return f"_CachedToken(value=***, expires_at={self.expires_at:.0f})"


class LwaAuth:
    """Caches one LWA access token and refreshes it when less than :func:`refresh_margin` remains.

    Thread-safe: concurrent callers share one token and at most one token request is in flight.
    ``token_requests`` counts the token calls made (tests assert reuse).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("refresh_token", refresh_token),
        ):
            if not value:
                raise ValueError(f"LWA {name} is empty")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._session = session if session is not None else make_session()
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: _CachedToken | None = None
        self._refused: tuple[str, str, int, str | None] | None = None  # LWA said no: never ask again
        self.token_requests = 0

    def access_token(self) -> str:
        """A valid access token: the cached one, or a fresh one when it is stale or missing."""
        with self._lock:
            if self._refused is not None:  # a fresh exception each time (several threads ask)
                message, setting, status, code = self._refused
                raise CredentialsRefusedError(
                    message, setting=setting, service=SERVICE, status=status, code=code
                )
            cached = self._cached
            if cached is None or self._clock() >= cached.expires_at - cached.margin:
                try:
                    cached = self._cached = self._request_token()
                except CredentialsRefusedError as exc:
                    self._refused = (str(exc), exc.setting, exc.status or 0, exc.code)
                    raise
            return cached.value

    def invalidate(self, rejected_token: str | None = None) -> None:
        """Forget the cached token (SP-API answered 403): the next :meth:`access_token` fetches one.

        With ``rejected_token``, only that token is forgotten: if another thread has already
        replaced it, the newer token is kept.
        """
        with self._lock:
            if self._cached is not None and rejected_token in (None, self._cached.value):
                self._cached = None

    def __repr__(self) -> str:
        state = "cached" if self._cached is not None else "empty"
        return f"LwaAuth(token_url={self.token_url!r}, client_id={self.client_id!r}, token={state})"

    def _request_token(self) -> _CachedToken:
        """POST the refresh-token grant (caller holds the lock)."""
        self.token_requests += 1
        sent_at = self._clock()
        response = send(
            self._session,
            "POST",
            self.token_url,
            service=SERVICE,
            timeout=self._timeout,
            data={
                "grant_type": "refresh_token",
                "refresh_token": self._refresh_token,
                "client_id": self.client_id,
                "client_secret": self._client_secret,
            },
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise _token_error(response)
        body = json_object(response, service=SERVICE)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not _is_seconds(expires_in):
            raise TransientError(
                "lwa: token response lacks access_token or a numeric expires_in",
                service=SERVICE,
                status=200,
                code="MalformedBody",
            )
        lifetime = float(expires_in)
        # Measured from when the request was sent: the token cannot outlive that by more than expires_in.
        return _CachedToken(token, sent_at + lifetime, refresh_margin(lifetime))


def _is_seconds(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _token_error(response: requests.Response) -> TransientError | CredentialsRefusedError:
    """Map a non-200 token answer: 429/5xx are transient, any other refusal names the setting to fix.

    The OAuth2 body ``{"error", "error_description"}`` is quoted (it holds no secret); the exact
    codes LWA uses (``invalid_grant``, ``invalid_client``...) are UNCONFIRMED (sp-api.md §1):
    ``invalid_client`` is read as the client secret, ``invalid_grant`` as the refresh token.
    """
    status = response.status_code
    body = error_body(response)
    error, description = body.get("error"), body.get("error_description")
    detail = ": ".join(str(part) for part in (error, description) if part) or "no error body"
    if status == 429 or status >= 500:
        return TransientError(
            f"lwa: token endpoint answered HTTP {status} ({detail})",
            service=SERVICE,
            status=status,
            code=error if isinstance(error, str) else None,
        )
    said = f"Login with Amazon refused the token request (HTTP {status}, {detail})"
    if error == "invalid_client":
        setting = "LWA_CLIENT_SECRET"
        advice = (
            "LWA_CLIENT_SECRET (with LWA_APP_ID) is wrong, or it was rotated or has expired: Amazon "
            f"retires an LWA client secret 180 days after it is issued. {LWA_ROTATION_HELP}"
        )
    elif error == "invalid_grant":
        setting = "SP_API_REFRESH_TOKEN"
        advice = (
            "SP_API_REFRESH_TOKEN is wrong, or the seller revoked the app's authorisation: authorise the app "
            "again in Seller Central (Apps and Services → Develop Apps → Authorize) and put the new refresh "
            "token in SP_API_REFRESH_TOKEN."
        )
    else:
        setting = "LWA_APP_ID"
        advice = "check LWA_APP_ID, LWA_CLIENT_SECRET and SP_API_REFRESH_TOKEN (they must belong to one app)."
    return CredentialsRefusedError(
        f"{said}: {advice}",
        setting=setting,
        service=SERVICE,
        status=status,
        code=error if isinstance(error, str) else None,
    )
