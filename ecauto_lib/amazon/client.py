"""SP-API client: paced, typed-error calls of the operations this project uses.

Each operation is declared as data (:class:`Operation`: method, path, default rate and burst,
items per call) and owns a :class:`~ecauto_lib.amazon.pacing.TokenBucket`. Every call goes:

``pacer.acquire()`` → send with the LWA token → classify:

- 200: decode; adopt ``x-amzn-RateLimit-Limit`` into the pacer when present;
- 403 (and 401, defensively): invalidate the LWA token and retry **once**, then :class:`AuthError`;
- 429: drain the pacer (the server's bucket is empty) and raise :class:`QuotaExceededError`;
- 5xx, timeouts, connection errors, malformed JSON: :class:`TransientError`;
- other 4xx: :class:`PermanentError` with ``errors[0]``'s code and message.

No other retries happen here: Prefect task retries wrap these calls.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from ecauto_lib.amazon.lwa import LwaAuth
from ecauto_lib.amazon.pacing import DEFAULT_SAFETY_MARGIN, Pacer, TokenBucket
from ecauto_lib.asin import is_asin
from ecauto_lib.errors import (
    ApiError,
    ApiErrorFields,
    CredentialsRefusedError,
    InvalidAsinError,
    PermanentError,
    TransientError,
)
from ecauto_lib.http import (
    DEFAULT_TIMEOUT,
    DEFAULT_USER_AGENT,
    error_body,
    json_object,
    make_session,
    required_field,
    send,
)

SERVICE = "sp-api"
JP_MARKETPLACE_ID = "A1VC38T7YXB528"
FE_ENDPOINT = "https://sellingpartnerapi-fe.amazon.com"
"""Production host for the Far East region, JP included (sp-api.md §2)."""

RATE_LIMIT_HEADER = "x-amzn-RateLimit-Limit"
REQUEST_ID_HEADER = "x-amzn-RequestId"


class QuotaExceededError(TransientError):
    """HTTP 429 ``QuotaExceeded``: the operation's token bucket was empty. Retry after a back-off."""


@dataclass(frozen=True)
class Operation:
    """One SP-API operation as data: HTTP method and path, default usage plan, items per call."""

    name: str
    method: str
    path: str
    rate: float  # requests/second (default plan; the live value comes back in x-amzn-RateLimit-Limit)
    burst: int
    max_items: int


GET_ITEM_OFFERS_BATCH = Operation(
    "getItemOffersBatch", "POST", "/batches/products/pricing/v0/itemOffers", 0.1, 1, 20
)
GET_ITEM_OFFERS = Operation("getItemOffers", "GET", "/products/pricing/v0/items/{asin}/offers", 0.5, 1, 1)
"""One ASIN a call, with its own bucket (sp-api.md §3.1, §4): used to re-check sell-outs beside the
batch fetch, so the re-checks do not take getItemOffersBatch's quota."""
SEARCH_CATALOG_ITEMS = Operation("searchCatalogItems", "GET", "/catalog/2022-04-01/items", 2.0, 2, 20)
OPERATIONS: tuple[Operation, ...] = (GET_ITEM_OFFERS_BATCH, GET_ITEM_OFFERS, SEARCH_CATALOG_ITEMS)

ITEM_ERROR_STATUSES = (400, 404)
"""Answers of getItemOffers about the item itself (unknown or malformed ASIN): per-item errors."""
CATALOG_INCLUDED_DATA = ("summaries", "images")
MAX_CATALOG_PAGES = 50  # searchCatalogItems stops paging after 1,000 items (50 pages of 20)


def amz_date(now: datetime | None = None) -> str:
    """``x-amz-date`` value, ``YYYYMMDDTHHMMSSZ`` in UTC."""
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def checked_asins(asins: Sequence[str], max_items: int) -> list[str]:
    """``asins`` as a list after checking there are 1..``max_items``, each a well-formed ASIN, no repeats.

    Raises :class:`ValueError` (an :class:`InvalidAsinError` for a malformed ASIN) before any call.
    ASINs are not normalised here: the caller's keys must match the answer's keys exactly.
    """
    if isinstance(asins, str):
        raise ValueError("asins must be a sequence of ASINs, not a single string")
    listed = list(asins)
    if not 1 <= len(listed) <= max_items:
        raise ValueError(f"expected 1 to {max_items} ASINs per call, got {len(listed)}")
    for asin in listed:
        if not isinstance(asin, str) or not is_asin(asin):
            raise InvalidAsinError(f"malformed ASIN {asin!r}")
    if len(set(listed)) != len(listed):
        repeated = sorted({a for a in listed if listed.count(a) > 1})
        # SP-API rejects the whole batch: "Duplicate requests submitted. Cannot run batch request."
        raise ValueError(f"duplicate ASINs in one call: {', '.join(repeated)}")
    return listed


def item_offers_query(marketplace_id: str, item_condition: str) -> dict[str, str]:
    """getItemOffers' query parameters (also the top-level fields of each batch request)."""
    return {"MarketplaceId": marketplace_id, "ItemCondition": item_condition, "CustomerType": "Consumer"}


def item_offers_request(asin: str, marketplace_id: str, item_condition: str) -> dict[str, str]:
    """One ``requests[]`` element of getItemOffersBatch, parameters at the top level.

    A ``queryParams`` wrapper fails since 2026-04-23 with "Requested MarketplaceId is invalid"
    (sp-api.md §3.1).
    """
    return {
        "uri": GET_ITEM_OFFERS.path.format(asin=asin),
        "method": "GET",
        **item_offers_query(marketplace_id, item_condition),
    }


def responses_by_asin(asins: Sequence[str], responses: Sequence[Any]) -> dict[str, dict]:
    """Key each batch answer by the ASIN in its ``request`` echo, else by its position.

    An echo naming an ASIN that was not asked for is ignored in favour of the position. ASINs
    with no answer are simply absent from the result.
    """
    wanted = set(asins)
    keyed: dict[str, dict] = {}
    for position, response in enumerate(responses):
        if not isinstance(response, dict):
            continue
        request = response.get("request")
        echoed = request.get("Asin") if isinstance(request, dict) else None
        if isinstance(echoed, str) and echoed in wanted:
            asin = echoed
        elif position < len(asins):
            asin = asins[position]
        else:
            continue
        keyed.setdefault(asin, response)
    return keyed


def parse_rate_limit(value: str | None) -> float | None:
    """The rate in ``x-amzn-RateLimit-Limit`` (e.g. ``"0.1"``), or None when absent or unusable."""
    if not value:
        return None
    try:
        rate = float(value)
    except ValueError:
        return None
    return rate if math.isfinite(rate) and rate > 0 else None


def _first_error(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` of ``errors[0]`` in an SP-API error body, or ``(None, None)``."""
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code, message = first.get("code"), first.get("message")
    return (code if isinstance(code, str) else None, message if isinstance(message, str) else None)


class SpApiClient:
    """SP-API for one seller account: LWA auth, one pacer per operation, typed errors.

    Thread-safe: pacers and the LWA cache are, and ``requests.Session`` is used only for sending.
    ``stats[op_name]`` holds ``calls`` (HTTP calls sent), ``throttled`` (429s) and ``waited_seconds``.
    """

    def __init__(
        self,
        endpoint: str,
        auth: LwaAuth,
        marketplace_id: str = JP_MARKETPLACE_ID,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        user_agent: str = DEFAULT_USER_AGENT,
        safety_margin: float = DEFAULT_SAFETY_MARGIN,
        min_slack: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        pacers: Mapping[str, Pacer] | None = None,
    ) -> None:
        if len(user_agent) > 500:  # SP-API rejects longer user agents (sp-api.md §1)
            raise ValueError("user_agent must be at most 500 characters")
        self.endpoint = endpoint.rstrip("/")
        self.auth = auth
        self.marketplace_id = marketplace_id
        self._session = session if session is not None else make_session(user_agent)
        self._timeout = timeout
        self._user_agent = user_agent
        # One pacer per operation: a local token bucket, unless the caller shares one across
        # processes (``pacers``, e.g. ecauto_lib.db.quota.SharedPacer keyed by operation name).
        self._pacers: dict[str, Pacer] = {
            op.name: TokenBucket(
                op.rate, op.burst, safety_margin=safety_margin, min_slack=min_slack, clock=clock, sleep=sleep
            )
            for op in OPERATIONS
        }
        self._pacers.update(pacers or {})
        self._stats_lock = threading.Lock()
        self._refused: str | None = None  # SP-API refused a fresh token: nothing more is sent
        self.stats: dict[str, dict[str, float]] = {
            op.name: {"calls": 0, "throttled": 0, "waited_seconds": 0.0} for op in OPERATIONS
        }

    def pacer(self, op_name: str) -> Pacer:
        """The token bucket pacing ``op_name`` (e.g. ``"getItemOffersBatch"``)."""
        return self._pacers[op_name]

    def __repr__(self) -> str:
        return f"SpApiClient(endpoint={self.endpoint!r}, marketplace_id={self.marketplace_id!r}, auth={self.auth!r})"

    # -- operations -------------------------------------------------------------------------

    def item_offers_batch(self, asins: Sequence[str], item_condition: str = "New") -> dict[str, dict]:
        """getItemOffersBatch for 1..20 unique ASINs: each per-item response keyed by its ASIN.

        Each value is the raw ``responses[i]`` element (``status``, ``body``, ``headers``,
        ``request``); per-item failures are not raised here, see
        :func:`~ecauto_lib.amazon.offers.observation_from_item`.
        """
        listed = checked_asins(asins, GET_ITEM_OFFERS_BATCH.max_items)
        body = {"requests": [item_offers_request(a, self.marketplace_id, item_condition) for a in listed]}
        answer, request_id = self._call(GET_ITEM_OFFERS_BATCH, json_body=body)
        responses = required_field(
            answer,
            "responses",
            list,
            service=SERVICE,
            operation=GET_ITEM_OFFERS_BATCH.name,
            request_id=request_id,
        )
        return responses_by_asin(listed, responses)

    def item_offers(self, asin: str, item_condition: str = "New") -> dict:
        """getItemOffers for one ASIN, as a getItemOffersBatch ``responses[i]`` element.

        The element has the per-item ``status`` and ``body`` (``payload`` or ``errors``), so one
        parser (:func:`~ecauto_lib.amazon.offers.observation_from_item`) reads both operations.
        A 4xx about the item itself (400 ``InvalidInput`` for an ASIN Amazon does not know, 404)
        is returned in that element, not raised: in a batch it would be a per-item error too.
        429, 5xx and auth failures raise as for every operation.
        """
        (listed,) = checked_asins([asin], GET_ITEM_OFFERS.max_items)
        params = item_offers_query(self.marketplace_id, item_condition)
        path = GET_ITEM_OFFERS.path.format(asin=listed)
        response = self._exchange(GET_ITEM_OFFERS, path, params=params, json_body=None)
        if response.status_code in ITEM_ERROR_STATUSES:
            body = error_body(response)
            return {"status": {"statusCode": response.status_code}, "body": body, "request": {"Asin": listed}}
        answer, _ = self._decoded(GET_ITEM_OFFERS, response)
        return {"status": {"statusCode": 200}, "body": answer, "request": {"Asin": listed}}

    def search_catalog_items(self, asins: Sequence[str]) -> list[dict]:
        """searchCatalogItems by up to 20 ASINs with summaries and images, following ``nextToken``.

        ASINs Amazon does not know are simply absent from the result.
        """
        listed = checked_asins(asins, SEARCH_CATALOG_ITEMS.max_items)
        params: dict[str, str | int] = {
            "identifiers": ",".join(listed),
            "identifiersType": "ASIN",
            "marketplaceIds": self.marketplace_id,
            "includedData": ",".join(CATALOG_INCLUDED_DATA),
            "pageSize": SEARCH_CATALOG_ITEMS.max_items,
        }
        items: list[dict] = []
        seen_tokens: set[str] = set()
        for _ in range(MAX_CATALOG_PAGES):
            answer, request_id = self._call(SEARCH_CATALOG_ITEMS, params=params)
            page = required_field(
                answer,
                "items",
                list,
                service=SERVICE,
                operation=SEARCH_CATALOG_ITEMS.name,
                request_id=request_id,
            )
            items.extend(item for item in page if isinstance(item, dict))
            pagination = answer.get("pagination")
            next_token = pagination.get("nextToken") if isinstance(pagination, dict) else None
            if not isinstance(next_token, str) or not next_token or next_token in seen_tokens:
                break
            seen_tokens.add(next_token)
            params = {**params, "pageToken": next_token}
        return items

    # -- transport --------------------------------------------------------------------------

    def _call(
        self, op: Operation, *, params: dict[str, Any] | None = None, json_body: Any = None
    ) -> tuple[dict, str | None]:
        """Send ``op`` (paced, with one re-authorisation on 403) and return ``(body, request_id)``."""
        return self._decoded(op, self._exchange(op, op.path, params=params, json_body=json_body))

    def _exchange(
        self, op: Operation, path: str, *, params: dict[str, Any] | None, json_body: Any
    ) -> requests.Response:
        """Send once; on 401/403 re-authorise and send once more."""
        response = self._send(op, path, params=params, json_body=json_body)
        if response.status_code in (401, 403):
            # Refresh the LWA token once. Whether a 403 consumes quota is UNCONFIRMED, so the
            # retry waits for its own token like any other call.
            self.auth.invalidate(response.request.headers.get("x-amz-access-token"))
            response = self._send(op, path, params=params, json_body=json_body)
        return response

    def _decoded(self, op: Operation, response: requests.Response) -> tuple[dict, str | None]:
        """``(body, request_id)`` of a 200 (adopting its rate header), else the typed error."""
        request_id = response.headers.get(REQUEST_ID_HEADER)
        if response.status_code == 200:
            rate = parse_rate_limit(response.headers.get(RATE_LIMIT_HEADER))
            if rate is not None and rate != self._pacers[op.name].rate:
                self._pacers[op.name].set_rate(rate)
            return json_object(response, service=SERVICE, request_id=request_id), request_id
        raise self._error(op, response, request_id)

    def _send(
        self, op: Operation, path: str, *, params: dict[str, Any] | None, json_body: Any
    ) -> requests.Response:
        if self._refused is not None:
            raise CredentialsRefusedError(
                self._refused, setting="SP_API_REFRESH_TOKEN", service=SERVICE, status=403
            )
        # Everything that may take time (an LWA token refresh) happens before the pacer: the call
        # must leave right when its token is taken, or the next one (paced from the token, not
        # from our late send) reaches Amazon too close behind it.
        access_token = self.auth.access_token()
        waited = self._pacers[op.name].acquire()
        headers = {
            "x-amz-access-token": access_token,
            "user-agent": self._user_agent,
            # Still sent by python-amazon-sp-api; whether SP-API requires it since SigV4 was
            # dropped (2023-10-02) is UNCONFIRMED (sp-api.md §1).
            "x-amz-date": amz_date(),
            "accept": "application/json",
        }
        if json_body is not None:
            headers["content-type"] = "application/json"
        with self._stats_lock:
            stats = self.stats[op.name]
            stats["calls"] += 1
            stats["waited_seconds"] += waited
        return send(
            self._session,
            op.method,
            self.endpoint + path,
            service=SERVICE,
            timeout=self._timeout,
            params=params,
            json=json_body,
            headers=headers,
        )

    def _error(self, op: Operation, response: requests.Response, request_id: str | None) -> ApiError:
        """The typed error for a non-200 answer (the pacer is drained on 429)."""
        status = response.status_code
        code, message = _first_error(error_body(response))
        text = f"sp-api {op.name}: HTTP {status} {code or ''}{': ' + message if message else ''}".rstrip()
        if request_id:
            text += f" (request id {request_id})"
        fields: ApiErrorFields = {
            "service": SERVICE,
            "status": status,
            "code": code,
            "request_id": request_id,
        }
        if status == 429:
            self._pacers[op.name].drain()
            with self._stats_lock:
                self.stats[op.name]["throttled"] += 1
            return QuotaExceededError(text, **(fields | {"code": code or "QuotaExceeded"}))
        if status in (401, 403):
            self._refused = (
                f"{text} after re-authorising once: SP-API refused the app's access. Check that "
                "SP_API_REFRESH_TOKEN was issued to this app (LWA_APP_ID) by the seller, and that the app "
                "has the Pricing and Product Listing roles in Seller Central (Apps and Services → Develop Apps)."
            )
            return CredentialsRefusedError(self._refused, setting="SP_API_REFRESH_TOKEN", **fields)
        if status >= 500:
            return TransientError(text, **fields)
        return PermanentError(text, **fields)
