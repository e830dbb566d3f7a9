"""The browser half of BASE's authorisation-code flow (base-api.md §2).

``GET https://api.thebase.in/1/oauth/authorize?response_type=code&client_id&redirect_uri&scope&state``
asks the shop owner to allow the app; BASE then sends the browser to
``redirect_uri?code=…&state=…`` (or ``?error=access_denied&state=…``). This module builds that URL,
reads the answer back (from a pasted address, or by listening on a loopback ``redirect_uri``), and
checks ``state``. The code exchange itself is :func:`ecauto_lib.base.auth.exchange_code`.

``state`` is ``<nonce>.<HMAC-SHA256(client secret, account|nonce)>``: a later command can check
that a pasted address answers a URL this project built for this account, without storing
anything. The client secret never leaves the process (the MAC does not reveal it).
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import TracebackType
from typing import TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

from ecauto_lib.base.urls import AUTHORIZE_PATH

SCOPE = "read_items write_items"
"""What syncing needs: read and edit items (read_users, for /1/users/me, is always granted)."""
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")

T = TypeVar("T")


def new_state(account_id: str, key: str) -> str:
    """A random ``state`` for ``account_id``, signed with ``key`` (the account's client secret)."""
    nonce = secrets.token_urlsafe(12)
    return f"{nonce}.{_mac(account_id, nonce, key)}"


def state_matches(state: str, account_id: str, key: str) -> bool:
    """True when ``state`` came from :func:`new_state` for this account and key."""
    nonce, _, mac = state.partition(".")
    return bool(nonce) and hmac.compare_digest(mac, _mac(account_id, nonce, key))


def _mac(account_id: str, nonce: str, key: str) -> str:
    return hmac.new(key.encode(), f"ecauto-connect|{account_id}|{nonce}".encode(), sha256).hexdigest()[:32]


def authorize_url(api_url: str, client_id: str, redirect_uri: str, state: str, scope: str = SCOPE) -> str:
    """BASE's consent page for this app, asking for ``scope``."""
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
    }
    return f"{api_url.rstrip('/')}{AUTHORIZE_PATH}?{urlencode(query)}"


@dataclass(frozen=True)
class RedirectAnswer:
    """What BASE put on the redirect: a ``code`` (and ``state``), or an ``error``."""

    code: str | None = None
    state: str | None = None
    error: str | None = None
    error_description: str | None = None

    def __repr__(self) -> str:  # the code is a credential until it is spent
        return (
            f"RedirectAnswer(code={'***' if self.code else None}, state={self.state!r}, error={self.error!r})"
        )


def parse_redirect(address: str) -> RedirectAnswer:
    """The answer in a redirect address (``https://…/callback?code=…&state=…``) or its query string."""
    query = urlsplit(address).query if "?" in address or "://" in address else address
    params = {k: v[0] for k, v in parse_qs(query.lstrip("?"), keep_blank_values=True).items()}
    return RedirectAnswer(
        code=params.get("code") or None,
        state=params.get("state") or None,
        error=params.get("error") or None,
        error_description=params.get("error_description") or None,
    )


@dataclass(frozen=True)
class LoopbackAddress:
    """A ``redirect_uri`` this machine can listen on: ``http://127.0.0.1:PORT/path`` or ``localhost``."""

    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"


def loopback_address(redirect_uri: str) -> LoopbackAddress | None:
    """The address to listen on for ``redirect_uri``, or None (not plain http on loopback with a port)."""
    parts = urlsplit(redirect_uri)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "http" or parts.hostname not in LOOPBACK_HOSTS or port is None:
        return None
    return LoopbackAddress(parts.hostname, port, parts.path or "/")


@dataclass(frozen=True)
class Page:
    """What the browser is shown after the redirect."""

    status: int
    title: str
    text: str

    def html(self) -> bytes:
        from html import escape

        return (
            f'<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{escape(self.title)}</title>'
            f"</head><body><h1>{escape(self.title)}</h1><p>{escape(self.text)}</p></body></html>"
        ).encode()


class RedirectTimeout(Exception):
    """No redirect reached the loopback listener in time."""


class LoopbackReceiver:
    """Listens on a loopback ``redirect_uri`` for BASE's redirect (one at a time, in this thread).

    ``with LoopbackReceiver(address) as receiver: receiver.receive(timeout, handle)`` binds at
    ``__enter__`` (so the URL can be printed once listening works), then serves requests until
    one reaches ``address.path``: ``handle(answer)`` decides the page the browser gets (it may
    take its time: the code exchange happens inside it) and what ``receive`` returns. Other paths
    (``/favicon.ico``) get 404. ``127.0.0.1`` is bound for ``localhost`` too.
    """

    def __init__(self, address: LoopbackAddress, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.address = address
        self._clock = clock
        self._server: _CallbackServer | None = None

    def __enter__(self) -> LoopbackReceiver:
        self._server = _CallbackServer(("127.0.0.1", self.address.port), _CallbackHandler)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.server_close()
            self._server = None

    def receive(self, timeout: float, handle: Callable[[RedirectAnswer], tuple[Page, T]]) -> T:
        """Serve until the redirect arrives; ``handle``'s result. Raises :class:`RedirectTimeout`."""
        server = self._server
        if server is None:
            raise RuntimeError("use LoopbackReceiver as a context manager")
        outcome: list[T] = []

        def on_callback(path: str, query: str) -> Page | None:
            if urlsplit(path).path != self.address.path:
                return None
            page, result = handle(parse_redirect(query))
            outcome.append(result)
            return page

        server.on_callback = on_callback
        deadline = self._clock() + timeout
        while not outcome:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise RedirectTimeout(f"no redirect reached {self.address.url} within {timeout:g} s")
            server.timeout = remaining
            server.handle_request()
        return outcome[0]


class _CallbackServer(HTTPServer):
    on_callback: Callable[[str, str], Page | None]  # set by LoopbackReceiver.receive


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer
    server_version = "ecauto-connect/0.1"
    sys_version = ""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        page = self.server.on_callback(parts.path, parts.query)
        if page is None:
            page = Page(404, "Not found", "")
        body = page.html()
        self.send_response(page.status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Silent: the request line holds the code."""
