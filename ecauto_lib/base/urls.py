"""BASE's API host and OAuth paths (base-api.md §2), one definition each."""

from __future__ import annotations

BASE_API_URL = "https://api.thebase.in"
TOKEN_PATH = "/1/oauth/token"  # refresh and authorization-code grants
AUTHORIZE_PATH = "/1/oauth/authorize"  # the seller's consent page


def token_url(api_url: str) -> str:
    """The token endpoint under ``api_url`` (``BASE_API_URL``, or the simulator's)."""
    return api_url.rstrip("/") + TOKEN_PATH
