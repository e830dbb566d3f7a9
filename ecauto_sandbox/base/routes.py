"""The BASE route table and the pipeline of every items call.

Each endpoint is declared as data, like the SP-API's (:mod:`ecauto_sandbox.amazon.routes`): an
:class:`OAuthRoute` is answered by its handler alone (client credentials, not counted against the
shop's budget); an :class:`ItemsRoute` goes through :func:`items_call` (access token, scope, budget,
faults) with the scope it needs. The operation name is the one in the request log and fault plans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ecauto_sandbox.base import items, oauth
from ecauto_sandbox.base.errors import (
    E_DAY_LIMIT,
    E_HOUR_LIMIT,
    E_INVALID_SCOPE,
    E_INVALID_TOKEN,
    NGINX_503,
    BaseApiFailure,
    failure,
    new_reply,
)
from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.routing import Route, find
from ecauto_sandbox.state import ALWAYS_GRANTED_SCOPE, SandboxState

PREFIX = "/1/"  # every BASE path starts so

OAuthHandler = Callable[[SandboxState, Request], Reply]
ItemsHandler = Callable[[SandboxState, Request, str, datetime], Reply]


@dataclass(frozen=True)
class OAuthRoute(Route[OAuthHandler]):
    """An OAuth endpoint: answered by its handler alone (no access token, not counted)."""


@dataclass(frozen=True)
class ItemsRoute(Route[ItemsHandler]):
    """A call with a shop's access token, through :func:`items_call`."""

    scope: str | None = None  # the scope it needs; None: read_items for a GET, write_items otherwise


ROUTES: tuple[OAuthRoute | ItemsRoute, ...] = (
    OAuthRoute("baseToken", None, "/1/oauth/token", oauth.oauth_token),
    OAuthRoute("baseAuthorize", None, "/1/oauth/authorize", oauth.authorize),
    ItemsRoute("usersMe", "GET", "/1/users/me", items.users_me, scope=ALWAYS_GRANTED_SCOPE),
    ItemsRoute("items", "GET", "/1/items", items.list_items),
    ItemsRoute("itemsDetail", None, "/1/items/detail", items.item_detail, prefix=True),
    ItemsRoute("itemsEdit", None, "/1/items/edit", items.edit_item),
    ItemsRoute("itemsEditStock", None, "/1/items/edit_stock", items.edit_stock),
    ItemsRoute("itemsDelete", None, "/1/items/delete", items.delete_item),
)


def route(method: str, path: str) -> OAuthRoute | ItemsRoute | None:
    """The BASE endpoint for a ``/1/...`` path, or None."""
    return find(ROUTES, method, path)


def call(state: SandboxState, req: Request, found: OAuthRoute | ItemsRoute) -> Reply:
    """Answer ``req`` by the route it matched."""
    if isinstance(found, OAuthRoute):
        return found.handler(state, req)
    return items_call(state, req, found)


def not_found() -> Reply:
    """Any other ``/1/`` path: a plain-text 404 (no operation, not counted)."""
    return Reply(404, raw=b"Not Found", content_type="text/plain", service="base", operation="unknown")


def items_call(state: SandboxState, req: Request, found: ItemsRoute) -> Reply:
    """The pipeline of every items call (and ``/1/users/me``): the route ``found``.

    Order: access token (``invalid_request``; not counted) → its scope (``invalid_scope``: read_items
    for GETs, write_items for POSTs, read_users for users/me; not counted) → the shop's day, then hour budget
    (``day_api_limit`` / ``hour_api_limit``; refused calls are not counted) → count the call →
    injected 503 → the endpoint (its own 400s are counted: the call reached BASE).
    """
    operation = found.operation
    reply = new_reply(operation)
    auth = req.header("Authorization") or ""
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    with state.lock:
        call_no = state.injector.next_call(operation)
        now = state.clock.now(req.arrived)
        valid, shop_id = state.access_token_owner("base", token, req.arrived)
        reply.shop_id = shop_id
        entry = state.access_token_entry("base", token, req.arrived)
        if not valid or shop_id is None or entry is None:
            return failure(reply, E_INVALID_TOKEN)
        needed = found.scope or ("read_items" if req.method == "GET" else "write_items")
        if needed not in entry.scopes:
            return failure(reply, E_INVALID_SCOPE)
        budget = state.budgets[shop_id]
        refusal = budget.refusal(now)
        if refusal:
            status = state.injector.faults.base_limit_status
            if status != 400:
                reply.faults.append("limit_status")
            return failure(reply, E_DAY_LIMIT if refusal == "day_api_limit" else E_HOUR_LIMIT, status)
        budget.count(now)
        if state.injector.base_server_error(operation, call_no):
            reply.status, reply.raw, reply.content_type = 503, NGINX_503, "text/html"
            reply.faults.append("base_5xx")
        else:
            try:
                if operation == "items":
                    shifted = (
                        state.injector.page_shift(call_no) and items.int_param(req.param("offset"), 0, 0) > 0
                    )
                    if shifted:
                        reply.faults.append("page_shift")
                    answer = items.list_items(state, req, shop_id, now, shifted=shifted)
                else:
                    answer = found.handler(state, req, shop_id, now)
                reply.status, reply.payload = answer.status, answer.payload
            except BaseApiFailure as exc:
                failure(reply, exc.error)
            if reply.status == 200 and state.injector.malformed(operation, call_no):
                reply.faults.append("malformed_json")
                body = reply.body_bytes()
                reply.raw = body[: max(1, len(body) // 2)]
        delay = state.injector.slow(operation, call_no)
    if delay:
        reply.faults.append("slow")
        reply.delay = delay
    return reply
