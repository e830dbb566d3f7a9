"""BASE handlers: OAuth token refresh and the items endpoints, per shop.

Facts and sources: the project reference ``base-api.md`` (shared/reference/ beside the checkout); shapes from the recorded responses in
``base-api-spec/recorded/``. Every error is HTTP 400 ``{"error", "error_description"}`` with the
documented Japanese texts. Choices where BASE documents nothing are marked UNCONFIRMED.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.scenario import BaseItem
from ecauto_sandbox.state import (
    ALWAYS_GRANTED_SCOPE,
    BASE_ACCESS_TOKEN_LIFETIME,
    BASE_CODE_LIFETIME,
    BASE_REFRESH_TOKEN_LIFETIME,
    BASE_SCOPES,
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
E_EXPIRED_CODE = ("invalid_request", "認可コードの有効期限が切れています。")
E_INVALID_SCOPE = ("invalid_scope", "スコープが無効です。")
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
    """``POST /1/oauth/token`` with ``grant_type=refresh_token`` or ``authorization_code``.

    The app is found by ``client_id`` (and its secret checked); the *shop* is the one the refresh
    token or code was issued for, so one app may serve several shops. Rotation (a new refresh
    token each time, the old one refused) is on by default because the reference says to design
    for it; whether BASE really rotates is UNCONFIRMED. ``redirect_uri`` is not enforced on refresh
    (ECA refreshes without it) but must match on the code grant. Token calls are not counted
    against the shop's hourly/daily budget (UNCONFIRMED).
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
        raise BaseApiFailure(E_BAD_VARIATION)  # variation edits through items/edit are not simulated
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
    """``POST /1/items/edit``: a partial update; answers the whole item.

    On an item with variations ``stock`` is the variations' sum (base-api.md: "Recomputed from
    variations when the item has any"): a ``stock`` sent here is ignored (our reading; UNCONFIRMED).
    """
    form, item = _posted_item(state, req, shop_id)
    changes = _validate_edit(form)
    if item.variations:
        changes.pop("stock", None)
    for name, value in changes.items():
        setattr(item, name, value)
    item.modified = int(now.timestamp())
    state.touch_shop(shop_id)
    return Reply(200, {"item": item_json(item)})


def edit_stock(state: SandboxState, req: Request, shop_id: str, now: datetime) -> Reply:
    """``POST /1/items/edit_stock``: ``item_id`` and ``stock``, or ``variation_id`` and
    ``variation_stock`` for one variation [D19]; the item's stock is then the variations' sum.

    An unknown ``variation_id`` (or one on an item without variations) gets ``bad_variation_id``;
    a missing ``stock`` / ``variation_stock`` gets ``bad_params``; ``stock`` alone on an item with
    variations gets ``bad_params`` too (its stock is derived: our reading, UNCONFIRMED).
    """
    form, item = _posted_item(state, req, shop_id)
    if "variation_id" in form:
        if not re.fullmatch(r"\d{1,18}", form["variation_id"] or ""):
            raise BaseApiFailure(E_BAD_VARIATION)
        try:
            target = state.variation(item, int(form["variation_id"]))
        except LookupError:
            raise BaseApiFailure(E_BAD_VARIATION) from None
        if form.get("variation_stock") is None:
            raise BaseApiFailure(E_MISSING_STOCK)
        if form["variation_stock"] == "":
            raise BaseApiFailure(E_VALIDATION)
        target["variation_stock"] = _int_param(form["variation_stock"], 0, 0, STOCK_MAX)
        item.stock = sum(int(v["variation_stock"]) for v in item.variations)
        item.modified = int(now.timestamp())
        state.touch_shop(shop_id)
        return Reply(200, {"item": item_json(item)})
    if form.get("stock") is None or item.variations:
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


def users_me(state: SandboxState, req: Request, shop_id: str) -> Reply:
    """``GET /1/users/me``: the shop behind the access token, in the shape of yamashun/base_api's
    recorded answer (2020). ``mail_address`` (scope read_users_mail) is not simulated."""
    slug = shop_id.replace("_", "-")
    return Reply(
        200,
        {
            "user": {
                "shop_id": shop_id,
                "shop_name": state.shop_names[shop_id],
                "shop_introduction": "",
                "shop_url": f"https://{slug}.thebase.in",
                "twitter_id": "",
                "facebook_id": "",
                "ameba_id": "",
                "instagram_id": "",
                "background": None,
                "display_background": 0,
                "repeat_background": 1,
                "logo": None,
                "display_logo": 0,
            }
        },
    )


def route(method: str, path: str) -> str | None:
    """The BASE operation name for a ``/1/...`` path, or None."""
    if path == "/1/oauth/token":
        return "baseToken"
    if path == "/1/oauth/authorize":
        return "baseAuthorize"
    if path == "/1/users/me" and method == "GET":
        return "usersMe"
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
    "usersMe": lambda state, req, shop_id, now: users_me(state, req, shop_id),
    "items": lambda state, req, shop_id, now: list_items(state, req, shop_id),
    "itemsDetail": lambda state, req, shop_id, now: item_detail(state, req, shop_id),
    "itemsEdit": edit_item,
    "itemsEditStock": edit_stock,
    "itemsDelete": delete_item,
}


_SCOPE_OF = {"usersMe": ALWAYS_GRANTED_SCOPE}


def items_call(state: SandboxState, req: Request, operation: str) -> Reply:
    """The pipeline of every items call (and ``/1/users/me``).

    Order: access token (``invalid_request``; not counted) → its scope (``invalid_scope``: read_items
    for GETs, write_items for POSTs, read_users for users/me; not counted) → the shop's day, then hour budget
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
        entry = state.access_token_entry("base", token, req.arrived)
        if not valid or shop_id is None or entry is None:
            return failure(reply, E_INVALID_TOKEN)
        needed = _SCOPE_OF.get(operation, "read_items" if req.method == "GET" else "write_items")
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
