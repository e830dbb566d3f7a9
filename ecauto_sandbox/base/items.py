"""BASE items: the item JSON, ``/1/items`` (list, detail, edit, edit_stock, delete) and ``/1/users/me``.

Every handler here takes ``(state, req, shop_id, now)`` and runs inside
:func:`ecauto_sandbox.base.routes.items_call` (token, scope, budget and faults already handled).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ecauto_sandbox.base.errors import (
    E_BAD_ITEM_ID,
    E_BAD_VARIATION,
    E_MISSING_STOCK,
    E_NO_ITEM,
    E_NO_ITEM_ID,
    E_NOT_POST,
    E_VALIDATION,
    BaseApiFailure,
)
from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.scenario import BaseItem
from ecauto_sandbox.state import SandboxState

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


def int_param(value: str | None, default: int, minimum: int, maximum: int | None = None) -> int:
    if value is None or value == "":
        return default
    if not re.fullmatch(r"\d+", value):
        raise BaseApiFailure(E_VALIDATION)
    number = int(value)
    if number < minimum or (maximum is not None and number > maximum):
        raise BaseApiFailure(E_VALIDATION)
    return number


def list_items(
    state: SandboxState, req: Request, shop_id: str, now: datetime, *, shifted: bool = False
) -> Reply:
    """``GET /1/items``: ``{"items": [...]}`` with no total count.

    Out-of-range ``limit``/``offset``/``order``/``sort`` answer ``validation_error`` here (BASE's
    reaction is UNCONFIRMED). Items carry img1..5 origin URLs unless ``max_image_no`` /
    ``image_size`` ask for more, as in the recorded list. ``shifted`` (the page-shift fault) starts
    a page at an offset > 0 one item late, as if an item in front had gone between two requests.
    """
    limit = int_param(req.param("limit"), LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX)
    offset = int_param(req.param("offset"), 0, 0)
    order = req.param("order") or "list_order"
    sort = req.param("sort") or "asc"
    max_image_no = int_param(req.param("max_image_no"), 5, 1, 20)
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


def item_detail(state: SandboxState, req: Request, shop_id: str, now: datetime) -> Reply:
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
        changes["price"] = int_param(form["price"], 0, PRICE_MIN, PRICE_MAX)
    if "visible" in form:
        if form["visible"] not in ("0", "1"):
            raise BaseApiFailure(E_VALIDATION)
        changes["visible"] = int(form["visible"])
    if "stock" in form:
        if form["stock"] == "":
            raise BaseApiFailure(E_VALIDATION)
        changes["stock"] = int_param(form["stock"], 0, 0, STOCK_MAX)
    if "list_order" in form:
        if form["list_order"] == "":
            raise BaseApiFailure(E_VALIDATION)
        changes["list_order"] = int_param(form["list_order"], 0, 0)
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
        target["variation_stock"] = int_param(form["variation_stock"], 0, 0, STOCK_MAX)
        item.stock = sum(int(v["variation_stock"]) for v in item.variations)
        item.modified = int(now.timestamp())
        state.touch_shop(shop_id)
        return Reply(200, {"item": item_json(item)})
    if form.get("stock") is None or item.variations:
        raise BaseApiFailure(E_MISSING_STOCK)
    if form["stock"] == "":
        raise BaseApiFailure(E_VALIDATION)
    item.stock = int_param(form["stock"], 0, 0, STOCK_MAX)
    item.modified = int(now.timestamp())
    state.touch_shop(shop_id)
    return Reply(200, {"item": item_json(item)})


def delete_item(state: SandboxState, req: Request, shop_id: str, now: datetime) -> Reply:
    """``POST /1/items/delete``: ``{"result": true}``."""
    _, item = _posted_item(state, req, shop_id, missing=E_NO_ITEM_ID)
    item.deleted = True
    state.touch_shop(shop_id)
    return Reply(200, {"result": True})


def users_me(state: SandboxState, req: Request, shop_id: str, now: datetime) -> Reply:
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
