"""The SP-API route table and the pipeline every SP-API call goes through.

Each operation is declared as data (:class:`SpApiRoute`: operation name, method, path template,
handler, how to read the ASINs it asks about), mirroring the client's
:data:`ecauto_lib.amazon.client.OPERATIONS`; the operation name keys its usage plan in
:data:`ecauto_sandbox.quotas.SP_API_USAGE_PLANS` (the token bucket the pipeline takes from).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ecauto_sandbox.amazon import catalog, pricing
from ecauto_sandbox.amazon.errors import (
    DETAILS_INVALID_TOKEN,
    DETAILS_MISSING_TOKEN,
    MSG_INTERNAL,
    MSG_NOT_FOUND,
    MSG_QUOTA,
    MSG_UNAUTHORIZED,
    MSG_UNAVAILABLE,
    BadRequest,
    errors,
)
from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.quotas import SP_API_USAGE_PLANS, format_rate
from ecauto_sandbox.routing import Route, find
from ecauto_sandbox.state import SandboxState

OperationHandler = Callable[[SandboxState, Request, datetime, str], Reply]


def _no_asins(req: Request) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class SpApiRoute(Route[OperationHandler]):
    """An SP-API operation; ``asins`` reads what a call asks about, leniently, for the request log."""

    asins: Callable[[Request], tuple[str, ...]] = _no_asins


ROUTES: tuple[SpApiRoute, ...] = (
    SpApiRoute(
        "getItemOffersBatch",
        "POST",
        "/batches/products/pricing/v0/itemOffers",
        pricing.get_item_offers_batch,
        asins=pricing.batch_asins,
    ),
    SpApiRoute(
        "getItemOffers",
        "GET",
        "/products/pricing/v0/items/{asin}/offers",
        pricing.get_item_offers,
        asins=lambda req: (req.path.split("/")[-2],),
    ),
    SpApiRoute(
        "getCompetitivePricing",
        "GET",
        "/products/pricing/v0/competitivePrice",
        pricing.get_competitive_pricing,
        asins=lambda req: tuple(req.csv_param("Asins")),
    ),
    SpApiRoute(
        "searchCatalogItems",
        "GET",
        "/catalog/2022-04-01/items",
        catalog.search_catalog_items,
        asins=lambda req: tuple(req.csv_param("identifiers")),
    ),
    SpApiRoute(
        "getCatalogItem",
        "GET",
        "/catalog/2022-04-01/items/{asin}",
        catalog.get_catalog_item,
        asins=lambda req: (req.path.rsplit("/", 1)[-1],),
    ),
)


def route(method: str, path: str) -> SpApiRoute | None:
    """The SP-API operation at ``method path``, or None."""
    return find(ROUTES, method, path)


def sp_api_call(state: SandboxState, req: Request, route: SpApiRoute) -> Reply:
    """The pipeline every SP-API operation (``route``) goes through.

    Order: authentication (403, no quota token taken) → injected 429 faults → the operation's
    token bucket (429, nothing taken) → injected 5xx (the token is spent) → the operation itself
    (200, or 400/404 — these spend a token too, which is why Amazon sends the rate header on
    them). Amazon does not document whether malformed calls use quota (UNCONFIRMED); this is the
    simulator's choice.
    """
    operation = route.operation
    request_id = str(uuid.uuid4())
    rate, _burst = SP_API_USAGE_PLANS[operation]
    with state.lock:
        call_no = state.injector.next_call(operation)
        vt = state.clock.now(req.arrived)
        vs = state.clock.virtual_seconds(req.arrived)
        token = req.header("x-amz-access-token")
        valid, _ = state.access_token_owner("lwa", token, req.arrived)
        if not valid:
            details = DETAILS_MISSING_TOKEN if not token else DETAILS_INVALID_TOKEN
            reply = Reply(403, errors("Unauthorized", MSG_UNAUTHORIZED, details), error_code="Unauthorized")
        elif (
            not state.sp_api_access
        ):  # the app lost its role / the seller's authorisation (UNCONFIRMED details)
            reply = Reply(403, errors("Unauthorized", MSG_UNAUTHORIZED, ""), error_code="Unauthorized")
        elif fault := state.injector.sp_throttle(operation, call_no, vt):
            reply = Reply(
                429, errors("QuotaExceeded", MSG_QUOTA, ""), error_code="QuotaExceeded", faults=[fault]
            )
        elif state.enforce_quotas and not state.buckets[operation].try_take(vs):
            reply = Reply(429, errors("QuotaExceeded", MSG_QUOTA, ""), error_code="QuotaExceeded")
        elif status := state.injector.sp_server_error(operation, call_no):
            code, message = (
                ("InternalFailure", MSG_INTERNAL)
                if status == 500
                else ("ServiceUnavailable", MSG_UNAVAILABLE)
            )
            reply = Reply(status, errors(code, message), error_code=code, faults=["sp_5xx"])
        else:
            try:
                reply = route.handler(state, req, vt, request_id)
            except BadRequest as exc:
                reply = Reply(exc.status, errors(exc.code, exc.message), error_code=exc.code)
            if reply.status == 200 and state.injector.malformed(operation, call_no):
                reply.faults.append("malformed_json")
                reply.raw = reply.body_bytes()[: max(1, len(reply.body_bytes()) // 2)]
        delay = state.injector.slow(operation, call_no)
    if delay:
        reply.faults.append("slow")
        reply.delay = delay
    reply.service, reply.operation, reply.request_id = "sp-api", operation, request_id
    reply.asins = route.asins(req)
    reply.headers["x-amzn-RequestId"] = request_id
    if reply.status in (200, 400, 404):
        reply.headers["x-amzn-RateLimit-Limit"] = format_rate(rate * state.clock.speed)
    return reply


def not_found(req: Request) -> Reply:
    """Any other path: 404 ``NotFound`` (no operation, no quota)."""
    reply = Reply(
        404, errors("NotFound", MSG_NOT_FOUND), error_code="NotFound", service="sp-api", operation="unknown"
    )
    reply.request_id = str(uuid.uuid4())
    reply.headers["x-amzn-RequestId"] = reply.request_id
    return reply
