"""The admin endpoint ``/_sandbox/...``: drive and inspect a running simulator over HTTP (JSON).

Every route mirrors a Python method of :class:`~ecauto_sandbox.Sandbox`; docs/sandbox.md lists
them. Errors answer ``{"error": "<message>"}`` with 400 (bad input) or 404 (unknown route/object).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.records import RequestRecord
from ecauto_sandbox.state import SandboxError

if TYPE_CHECKING:
    from ecauto_sandbox.app import Sandbox

PREFIX = "/_sandbox"


def to_json(value: Any) -> Any:
    """Dataclasses, datetimes and tuples as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def record_json(record: RequestRecord) -> dict[str, Any]:
    return to_json(record)


def _body(req: Request) -> dict[str, Any]:
    if not req.body:
        return {}
    try:
        data = req.json()
    except ValueError:
        raise SandboxError("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise SandboxError("the body must be a JSON object")
    return data


def _datetime(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SandboxError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise SandboxError("times must carry a timezone (e.g. 2026-01-01T00:00:00Z)")
    return parsed


def _faults_changes(data: dict[str, Any]) -> dict[str, Any]:
    changes = dict(data)
    storm = changes.get("storm_429")
    if isinstance(storm, dict):
        changes["storm_429"] = (_datetime(storm.get("start")), _datetime(storm.get("end")))
    elif isinstance(storm, list):
        changes["storm_429"] = tuple(_datetime(t) for t in storm)
    return changes


Route = tuple[str, str, re.Pattern[str], Callable[..., Any]]


def _routes(sb: Sandbox) -> list[Route]:
    def product(asin: str) -> Any:
        found = sb.product(asin)
        if found is None:
            raise LookupError(f"unknown ASIN {asin!r}")
        return {**to_json(found), "expected": to_json(found.expected(now=sb.now()))}

    def item(shop: str, item_id: str) -> Any:
        found = sb.item(shop, int(item_id))
        if found is None:
            raise LookupError(f"shop {shop} has no item {item_id}")
        return found

    def requests(req: Request) -> Any:
        records = sb.requests
        limit = int(req.param("limit") or 1000)
        service = req.param("service")
        if service:
            records = [r for r in records if r.service == service]
        return {"requests": [record_json(r) for r in records[-limit:]], "total": len(records)}

    return [
        ("GET", "state", re.compile(r"/state"), lambda req: sb.describe()),
        ("GET", "env", re.compile(r"/env"), lambda req: sb.env()),
        ("GET", "accounts", re.compile(r"/accounts"), lambda req: sb.accounts_config()),
        ("GET", "product", re.compile(r"/products/(?P<asin>[^/]+)"), lambda req, asin: product(asin)),
        (
            "POST",
            "setPrice",
            re.compile(r"/products/(?P<asin>[^/]+)/price"),
            lambda req, asin: to_json(
                sb.set_price(asin, _body(req).get("listing_yen"), _body(req).get("shipping_yen"))
            ),
        ),
        (
            "POST",
            "sellOut",
            re.compile(r"/products/(?P<asin>[^/]+)/sell_out"),
            lambda req, asin: sb.sell_out(asin),
        ),
        (
            "POST",
            "restock",
            re.compile(r"/products/(?P<asin>[^/]+)/restock"),
            lambda req, asin: sb.restock(asin, _body(req).get("listing_yen")),
        ),
        (
            "POST",
            "setStatus",
            re.compile(r"/products/(?P<asin>[^/]+)/status"),
            lambda req, asin: sb.set_status(
                asin, _body(req).get("status"), available_at=_datetime(_body(req).get("available_at"))
            ),
        ),
        (
            "POST",
            "setItemError",
            re.compile(r"/products/(?P<asin>[^/]+)/item_error"),
            lambda req, asin: sb.set_item_error(asin, _body(req).get("code")),
        ),
        (
            "GET",
            "items",
            re.compile(r"/shops/(?P<shop>[^/]+)/items"),
            lambda req, shop: {"items": sb.items(shop)},
        ),
        (
            "GET",
            "item",
            re.compile(r"/shops/(?P<shop>[^/]+)/items/(?P<item_id>\d+)"),
            lambda req, shop, item_id: item(shop, item_id),
        ),
        (
            "POST",
            "deleteItem",
            re.compile(r"/shops/(?P<shop>[^/]+)/items/(?P<item_id>\d+)/delete"),
            lambda req, shop, item_id: sb.delete_item(shop, int(item_id)),
        ),
        (
            "POST",
            "sell",
            re.compile(r"/shops/(?P<shop>[^/]+)/items/(?P<item_id>\d+)/sell"),
            lambda req, shop, item_id: sb.sell(
                shop,
                int(item_id),
                _body(req).get("quantity", 1),
                _body(req).get("variation_id"),
            ),
        ),
        (
            "POST",
            "exhaustBaseHour",
            re.compile(r"/shops/(?P<shop>[^/]+)/exhaust_hour"),
            lambda req, shop: sb.exhaust_base_hour(shop),
        ),
        (
            "POST",
            "exhaustBaseDay",
            re.compile(r"/shops/(?P<shop>[^/]+)/exhaust_day"),
            lambda req, shop: sb.exhaust_base_day(shop),
        ),
        (
            "GET",
            "baseBudget",
            re.compile(r"/shops/(?P<shop>[^/]+)/budget"),
            lambda req, shop: sb.base_budget(shop),
        ),
        ("POST", "expireTokens", re.compile(r"/tokens/expire"), lambda req: {"expired": sb.expire_tokens()}),
        (
            "POST",
            "expireRefreshTokens",
            re.compile(r"/shops/(?P<shop>[^/]+)/expire_refresh_tokens"),
            lambda req, shop: {"expired": sb.expire_refresh_tokens(shop)},
        ),
        (
            "POST",
            "authorize",
            re.compile(r"/shops/(?P<shop>[^/]+)/authorize"),
            lambda req, shop: {
                "code": sb.authorize(
                    shop,
                    client_id=_body(req).get("client_id"),
                    redirect_uri=_body(req).get("redirect_uri"),
                    scope=_body(req).get("scope") or "read_items write_items",
                )
            },
        ),
        ("POST", "rotateLwaSecret", re.compile(r"/lwa/rotate_secret"), lambda req: sb.rotate_lwa_secret()),
        (
            "POST",
            "setSpApiAccess",
            re.compile(r"/sp_api/access"),
            lambda req: sb.set_sp_api_access(bool(_body(req).get("allowed", True))),
        ),
        ("GET", "faults", re.compile(r"/faults"), lambda req: sb.faults.to_json()),
        (
            "POST",
            "setFaults",
            re.compile(r"/faults"),
            lambda req: sb.set_faults(**_faults_changes(_body(req))).to_json(),
        ),
        ("GET", "requests", re.compile(r"/requests"), requests),
        ("POST", "clearRequests", re.compile(r"/requests/clear"), lambda req: sb.clear_requests()),
        ("GET", "stats", re.compile(r"/stats"), lambda req: sb.stats(window=int(req.param("window") or 10))),
    ]


def handle(sb: Sandbox, req: Request) -> Reply:
    """Answer one ``/_sandbox/...`` call."""
    sub = req.path[len(PREFIX) :] or "/"
    operation = "admin"
    for method, name, pattern, action in _routes(sb):
        match = pattern.fullmatch(sub)
        if match and method == req.method:
            operation = name
            try:
                result = action(req, **match.groupdict())
            except LookupError as exc:
                return _error(404, str(exc).strip("'\""), operation)
            except (SandboxError, TypeError, ValueError) as exc:
                return _error(400, str(exc), operation)
            payload = {"ok": True} if result is None else to_json(result)
            return Reply(200, payload, service="admin", operation=operation)
    return _error(404, f"no admin route {req.method} {req.path}", operation)


def _error(status: int, message: str, operation: str) -> Reply:
    return Reply(status, {"error": message}, service="admin", operation=operation, error_code="admin_error")
