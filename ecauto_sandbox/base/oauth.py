"""BASE OAuth: ``POST /1/oauth/token`` (refresh token or authorisation code) and ``/1/oauth/authorize``."""

from __future__ import annotations

import base64
import binascii
import html
from urllib.parse import urlencode

from ecauto_sandbox.base.errors import (
    E_BAD_CODE,
    E_BAD_GRANT_TYPE,
    E_BAD_PARAMS,
    E_BAD_REFRESH,
    E_EXPIRED_CODE,
    E_EXPIRED_REFRESH,
    E_NO_CLIENT,
    E_POST_ONLY,
    E_SERVER,
    E_UNKNOWN_CLIENT,
    failure,
    new_reply,
)
from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.state import (
    ALWAYS_GRANTED_SCOPE,
    BASE_ACCESS_TOKEN_LIFETIME,
    BASE_CODE_LIFETIME,
    BASE_REFRESH_TOKEN_LIFETIME,
    BASE_SCOPES,
    SandboxState,
)


def _client_credentials(req: Request, form: dict[str, str]) -> tuple[str, str]:
    """client_id/client_secret from the form or HTTP Basic auth (both allowed [D19])."""
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    auth = req.header("Authorization") or ""
    if (not client_id or not client_secret) and auth.startswith("Basic "):
        try:
            decoded = base64.b64decode(auth[6:].strip()).decode()
            client_id, _, client_secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            pass
    return client_id, client_secret


def oauth_token(state: SandboxState, req: Request) -> Reply:
    """``POST /1/oauth/token`` with ``grant_type=refresh_token`` or ``authorization_code``.

    The app is found by ``client_id`` (and its secret checked); the *shop* is the one the refresh
    token or code was issued for, so one app may serve several shops. Rotation (a new refresh
    token each time, the old one refused) is on by default because the reference says to design
    for it; whether BASE really rotates is UNCONFIRMED. ``redirect_uri`` is not enforced on refresh
    (ECA refreshes without it) but must match on the code grant. Token calls are not counted
    against the shop's hourly/daily budget (UNCONFIRMED).
    """
    reply = new_reply("baseToken")
    if req.method != "POST":
        return failure(reply, E_POST_ONLY)
    form = req.form()
    with state.lock:
        call_no = state.injector.next_call("baseToken")
        if state.injector.auth_server_error("baseToken", call_no):
            reply.faults.append("auth_5xx")
            return failure(reply, E_SERVER, status=500)
        grant_type = form.get("grant_type")
        if grant_type not in ("refresh_token", "authorization_code"):
            return failure(reply, E_BAD_GRANT_TYPE)
        client_id, client_secret = _client_credentials(req, form)
        if not client_id or not client_secret:
            return failure(reply, E_NO_CLIENT)
        app = state.base_apps.get(client_id)
        if app is None or app.client_secret != client_secret:
            return failure(reply, E_UNKNOWN_CLIENT)
        now_vs = state.clock.virtual_seconds(req.arrived)
        if grant_type == "authorization_code":
            code = state.auth_codes.get(form.get("code", ""))
            if code is None or code.client_id != client_id:
                return failure(reply, E_BAD_CODE)
            reply.shop_id = code.shop_id
            if now_vs - code.issued_vs >= BASE_CODE_LIFETIME:
                return failure(reply, E_EXPIRED_CODE)
            if form.get("redirect_uri") != code.redirect_uri:
                return failure(reply, E_BAD_PARAMS)  # BASE's text for it is UNCONFIRMED
            del state.auth_codes[form["code"]]  # single use
            shop_id, scopes = code.shop_id, code.scopes
            new_refresh = state.issue_base_refresh_token(shop_id, client_id, scopes, req.arrived)
        else:
            refresh_token = form.get("refresh_token", "")
            entry = state.refresh_tokens.get(refresh_token)
            if entry is None or entry.client_id != client_id:
                return failure(reply, E_BAD_REFRESH)
            reply.shop_id = entry.shop_id
            if now_vs - entry.issued_vs >= BASE_REFRESH_TOKEN_LIFETIME:
                return failure(reply, E_EXPIRED_REFRESH)
            shop_id, scopes = entry.shop_id, entry.scopes
            new_refresh = state.rotate_base_refresh_token(refresh_token, req.arrived)
        access_token, expires_in = state.issue_access_token(
            "base", shop_id, BASE_ACCESS_TOKEN_LIFETIME, req.arrived, scopes
        )
    reply.payload = {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_in,
        "refresh_token": new_refresh,
    }
    return reply


_AUTHORIZE_FIELDS = ("response_type", "client_id", "redirect_uri", "scope", "state")


def authorize(state: SandboxState, req: Request) -> Reply:
    """``/1/oauth/authorize``: the consent step [base-api.md §2].

    GET shows a page where the seller (logged in to one of the simulated shops) allows or denies
    the app; its form POSTs back here and is answered with a 302 to ``redirect_uri`` carrying
    ``code`` and ``state`` (or ``error=access_denied``). A bad ``response_type``, an unknown
    ``client_id`` or a ``redirect_uri`` other than the app's gets an error page, never a redirect.
    Unknown scopes are redirected with ``error=invalid_scope``. The page's look is ours.
    """
    reply = Reply(200, service="base", operation="baseAuthorize", content_type="text/html; charset=UTF-8")
    params = req.form() if req.method == "POST" else {k: v[0] for k, v in req.query.items() if v}
    with state.lock:
        app = state.base_apps.get(params.get("client_id", ""))
        problem = None
        if params.get("response_type") != "code":
            problem = "response_type must be code"
        elif app is None:
            problem = "unknown client_id"
        elif params.get("redirect_uri") != app.redirect_uri:
            problem = "redirect_uri is not the app's registered callback"
        if problem is not None or app is None:
            reply.status, reply.error_code = 400, "invalid_request"
            reply.raw = _page("エラー / error", f"<p>{html.escape(problem or '')}</p>")
            return reply
        scopes = frozenset((params.get("scope") or ALWAYS_GRANTED_SCOPE).split())
        answer: dict[str, str] = {}
        if not scopes <= BASE_SCOPES:
            answer["error"] = "invalid_scope"
        elif req.method == "POST":
            shop_id = params.get("shop_id", "")
            if shop_id not in state.shop_names:
                reply.status, reply.error_code = 400, "invalid_request"
                reply.raw = _page("エラー / error", "<p>unknown shop</p>")
                return reply
            reply.shop_id = shop_id
            if params.get("decision") == "allow":
                answer["code"] = state.authorize(
                    shop_id, app.client_id, app.redirect_uri, scopes, req.arrived
                )
            else:
                answer["error"] = "access_denied"
        else:
            reply.raw = _consent_page(state, params)
            return reply
    if params.get("state"):
        answer["state"] = params["state"]
    reply.status = 302
    reply.headers["Location"] = f"{app.redirect_uri}?{urlencode(answer)}"
    reply.raw = b""
    return reply


def _consent_page(state: SandboxState, params: dict[str, str]) -> bytes:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">'
        for name in _AUTHORIZE_FIELDS
    )
    options = "".join(
        f'<option value="{html.escape(shop_id)}">{html.escape(name)} ({html.escape(shop_id)})</option>'
        for shop_id, name in state.shop_names.items()
    )
    body = (
        f"<p>アプリがショップへのアクセスを求めています / an app asks for access: "
        f"{html.escape(params.get('scope') or ALWAYS_GRANTED_SCOPE)}</p>"
        f'<form method="post" action="/1/oauth/authorize">{hidden}'
        f'<label>ショップ / shop <select name="shop_id">{options}</select></label> '
        '<button name="decision" value="allow">許可する / allow</button> '
        '<button name="decision" value="deny">許可しない / deny</button></form>'
    )
    return _page("BASE (simulated) — アプリ認証 / authorize", body)


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()
