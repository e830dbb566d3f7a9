"""BASE handlers: OAuth token refresh and the items endpoints, per shop.

Facts and sources: the project reference ``base-api.md`` (shared/reference/ beside the checkout); shapes from the recorded responses in
``base-api-spec/recorded/``. Every error is HTTP 400 ``{"error", "error_description"}`` with the
documented Japanese texts. Choices where BASE documents nothing are marked UNCONFIRMED.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from ecauto_lib.sandbox.protocol import Reply, Request
from ecauto_lib.sandbox.scenario import BaseItem
from ecauto_lib.sandbox.state import (
    BASE_ACCESS_TOKEN_LIFETIME,
    BASE_REFRESH_TOKEN_LIFETIME,
    SandboxState,
)

CONTENT_TYPE = "application/json; charset=UTF-8"
IMAGE_HOST = "https://base-ec2.akamaized.net/images/item"
IMAGE_SIZES = ("origin", "76", "146", "300", "500", "640", "sp_480", "sp_640")
LIST_LIMIT_DEFAULT = 20
LIST_LIMIT_MAX = 100
LIST_ORDERS = ("list_order", "created", "modified")
# BASE documents no price bounds (UNCONFIRMED): the simulator accepts ¥50 – ¥9,999,999.
PRICE_MIN = 50
PRICE_MAX = 9_999_999
STOCK_MAX = 999_999
EDITABLE_TEXT = ("title", "detail", "identifier")
FOUR_BYTE = re.compile(r"[\U00010000-\U0010FFFF]")

# Documented error texts [base-api.md §2, §3, §5, §6].
E_INVALID_TOKEN = ("invalid_request", "アクセストークンが無効です。")
E_POST_ONLY = ("access_denied", "POSTで送信してください。")
E_BAD_GRANT_TYPE = ("invalid_request", "不正なgrant_typeです。")
E_NO_CLIENT = ("invalid_request", "client_idもしくはclient_secretがありません。")
E_UNKNOWN_CLIENT = ("unauthorized_client", "クライアントが見つかりませんでした。")
E_BAD_CODE = ("invalid_request", "不正な認可コードです。")
E_BAD_REFRESH = ("invalid_request", "不正なリフレッシュトークンです。")
E_EXPIRED_REFRESH = ("invalid_request", "リフレッシュトークンの有効期限が切れています。")
E_BAD_PARAMS = ("invalid_request", "不正なパラメーターです。")
E_SERVER = ("server_error", "DB error")
E_HOUR_LIMIT = ("hour_api_limit", "1時間のAPIの利用上限を超えました。")
E_DAY_LIMIT = ("day_api_limit", "1日のAPIの利用上限を超えました。")  # wording UNCONFIRMED
E_NO_ITEM_ID = ("no_item_id", "item_idは必須です。")
E_NO_ITEM = ("no_item", "商品が見つかりませんでした。")
E_BAD_ITEM_ID = ("bad_item_id", "不正なitem_idです。")
E_VALIDATION = ("validation_error", "バリデーションエラーです。")
E_NOT_POST = ("not_post_method", "POSTで送信してください。")  # text UNCONFIRMED (code documented)
E_BAD_VARIATION = ("bad_variation_id", "不正なvariation_idです。")  # text UNCONFIRMED
E_MISSING_STOCK = ("bad_params", "パラメーターが不正です。")  # text UNCONFIRMED

NGINX_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class BaseApiFailure(Exception):
    """An HTTP 400 BASE error decided while handling a call."""

    def __init__(self, error: tuple[str, str]) -> None:
        super().__init__(error[0])
        self.error = error


def failure(reply: Reply, error: tuple[str, str], status: int = 400) -> Reply:
    reply.status, reply.error_code = status, error[0]
    reply.payload = {"error": error[0], "error_description": error[1]}
    return reply


def _new_reply(operation: str) -> Reply:
    return Reply(200, service="base", operation=operation, content_type=CONTENT_TYPE, ensure_ascii=True)


# ================================================================== OAuth
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
    """``POST /1/oauth/token`` with ``grant_type=refresh_token``.

    Rotation (a new refresh token each time, the old one refused) is on by default because the
    reference says to design for it; whether BASE really rotates is UNCONFIRMED. ``redirect_uri``
    is not enforced on refresh (ECA refreshes without it). Token calls are not counted against
    the shop's hourly/daily budget (UNCONFIRMED). The authorization-code grant is not simulated:
    every code is refused as invalid.
    """
    reply = _new_reply("baseToken")
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
        shop = next((c for c in state.shop_credentials.values() if c.client_id == client_id), None)
        if shop is None or shop.client_secret != client_secret:
            return failure(reply, E_UNKNOWN_CLIENT)
        reply.shop_id = shop.id
        if grant_type == "authorization_code":
            return failure(reply, E_BAD_CODE)
        refresh_token = form.get("refresh_token", "")
        entry = state.refresh_tokens.get(refresh_token)
        if entry is None or entry.shop_id != shop.id:
            return failure(reply, E_BAD_REFRESH)
        if state.clock.virtual_seconds(req.arrived) - entry.issued_vs >= BASE_REFRESH_TOKEN_LIFETIME:
            return failure(reply, E_EXPIRED_REFRESH)
        access_token, expires_in = state.issue_access_token(
            "base", shop.id, BASE_ACCESS_TOKEN_LIFETIME, req.arrived
        )
        new_refresh = state.rotate_base_refresh_token(refresh_token, req.arrived)
    reply.payload = {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": expires_in,
        "refresh_token": new_refresh,
    }
    return reply


# ================================================================== items
def image_url(file_name: str, size: str) -> str:
    return f"{IMAGE_HOST}/{size.replace('_', '/')}/{file_name}"


def item_json(
    item: BaseItem, *, max_image_no: int = 20, image_sizes: tuple[str, ...] = IMAGE_SIZES
) -> dict[str, Any]:
    """The item object in BASE's key order; detail/edit answers carry all 20 slots × 8 sizes."""
    data: dict[str, Any] = {
        "item_id": item.item_id,
        "title": item.title,
        "detail": item.detail,
        "price": item.price,
        "proper_price": item.proper_price,
        "item_tax_type": item.item_tax_type,
        "stock": item.stock,
        "visible": item.visible,
        "list_order": item.list_order,
        "identifier": item.identifier,
        "modified": item.modified,
    }
    for slot in range(1, max_image_no + 1):
        file_name = item.images[slot - 1] if slot <= len(item.images) else None
        for size in image_sizes:
            data[f"img{slot}_{size}"] = image_url(file_name, size) if file_name else None
    data["variations"] = [dict(v) for v in item.variations]
    return data


def _int_param(value: str | None, default: int, minimum: int, maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    if not re.fullmatch(r"\d+", value):
        raise BaseApiFailure(E_VALIDATION)
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        raise BaseApiFailure(E_VALIDATION)
    return number


def list_items(state: SandboxState, req: Request, shop_id: str, *, shifted: bool = False) -> Reply:
    """``GET /1/items``: ``{"items": [...]}`` with no total count.

    Out-of-range ``limit``/``offset``/``order``/``sort`` answer ``validation_error`` here (BASE's
    reaction is UNCONFIRMED). Items carry img1..5 origin URLs unless ``max_image_no`` /
    ``image_size`` ask for more, as in the recorded list. ``shifted`` (the page-shift fault) starts
    a page at an offset > 0 one item late, as if an item in front had gone between two requests.
    """
    limit = _int_param(req.param("limit"), LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX)
    offset = _int_param(req.param("offset"), 0, 0)
    order = req.param("order") or "list_order"
    sort = req.param("sort") or "asc"
    max_image_no = _int_param(req.param("max_image_no"), 5, 1, 20)
    sizes = tuple(req.csv_param("image_size")) or ("origin",)
    if order not in LIST_ORDERS or sort not in ("asc", "desc") or any(s not in IMAGE_SIZES for s in sizes):
        raise BaseApiFailure(E_VALIDATION)
    ordered = state.sorted_items(shop_id, order)
    start = offset + 1 if shifted and offset > 0 else offset
    page = (ordered[::-1] if sort == "desc" else ordered)[start : start + limit]
    return Reply(200, {"items": [item_json(i, max_image_no=max_image_no, image_sizes=sizes) for i in page]})


def _item_id(value: str | None, missing: tuple[str, str], bad: tuple[str, str]) -> int:
    if value is None or value == "":
        raise BaseApiFailure(missing)
    if not re.fullmatch(r"\d{1,18}", value):
        raise BaseApiFailure(bad)
    return int(value)


def item_detail(state: SandboxState, req: Request, shop_id: str) -> Reply:
    """``GET /1/items/detail/{item_id}`` (the id in the path; a query ``item_id`` is refused)."""
    tail = req.path[len("/1/items/detail") :].strip("/")
    item_id = _item_id(tail, E_NO_ITEM_ID, E_NO_ITEM)
    item = state.live_item(shop_id, item_id)
    if item is None:
        raise BaseApiFailure(E_NO_ITEM)
    return Reply(200, {"item": item_json(item)})


def _validate_edit(form: dict[str, str]) -> dict[str, Any]:
    """The fields to change, validated all-or-nothing (``validation_error`` names no field)."""
    if any(
        key.startswith(("variation_id", "variation[", "variation_stock", "variation_identifier"))
        for key in form
    ):
        raise BaseApiFailure(E_BAD_VARIATION)  # simulated items have no variations
    changes: dict[str, Any] = {}
    if "price" in form:
        if form["price"] == "":
            raise BaseApiFailure(E_VALIDATION)
        changes["price"] = _int_param(form["price"], 0, PRICE_MIN, PRICE_MAX)
    if "visible" in form:
        if form["visible"] not in ("0", "1"):
            raise BaseApiFailure(E_VALIDATION)
        changes["visible"] = int(form["visible"])
    if "stock" in form:
        if form["stock"] == "":
            raise BaseApiFailure(E_VALIDATION)
        changes["stock"] = _int_param(form["stock"], 0, 0, STOCK_MAX)
    if "list_order" in form:
        if form["list_order"] == "":
            raise BaseApiFailure(E_VALIDATION)
        changes["list_order"] = _int_param(form["list_order"], 0, 0)
    for name in EDITABLE_TEXT:
        if name in form:
            value = form[name]
            if FOUR_BYTE.search(value) or (name == "title" and not value.strip()):
                raise BaseApiFailure(E_VALIDATION)  # emoji (4-byte) are refused [D19]
            changes[name] = value
    # Other keys (proper_price, item_tax_type...) are ignored: D19 does not list them (UNCONFIRMED).
    return changes


def _posted_item(
    state: SandboxState, req: Request, shop_id: str, *, missing: tuple[str, str] = E_BAD_ITEM_ID
) -> tuple[dict, BaseItem]:
    """The form of an items POST and the live item its ``item_id`` names (or the BASE error;
    ``missing`` when there is no ``item_id``)."""
    if req.method != "POST":
        raise BaseApiFailure(E_NOT_POST)
    form = req.form()
    item_id = _item_id(form.get("item_id"), missing, E_BAD_ITEM_ID)
    item = state.live_item(shop_id, item_id)
    if item is None:
        raise BaseApiFailure(E_BAD_ITEM_ID)
    return form, item


def edit_item(state: SandboxState, req: Request, shop_id: str, now: datetime) -> Reply:
    """``POST /1/items/edit``: a partial update; answers the whole item."""
    form, item = _posted_item(state, req, shop_id)
    changes = _validate_edit(form)
    for name, value in changes.items():
        setattr(item, name, value)
    item.modified = int(now.timestamp())
    state.touch_shop(shop_id)
    return Reply(200, {"item": item_json(item)})


def edit_stock(state: SandboxState, req: Request, shop_id: str, now: datetime) -> Reply:
    """``POST /1/items/edit_stock``: ``item_id`` and ``stock`` (variations are not simulated)."""
    form, item = _posted_item(state, req, shop_id)
    if "variation_id" in form:
        raise BaseApiFailure(E_BAD_VARIATION)
    if form.get("stock") is None:
        raise BaseApiFailure(E_MISSING_STOCK)
    if form["stock"] == "":
        raise BaseApiFailure(E_VALIDATION)
    item.stock = _int_param(form["stock"], 0, 0, STOCK_MAX)
    item.modified = int(now.timestamp())
    state.touch_shop(shop_id)
    return Reply(200, {"item": item_json(item)})


def delete_item(state: SandboxState, req: Request, shop_id: str, now: datetime) -> Reply:
    """``POST /1/items/delete``: ``{"result": true}``."""
    _, item = _posted_item(state, req, shop_id, missing=E_NO_ITEM_ID)
    item.deleted = True
    state.touch_shop(shop_id)
    return Reply(200, {"result": True})


def route(method: str, path: str) -> str | None:
    """The BASE operation name for a ``/1/...`` path, or None."""
    if path == "/1/oauth/token":
        return "baseToken"
    if path == "/1/items" and method == "GET":
        return "items"
    if path == "/1/items/detail" or path.startswith("/1/items/detail/"):
        return "itemsDetail"
    return {
        "/1/items/edit": "itemsEdit",
        "/1/items/edit_stock": "itemsEditStock",
        "/1/items/delete": "itemsDelete",
    }.get(path)


_HANDLERS = {
    "items": lambda state, req, shop_id, now: list_items(state, req, shop_id),
    "itemsDetail": lambda state, req, shop_id, now: item_detail(state, req, shop_id),
    "itemsEdit": edit_item,
    "itemsEditStock": edit_stock,
    "itemsDelete": delete_item,
}


def items_call(state: SandboxState, req: Request, operation: str) -> Reply:
    """The pipeline of every items call.

    Order: access token (``invalid_request``; not counted) → the shop's day, then hour budget
    (``day_api_limit`` / ``hour_api_limit``; refused calls are not counted) → count the call →
    injected 503 → the endpoint (its own 400s are counted: the call reached BASE).
    """
    reply = _new_reply(operation)
    auth = req.header("Authorization") or ""
    token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    with state.lock:
        call_no = state.injector.next_call(operation)
        now = state.clock.now(req.arrived)
        valid, shop_id = state.access_token_owner("base", token, req.arrived)
        reply.shop_id = shop_id
        if not valid or shop_id is None:
            return failure(reply, E_INVALID_TOKEN)
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
                    shifted = state.injector.page_shift(call_no) and _int_param(req.param("offset"), 0, 0) > 0
                    if shifted:
                        reply.faults.append("page_shift")
                    answer = list_items(state, req, shop_id, shifted=shifted)
                else:
                    answer = _HANDLERS[operation](state, req, shop_id, now)
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
