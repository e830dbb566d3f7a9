"""SP-API error bodies and texts, and the exception a handler raises to answer 400/404."""

from __future__ import annotations

from typing import Any

# Error texts [sp-api.md §4, §5].
MSG_UNAUTHORIZED = "Access to requested resource is denied."
DETAILS_INVALID_TOKEN = "The access token you provided is revoked, malformed or invalid."
DETAILS_MISSING_TOKEN = "Access token is missing in the request header."
MSG_QUOTA = "You exceeded your quota for the requested resource."
MSG_INTERNAL = "We encountered an internal error. Please try again."
MSG_UNAVAILABLE = "Service temporarily unavailable. Please try again."  # 503 wording UNCONFIRMED
MSG_BAD_MARKETPLACE = "Requested MarketplaceId is invalid, unsupported, or does not exist."
MSG_DUPLICATE = "Duplicate requests submitted. Cannot run batch request."
MSG_NOT_FOUND = "The requested resource doesn't exist."


def errors(code: str, message: str, details: str | None = None) -> dict[str, Any]:
    """An SP-API ``ErrorList`` body."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"errors": [error]}


class BadRequest(Exception):
    """A 400/404 answer decided while validating a request."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
