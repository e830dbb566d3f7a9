"""BASE's errors as types, and the one mapping from an error answer to its type.

BASE answers every error with HTTP 400 and ``{"error", "error_description"}`` (base-api.md §6).
:func:`error_from_answer` reads the ``error`` code before the HTTP status (a proxy, or BASE one
day, may send ``hour_api_limit`` with a 429 or a 5xx). The OAuth module (token refreshes) and the
items client both map answers here, so neither imports the other.
"""

from __future__ import annotations

import requests

from ecauto_lib.errors import ApiError, PermanentError, TransientError
from ecauto_lib.http import error_body

SERVICE = "base"
INVALID_TOKEN_MARKER = "アクセストークン"  # in error_description of a dead/invalid access token


class BaseApiError(PermanentError):
    """BASE refused the request (``code`` is BASE's ``error``); retrying the same request cannot help."""


class BudgetExhaustedError(BaseApiError):
    """The shop's API budget is used up: wait for the reset instead of retrying now."""


class HourLimitError(BudgetExhaustedError):
    """``hour_api_limit``: 5,000 calls this clock hour (resets at minute 00, the same instant in every
    whole-hour timezone)."""


class DayLimitError(BudgetExhaustedError):
    """``day_api_limit``: 100,000 calls today; resets when the date changes, in a timezone BASE does
    not state (JST assumed: :func:`ecauto_lib.base.budget.next_daily_reset`)."""


class BadItemIdError(BaseApiError):
    """``bad_item_id``: the item does not exist (typically deleted in the BASE admin)."""


class BaseValidationError(BaseApiError):
    """``validation_error``: BASE does not say which field failed."""


_ERRORS_BY_CODE: dict[str, type[BaseApiError]] = {
    "hour_api_limit": HourLimitError,
    "day_api_limit": DayLimitError,
    "bad_item_id": BadItemIdError,
    "validation_error": BaseValidationError,
}
# BASE's own server-side failures, delivered as HTTP 400 (base-api.md §2, §3). Treating them as
# retryable is our judgement, UNCONFIRMED by any source.
_TRANSIENT_CODES = frozenset({"server_error", "db_error"})


def base_error_fields(response: requests.Response) -> tuple[str | None, str | None]:
    """``(error, error_description)`` from a BASE error body, or ``(None, None)`` when there is none."""
    body = error_body(response)
    error, description = body.get("error"), body.get("error_description")
    return (error if isinstance(error, str) else None, description if isinstance(description, str) else None)


def is_invalid_token(status: int, error: str | None, description: str | None) -> bool:
    """True when BASE rejected the access token: ``invalid_request`` + アクセストークン (documented
    with HTTP 400; the code decides, whatever the status), or a 401 without a known other code."""
    if error == "invalid_request" and INVALID_TOKEN_MARKER in (description or ""):
        return True
    # an undocumented 401 is handled like the documented case, unless its code says something else
    return status == 401 and error not in _ERRORS_BY_CODE


def error_from_answer(status: int, error: str | None, description: str | None, *, context: str) -> ApiError:
    """The typed exception for a non-200 BASE answer. ``context`` prefixes the message.

    The error code is read first: a known code (``hour_api_limit``, ``day_api_limit``,
    ``bad_item_id``, ``validation_error``) gives its type whatever the HTTP status, so a budget
    refusal sent as 429 or 503 stops the shop instead of being retried at once. Only an answer
    without a known code falls back to the status: 429/5xx (and BASE's ``server_error`` /
    ``db_error``) are transient, anything else a plain :class:`BaseApiError`.
    """
    detail = ": ".join(part for part in (error, description) if part) or "no error body"
    message = f"{context}: HTTP {status} ({detail})"
    cls = _ERRORS_BY_CODE.get(error or "")
    if cls is not None:
        return cls(message, service=SERVICE, status=status, code=error)
    if status >= 500 or status == 429 or error in _TRANSIENT_CODES:
        return TransientError(message, service=SERVICE, status=status, code=error)
    return BaseApiError(message, service=SERVICE, status=status, code=error)
