"""The error types every layer shares.

The split that matters operationally is *transient* (worth retrying with back-off: 429, 5xx,
timeouts, connection resets) versus *permanent* (retrying cannot help: bad input, bad
credentials, an item that no longer exists). Prefect retry conditions test for
:class:`TransientError` only.

Messages never contain secrets: tokens, client secrets and refresh tokens are never formatted
into an exception. Code that raises these must pass only non-secret facts.
"""

from __future__ import annotations

from typing import Required, TypedDict, Unpack


class EcAutoError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(EcAutoError):
    """A missing or malformed setting. The message names the setting; the CLI exits with 2."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class InvalidAsinError(EcAutoError, ValueError):
    """A string that is not a well-formed ASIN."""


class ApiError(EcAutoError):
    """An HTTP API answered with an error (or did not answer).

    ``service`` is ``"sp-api"``, ``"lwa"`` or ``"base"``; ``status`` the HTTP status (``None`` when
    no response arrived); ``code`` the API's own error code (``QuotaExceeded``, ``bad_item_id``...);
    ``request_id`` Amazon's ``x-amzn-RequestId`` where there is one (log it: support asks for it).
    """

    def __init__(
        self,
        message: str,
        *,
        service: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.service = service
        self.status = status
        self.code = code
        self.request_id = request_id
        super().__init__(message)


class ApiErrorFields(TypedDict, total=False):
    """:class:`ApiError`'s keyword arguments, for code that builds them once and passes ``**fields``."""

    service: Required[str]
    status: int | None
    code: str | None
    request_id: str | None


class TransientError(ApiError):
    """Worth retrying after a back-off: throttling, server errors, timeouts, connection errors."""


class PermanentError(ApiError):
    """Retrying the same request cannot succeed."""


class AuthError(PermanentError):
    """Credentials were refused (after the one refresh the clients attempt themselves)."""


class CredentialsRefusedError(AuthError):
    """LWA or SP-API refused the seller's credentials: nothing can be fetched until ``setting``
    is fixed. The run stops at once with this one message (exit 2)."""

    def __init__(self, message: str, *, setting: str, **fields: Unpack[ApiErrorFields]) -> None:
        self.setting = setting
        super().__init__(message, **fields)


def describe(exc: BaseException) -> str:
    """``"HTTP 429 QuotaExceeded: <message>"`` for an API error, the type and message otherwise."""
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    head = " ".join(str(x) for x in (f"HTTP {status}" if status else None, code) if x)
    return f"{head or type(exc).__name__}: {exc}"
