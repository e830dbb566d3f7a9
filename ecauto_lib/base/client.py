"""BASE items API client (list, detail, edit) with typed errors and one re-auth on a dead token.

BASE answers every error with HTTP 400 and ``{"error", "error_description"}`` (base-api.md §6);
:func:`error_from_answer` maps the ``error`` code to a typed exception, reading the code before the
HTTP status (a proxy, or BASE one day, may send ``hour_api_limit`` with a 429 or a 5xx). A rejected access token
(``invalid_request`` mentioning アクセストークン, or an undocumented 401) triggers one
``auth.refresh(rejected_access_token=...)`` and one retry. The hourly/daily budgets
(5,000 / 100,000 calls per shop) are the caller's to count, from :attr:`BaseClient.calls`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import requests

from ecauto_lib.base.errors import (
    SERVICE,
    BadItemIdError,
    BaseApiError,
    BaseValidationError,
    BudgetExhaustedError,
    DayLimitError,
    HourLimitError,
    base_error_fields,
    error_from_answer,
    is_invalid_token,
)
from ecauto_lib.base.urls import BASE_API_URL
from ecauto_lib.domain import BaseShop
from ecauto_lib.errors import AuthError, TransientError
from ecauto_lib.http import DEFAULT_TIMEOUT, json_object, make_session, required_field, send

MAX_PAGE_SIZE = 100
ORDERS = ("list_order", "created", "modified")
SORTS = ("asc", "desc")

__all__ = [  # the error types are defined in ecauto_lib.base.errors; importable from here too
    "BASE_API_URL",
    "BadItemIdError",
    "BaseApiError",
    "BaseClient",
    "BaseValidationError",
    "BudgetExhaustedError",
    "DayLimitError",
    "Endpoint",
    "HourLimitError",
    "ShopAuth",
    "edit_form",
    "edit_stock_form",
    "form_value",
]


class ShopAuth(Protocol):
    """What the client needs from a shop's OAuth (``ecauto_lib.base.auth.BaseAuth`` provides it)."""

    account_id: str

    def access_token(self) -> str: ...

    def refresh(self, *, rejected_access_token: str | None = None) -> str: ...


# -- client ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One BASE API endpoint as data (``path`` may hold ``{item_id}``)."""

    name: str
    method: str
    path: str


LIST_ITEMS = Endpoint("items", "GET", "/1/items")
ITEM_DETAIL = Endpoint("items/detail", "GET", "/1/items/detail/{item_id}")  # id in the path, not the query
EDIT_ITEM = Endpoint("items/edit", "POST", "/1/items/edit")
USERS_ME = Endpoint("users/me", "GET", "/1/users/me")  # scope read_users, always granted
EDIT_STOCK = Endpoint("items/edit_stock", "POST", "/1/items/edit_stock")


def form_value(name: str, value: Any) -> str:
    """A form-encoded value: bools as ``1``/``0``, ints and strings as they are."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | str):
        return str(value)
    raise ValueError(f"{name} must be an int, str or bool for items/edit, got {type(value).__name__}")


def edit_form(
    item_id: int, *, price: int | None = None, visible: bool | None = None, **fields: Any
) -> dict[str, str]:
    """The ``items/edit`` form: ``item_id`` plus only the given fields. Raises ValueError before any call."""
    if isinstance(item_id, bool) or not isinstance(item_id, int) or item_id <= 0:
        raise ValueError(f"item_id must be a positive int, got {item_id!r}")
    if price is not None and (isinstance(price, bool) or not isinstance(price, int) or price < 0):
        raise ValueError(f"price must be an int number of yen >= 0, got {price!r}")
    if visible is not None and not isinstance(visible, bool):
        raise ValueError(f"visible must be a bool, got {visible!r}")
    if "item_id" in fields:
        raise ValueError("item_id is given positionally")
    changes = {"price": price, "visible": visible, **fields}
    form = {name: form_value(name, value) for name, value in changes.items() if value is not None}
    if not form:
        raise ValueError("items/edit needs at least one field to change")
    return {"item_id": str(item_id), **form}


def edit_stock_form(
    item_id: int,
    *,
    stock: int | None = None,
    variation_id: int | None = None,
    variation_stock: int | None = None,
) -> dict[str, str]:
    """The ``items/edit_stock`` form: ``item_id`` + ``stock``, or + ``variation_id`` and
    ``variation_stock``. Raises ValueError before any call."""
    counts = {"stock": stock, "variation_stock": variation_stock, "variation_id": variation_id}
    for name, value in counts.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    if (stock is None) == (variation_id is None) or (variation_id is None) != (variation_stock is None):
        raise ValueError("items/edit_stock needs either stock, or variation_id with variation_stock")
    # edit_form leaves out the None ones; the form keeps this order.
    form = edit_form(item_id, stock=stock, variation_stock=variation_stock, variation_id=variation_id)
    return form


_Auth = TypeVar("_Auth", bound=ShopAuth)


class BaseClient(Generic[_Auth]):
    """One BASE shop's items API. Thread-safe; ``calls`` counts API calls made (token calls excluded).

    Generic in its auth, so ``client.auth`` keeps the type it was built with (``BaseAuth``'s
    ``refresh_count``, say)."""

    def __init__(
        self,
        api_url: str,
        auth: _Auth,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.auth = auth
        self._session = session if session is not None else make_session()
        self._timeout = timeout
        self._calls_lock = threading.Lock()
        self.calls = 0

    def __repr__(self) -> str:
        return (
            f"BaseClient(api_url={self.api_url!r}, account_id={self.auth.account_id!r}, calls={self.calls})"
        )

    def list_items(
        self, *, limit: int = 100, offset: int = 0, order: str = "list_order", sort: str = "asc"
    ) -> list[dict]:
        """One page of ``GET /1/items`` (BASE gives no total count)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be 1..{MAX_PAGE_SIZE}, got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an int >= 0, got {offset!r}")
        if order not in ORDERS or sort not in SORTS:
            raise ValueError(
                f"order must be one of {ORDERS} and sort one of {SORTS}, got {order!r}, {sort!r}"
            )
        params = {"limit": limit, "offset": offset, "order": order, "sort": sort}
        body = self._call(LIST_ITEMS, params=params)
        return _list_field(body, "items", LIST_ITEMS)

    def iter_items(self, *, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict]:
        """Every item of the shop, paging by ``offset`` until a page comes back short."""
        offset = 0
        while True:
            page = self.list_items(limit=page_size, offset=offset)
            yield from page
            if len(page) < page_size:
                return
            offset += len(page)

    def item_detail(self, item_id: int) -> dict | None:
        """``GET /1/items/detail/{item_id}``'s item, or None when BASE answers ``no_item``."""
        if isinstance(item_id, bool) or not isinstance(item_id, int) or item_id <= 0:
            raise ValueError(f"item_id must be a positive int, got {item_id!r}")
        try:
            body = self._call(ITEM_DETAIL, path_args={"item_id": item_id})
        except BaseApiError as exc:
            if exc.code == "no_item":
                return None
            raise
        return _object_field(body, "item", ITEM_DETAIL)

    def shop(self) -> BaseShop:
        """``GET /1/users/me``: which BASE shop the token is for."""
        user = _object_field(self._call(USERS_ME), "user", USERS_ME)
        shop_id, name, url = user.get("shop_id"), user.get("shop_name"), user.get("shop_url")
        if not isinstance(shop_id, str) or not shop_id:
            raise TransientError(
                "base users/me: the answer has no shop_id", service=SERVICE, status=200, code="MalformedBody"
            )
        return BaseShop(shop_id, name if isinstance(name, str) else "", url if isinstance(url, str) else None)

    def edit_item(
        self, item_id: int, *, price: int | None = None, visible: bool | None = None, **fields: Any
    ) -> dict:
        """``POST /1/items/edit`` with ``item_id`` and only the given fields; returns BASE's updated item."""
        form = edit_form(item_id, price=price, visible=visible, **fields)
        body = self._call(EDIT_ITEM, data=form)
        return _object_field(body, "item", EDIT_ITEM)

    def edit_stock(
        self,
        item_id: int,
        *,
        stock: int | None = None,
        variation_id: int | None = None,
        variation_stock: int | None = None,
    ) -> dict:
        """``POST /1/items/edit_stock``: the item's ``stock``, or one variation's (``variation_id`` +
        ``variation_stock``, base-api.md §4); returns BASE's updated item."""
        form = edit_stock_form(
            item_id, stock=stock, variation_id=variation_id, variation_stock=variation_stock
        )
        body = self._call(EDIT_STOCK, data=form)
        return _object_field(body, "item", EDIT_STOCK)

    # -- transport --------------------------------------------------------------------------

    def _call(
        self,
        endpoint: Endpoint,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        path_args: dict[str, Any] | None = None,
    ) -> dict:
        """Send with the shop's access token; on a rejected token refresh once and retry once."""
        url = self.api_url + endpoint.path.format(**(path_args or {}))
        token = self.auth.access_token()
        response = self._send(endpoint, url, token, params=params, data=data)
        error, description = _error_fields_if_failed(response)
        if is_invalid_token(response.status_code, error, description):
            token = self.auth.refresh(rejected_access_token=token)
            response = self._send(endpoint, url, token, params=params, data=data)
            error, description = _error_fields_if_failed(response)
            if is_invalid_token(response.status_code, error, description):
                raise AuthError(
                    f"base {endpoint.name} for account {self.auth.account_id}: the access token was "
                    f"rejected again right after a refresh (HTTP {response.status_code}, {error}: {description})",
                    service=SERVICE,
                    status=response.status_code,
                    code=error,
                )
        if response.status_code == 200:
            return json_object(response, service=SERVICE)
        context = f"base {endpoint.name} for account {self.auth.account_id}"
        raise error_from_answer(response.status_code, error, description, context=context)

    def _send(
        self,
        endpoint: Endpoint,
        url: str,
        token: str,
        *,
        params: dict[str, Any] | None,
        data: dict[str, str] | None,
    ) -> requests.Response:
        with self._calls_lock:
            self.calls += 1
        return send(
            self._session,
            endpoint.method,
            url,
            service=SERVICE,
            timeout=self._timeout,
            params=params,
            data=data,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )


def _error_fields_if_failed(response: requests.Response) -> tuple[str | None, str | None]:
    return (None, None) if response.status_code == 200 else base_error_fields(response)


def _list_field(body: dict, name: str, endpoint: Endpoint) -> list[dict]:
    value = required_field(body, name, list, service=SERVICE, operation=endpoint.name)
    return [entry for entry in value if isinstance(entry, dict)]


def _object_field(body: dict, name: str, endpoint: Endpoint) -> dict:
    return required_field(body, name, dict, service=SERVICE, operation=endpoint.name)
