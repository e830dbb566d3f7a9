"""Small HTTP helpers shared by the SP-API, LWA and BASE clients.

Three things every client needs and nothing more: a :class:`requests.Session` with a sized
connection pool and no hidden retries, one ``send`` that turns network failures into
:class:`~ecauto_lib.errors.TransientError`, and JSON decoding that treats a malformed body as
transient too (a proxy's HTML error page, a truncated answer). Retrying is the caller's job.

Messages built here name the service, the method and the URL *path* only: never query strings,
headers or bodies, which is where tokens and secrets travel.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ecauto_lib.errors import TransientError

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
"""(connect, read) seconds, as ``requests`` takes them."""

DEFAULT_USER_AGENT = "ecauto/0.1 (Language=Python/3.11)"


def make_session(user_agent: str = DEFAULT_USER_AGENT, *, pool_size: int = 10) -> requests.Session:
    """A session with keep-alive, a connection pool of ``pool_size`` per host and no automatic retries.

    urllib3's own retries stay off (``max_retries=0``) so that a retried POST can never be sent
    twice behind the caller's back: Prefect task retries are the only retry layer.
    """
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def url_path(url: str) -> str:
    """The path of ``url`` without scheme, host or query: safe to put in a message."""
    return urlsplit(url).path or "/"


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    service: str,
    timeout: tuple[float, float],
    **kwargs: Any,
) -> requests.Response:
    """``session.request(...)`` with timeouts and connection errors raised as :class:`TransientError`.

    Only the exception class and the URL path go into the message: ``requests`` exceptions can
    quote the full URL, and a refused connection says nothing worth a secret's risk.
    """
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise TransientError(
            f"{service}: {method} {url_path(url)} timed out ({type(exc).__name__}, timeout={timeout})",
            service=service,
        ) from None
    except requests.ConnectionError as exc:
        raise TransientError(
            f"{service}: {method} {url_path(url)} failed to connect ({type(exc).__name__})",
            service=service,
        ) from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
        raise TransientError(
            f"{service}: {method} {url_path(url)} answer broke off ({type(exc).__name__})",
            service=service,
        ) from None


def _described_request(response: requests.Response) -> str:
    """``"POST /path"`` for the request that produced ``response`` (no host, no query)."""
    method = response.request.method if response.request is not None else "?"
    return f"{method} {url_path(response.url or '')}"


def decode_json(response: requests.Response, *, service: str, request_id: str | None = None) -> Any:
    """The JSON body of ``response``; a body that is not JSON raises :class:`TransientError`."""
    try:
        return response.json()
    except ValueError:  # requests.JSONDecodeError is a ValueError
        raise TransientError(
            f"{service}: malformed JSON body in HTTP {response.status_code} answer to "
            f"{_described_request(response)} ({len(response.content)} bytes)",
            service=service,
            status=response.status_code,
            code="MalformedBody",
            request_id=request_id,
        ) from None


def json_object(response: requests.Response, *, service: str, request_id: str | None = None) -> dict:
    """Like :func:`decode_json` but the body must be a JSON object (anything else is malformed)."""
    body = decode_json(response, service=service, request_id=request_id)
    if not isinstance(body, dict):
        raise TransientError(
            f"{service}: expected a JSON object in HTTP {response.status_code} answer to "
            f"{_described_request(response)}, got {type(body).__name__}",
            service=service,
            status=response.status_code,
            code="MalformedBody",
            request_id=request_id,
        )
    return body


def required_field(
    body: dict, key: str, kind: type, *, service: str, operation: str, request_id: str | None = None
) -> Any:
    """``body[key]``, which a 200 answer of ``operation`` must hold as a ``kind`` (``list`` or
    ``dict``); else a transient ``MalformedBody`` error (a truncated or changed answer may be fine
    on the next try)."""
    value = body.get(key)
    if not isinstance(value, kind):
        raise TransientError(
            f"{service} {operation}: the answer has no {key!r} {'object' if kind is dict else kind.__name__}",
            service=service,
            status=200,
            code="MalformedBody",
            request_id=request_id,
        )
    return value


def error_body(response: requests.Response) -> dict[str, Any]:
    """The JSON object of an error answer; ``{}`` when it has none (empty, HTML, not an object)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
