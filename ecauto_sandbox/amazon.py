"""LWA and SP-API handlers: Product Pricing v0 and Catalog Items 2022-04-01, JP marketplace.

Shapes follow Amazon's models (``sp-api-models/``) with JPY integer amounts; facts and their
sources are in the project reference ``sp-api.md`` (shared/reference/ beside the checkout). Points where Amazon's behaviour is not
documented are marked UNCONFIRMED and listed in docs/sandbox.md.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from ecauto_lib.asin import is_asin
from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.quotas import SP_API_USAGE_PLANS, format_rate
from ecauto_sandbox.scenario import MARKETPLACE_ID, NO_BUYABLE_OFFERS, TOO_SOON, Offer, Product
from ecauto_sandbox.state import LWA_ACCESS_TOKEN_LIFETIME, TOO_SOON_DELAY, SandboxState

CURRENCY = "JPY"
ITEM_CONDITIONS = ("New", "Used", "Collectible", "Refurbished", "Club")
MAX_BATCH_REQUESTS = 20
MAX_PRICING_IDENTIFIERS = 20
CATALOG_PAGE_SIZE_DEFAULT = 10
CATALOG_PAGE_SIZE_MAX = 20
CATALOG_INCLUDED_DATA = (
    "attributes",
    "classifications",
    "dimensions",
    "identifiers",
    "images",
    "productTypes",
    "relationships",
    "salesRanks",
    "summaries",
    "vendorDetails",
)

BATCH_URI = re.compile(r"^/products/pricing/v0/items/([^/?#]+)/offers$")

# Error texts [sp-api.md §4, §5].
MSG_UNAUTHORIZED = "Access to requested resource is denied."
DETAILS_INVALID_TOKEN = "The access token you provided is revoked, malformed or invalid."
DETAILS_MISSING_TOKEN = "Access token is missing in the request header."
MSG_QUOTA = "You exceeded your quota for the requested resource."
MSG_INTERNAL = "We encountered an internal error. Please try again."
MSG_UNAVAILABLE = "Service temporarily unavailable. Please try again."  # 503 wording UNCONFIRMED
MSG_BAD_MARKETPLACE = "Requested MarketplaceId is invalid, unsupported, or does not exist."
MSG_DUPLICATE = "Duplicate requests submitted. Cannot run batch request."
MSG_NOT_FOUND = "The requested resource doesn't exist."

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def errors(code: str, message: str, details: str | None = None) -> dict[str, Any]:
    """An SP-API ``ErrorList`` body."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"errors": [error]}


def yen(amount: int) -> dict[str, Any]:
    """A ``MoneyType`` in integer yen."""
    return {"CurrencyCode": CURRENCY, "Amount": amount}


def http_date(when: datetime) -> str:
    """RFC 1123 date (``Tue, 28 Jun 2022 14:21:22 GMT``)."""
    return format_datetime(when.replace(microsecond=0), usegmt=True)


def iso_z(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class BadRequest(Exception):
    """A 400/404 answer decided while validating a request."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ===================================================================== LWA
def lwa_token(state: SandboxState, req: Request) -> Reply:
    """``POST /auth/o2/token`` with ``grant_type=refresh_token``.

    Error codes and HTTP status are UNCONFIRMED for LWA: OAuth 2 style ``invalid_client`` /
    ``invalid_grant`` / ``invalid_request`` / ``unsupported_grant_type`` with HTTP 400 here.
    """
    reply = Reply(400, service="lwa", operation="lwaToken")
    reply.headers["x-amzn-RequestId"] = reply.request_id = str(uuid.uuid4())
    form = req.form()

    def fail(code: str, description: str) -> Reply:
        reply.payload, reply.error_code = {"error": code, "error_description": description}, code
        return reply

    if req.method != "POST":
        return fail("invalid_request", "The request method must be POST.")
    with state.lock:
        call_no = state.injector.next_call("lwaToken")
        if state.injector.auth_server_error("lwaToken", call_no):
            reply.status, reply.faults = 500, ["auth_5xx"]
            return fail("server_error", "The authorization server encountered an unexpected condition.")
        for name in ("grant_type", "client_id", "client_secret"):
            if not form.get(name):
                return fail("invalid_request", f"The request is missing a required parameter : {name}")
        if form["grant_type"] != "refresh_token":
            # client_credentials (grantless operations) is not simulated.
            return fail("unsupported_grant_type", "The authorization grant type is not supported.")
        if form["client_id"] != state.lwa.client_id or form["client_secret"] != state.lwa.client_secret:
            return fail("invalid_client", "Client authentication failed")
        if not form.get("refresh_token"):
            return fail("invalid_request", "The request is missing a required parameter : refresh_token")
        if form["refresh_token"] != state.lwa.refresh_token:
            return fail("invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token, expires_in = state.issue_access_token("lwa", None, LWA_ACCESS_TOKEN_LIFETIME, req.arrived)
    reply.status = 200
    reply.payload = {
        "access_token": token,
        "refresh_token": form["refresh_token"],
        "token_type": "bearer",
        "expires_in": expires_in,
    }
    return reply


# ================================================================== SP-API
OperationHandler = Callable[[SandboxState, Request, datetime, str], Reply]


def sp_api_call(state: SandboxState, req: Request, operation: str, handler: OperationHandler) -> Reply:
    """The pipeline every SP-API operation goes through.

    Order: authentication (403, no quota token taken) → injected 429 faults → the operation's
    token bucket (429, nothing taken) → injected 5xx (the token is spent) → the operation itself
    (200, or 400/404 — these spend a token too, which is why Amazon sends the rate header on
    them). Amazon does not document whether malformed calls use quota (UNCONFIRMED); this is the
    simulator's choice.
    """
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
                reply = handler(state, req, vt, request_id)
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
    reply.asins = requested_asins(operation, req)
    reply.headers["x-amzn-RequestId"] = request_id
    if reply.status in (200, 400, 404):
        reply.headers["x-amzn-RateLimit-Limit"] = format_rate(rate * state.clock.speed)
    return reply


# ------------------------------------------------------------ offers shape
def offer_json(offer: Offer, buy_box_winner: bool) -> dict[str, Any]:
    """One ``OfferDetail``."""
    shipping_time: dict[str, Any] = {"minimumHours": offer.min_hours, "availabilityType": offer.availability}
    if offer.max_hours is not None:
        shipping_time["maximumHours"] = offer.max_hours
    if offer.available_date:
        shipping_time["availableDate"] = offer.available_date
    ships_from: dict[str, Any] = {"Country": offer.ships_from_country}
    if offer.ships_from_state:
        ships_from["State"] = offer.ships_from_state
    data: dict[str, Any] = {
        "Shipping": yen(offer.shipping_yen),
        "ListingPrice": yen(offer.listing_yen),
        "ShippingTime": shipping_time,
        "SellerFeedbackRating": {
            "FeedbackCount": offer.feedback_count,
            "SellerPositiveFeedbackRating": offer.feedback_rating,
        },
        "ShipsFrom": ships_from,
        "SubCondition": offer.sub_condition,
        "SellerId": offer.seller_id,
        "IsFeaturedMerchant": offer.featured,
        "IsBuyBoxWinner": buy_box_winner,
        "IsFulfilledByAmazon": offer.fba,
        "PrimeInformation": {"IsPrime": offer.prime, "IsNationalPrime": offer.prime},
    }
    if offer.points:
        data["Points"] = points_json(offer.points)
    return data


def points_json(points: int) -> dict[str, Any]:
    return {"PointsNumber": points, "PointsMonetaryValue": yen(points)}


def _channel(offer: Offer) -> str:
    return "Amazon" if offer.fba else "Merchant"


def _price_block(offer: Offer) -> dict[str, Any]:
    block: dict[str, Any] = {
        "LandedPrice": yen(offer.landed_yen),
        "ListingPrice": yen(offer.listing_yen),
        "Shipping": yen(offer.shipping_yen),
    }
    if offer.points:
        block["Points"] = points_json(offer.points)
    return block


def buy_box_winners(offers: list[Offer]) -> dict[str, Offer]:
    """Per condition, the featured offer available now with the lowest landed price (simulator rule)."""
    winners: dict[str, Offer] = {}
    for offer in sorted(offers, key=lambda o: (o.landed_yen, not o.fba)):
        if offer.featured and offer.availability == "NOW" and offer.condition not in winners:
            winners[offer.condition] = offer
    return winners


def summary_json(product: Product) -> dict[str, Any]:
    """``Summary`` over every offer (all conditions), as Amazon reports counts for all conditions."""
    offers = product.offers
    counts: dict[tuple[str, str], int] = {}
    eligible: dict[tuple[str, str], int] = {}
    lowest: dict[tuple[str, str], Offer] = {}
    for offer in offers:
        key = (offer.condition, _channel(offer))
        counts[key] = counts.get(key, 0) + 1
        if offer.featured:
            eligible[key] = eligible.get(key, 0) + 1
        if key not in lowest or offer.landed_yen < lowest[key].landed_yen:
            lowest[key] = offer
    summary: dict[str, Any] = {
        "LowestPrices": [
            {"condition": c, "fulfillmentChannel": ch, **_price_block(o)}
            for (c, ch), o in sorted(lowest.items())
        ],
        "BuyBoxPrices": [
            {"condition": c, **_price_block(o), "sellerId": o.seller_id}
            for c, o in sorted(buy_box_winners(offers).items())
        ],
        "NumberOfOffers": [
            {"condition": c, "fulfillmentChannel": ch, "OfferCount": n}
            for (c, ch), n in sorted(counts.items())
        ],
        "BuyBoxEligibleOffers": [
            {"condition": c, "fulfillmentChannel": ch, "OfferCount": n}
            for (c, ch), n in sorted(eligible.items())
        ],
        "SalesRankings": [{"ProductCategoryId": product.display_group, "Rank": product.sales_rank}],
        "TotalOfferCount": len(offers),
    }
    if product.list_price_yen:
        summary["ListPrice"] = yen(product.list_price_yen)
    return summary


def offers_result(product: Product, item_condition: str, now: datetime) -> dict[str, Any]:
    """``GetOffersResult`` for ``product``: up to 20 lowest-priced offers of the requested condition
    (:meth:`Product.listed_offers`); the Summary counts and prices every offer of every condition.

    With offers but none of the requested condition the status stays ``Success`` with an empty
    ``Offers`` list (UNCONFIRMED: Amazon's behaviour for that case is not documented).
    """
    status = product.payload_status(now)
    result: dict[str, Any] = {
        "ASIN": product.asin,
        "status": status,
        "ItemCondition": item_condition,
        "Identifier": {
            "MarketplaceId": MARKETPLACE_ID,
            "ItemCondition": item_condition,
            "ASIN": product.asin,
        },
    }
    if status == TOO_SOON:
        available = product.offers_available_at or (now + TOO_SOON_DELAY)
        result["Summary"] = {"TotalOfferCount": 0, "OffersAvailableTime": iso_z(available)}
        result["Offers"] = []
    elif status == NO_BUYABLE_OFFERS:
        result["Summary"] = {"TotalOfferCount": 0}
        result["Offers"] = []
    else:
        winners = buy_box_winners(product.offers)
        result["Summary"] = summary_json(product)
        result["Offers"] = [
            offer_json(o, winners.get(o.condition) is o)
            for o in product.listed_offers(item_condition.lower())
        ]
    result["marketplaceId"] = MARKETPLACE_ID
    return result


def persistent_item_error(product: Product) -> tuple[int, dict[str, Any]]:
    """The error an ASIN answers on every call (``Product.item_error``): 400 as for an ASIN the
    catalog no longer knows, or 500 ``InternalFailure``."""
    if product.item_error == "InvalidInput":
        return 400, invalid_asin(product.asin)
    return 500, errors("InternalFailure", MSG_INTERNAL)


def invalid_asin(asin: str) -> dict[str, Any]:
    # The v0 per-item code for an unknown ASIN is UNCONFIRMED; the 2022-05-01 model shows
    # INVALID_ASIN "<asin> is not a valid ASIN". v0 uses InvalidInput elsewhere, so that is used here.
    return errors("InvalidInput", f"{asin} is not a valid ASIN")


def _check_marketplace(value: object) -> None:
    if value != MARKETPLACE_ID:
        raise BadRequest(400, "InvalidInput", MSG_BAD_MARKETPLACE)


def _check_condition(value: object) -> str:
    if value not in ITEM_CONDITIONS:
        raise BadRequest(
            400,
            "InvalidInput",
            f"Invalid ItemCondition: {value!r}. Valid values: {', '.join(ITEM_CONDITIONS)}",
        )
    return str(value)


# ------------------------------------------------------ getItemOffersBatch
def parse_batch(body: object) -> list[dict[str, Any]]:
    """Validate a getItemOffersBatch body; the list of ``{asin, condition, customer_type, echo}``."""
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise BadRequest(400, "InvalidInput", "Invalid Input")
    requests = body["requests"]
    if not 1 <= len(requests) <= MAX_BATCH_REQUESTS:
        # Amazon's wording for this case is UNCONFIRMED.
        raise BadRequest(
            400, "InvalidInput", f"The batch must contain between 1 and {MAX_BATCH_REQUESTS} requests."
        )
    parsed: list[dict[str, Any]] = []
    for entry in requests:
        if not isinstance(entry, dict):
            raise BadRequest(400, "InvalidInput", "Invalid Input")
        # Parameters belong at the top level: a ``queryParams`` wrapper leaves MarketplaceId missing.
        _check_marketplace(entry.get("MarketplaceId"))
        condition = _check_condition(entry.get("ItemCondition"))
        match = BATCH_URI.match(str(entry.get("uri", "")))
        if entry.get("method") != "GET" or not match:
            raise BadRequest(400, "InvalidInput", "Invalid Input")
        customer_type = entry.get("CustomerType")
        if customer_type not in (None, "Consumer", "Business"):
            raise BadRequest(400, "InvalidInput", f"Invalid CustomerType: {customer_type!r}")
        echo = {"MarketplaceId": MARKETPLACE_ID, "Asin": match.group(1), "ItemCondition": condition}
        if customer_type:
            echo["CustomerType"] = customer_type
        parsed.append({"asin": match.group(1), "condition": condition, "echo": echo})
    asins = [p["asin"] for p in parsed]
    if len(set(asins)) != len(asins):
        raise BadRequest(400, "InvalidInput", MSG_DUPLICATE)
    return parsed


def get_item_offers_batch(state: SandboxState, req: Request, now: datetime, request_id: str) -> Reply:
    """``POST /batches/products/pricing/v0/itemOffers``."""
    try:
        body = req.json()
    except ValueError:
        raise BadRequest(400, "InvalidInput", "Invalid Input") from None
    parsed = parse_batch(body)
    date = http_date(now)
    responses = []
    item_faults = 0
    for entry in parsed:
        asin = entry["asin"]
        product = state.products.get(asin) if is_asin(asin) else None
        if product is not None and product.item_error:
            status, item_body = persistent_item_error(product)
        elif product is not None and state.injector.item_error(asin):
            # A per-item 500 inside a 200 batch: the simulator's model of a partial failure.
            status, item_body = 500, errors("InternalFailure", MSG_INTERNAL)
            item_faults += 1
        elif product is None:
            status, item_body = 400, invalid_asin(asin)
        else:
            status, item_body = 200, {"payload": offers_result(product, entry["condition"], now)}
        responses.append(
            {
                "status": {"statusCode": status, "reasonPhrase": REASONS[status]},
                "body": item_body,
                "headers": {"x-amzn-RequestId": str(uuid.uuid4()), "Date": date},
                "request": entry["echo"],
            }
        )
    reply = Reply(200, {"responses": responses}, asins=tuple(p["asin"] for p in parsed))
    if item_faults:
        reply.faults.append("item_error")
    return reply


# ------------------------------------------------------------ getItemOffers
def get_item_offers(state: SandboxState, req: Request, now: datetime, request_id: str) -> Reply:
    """``GET /products/pricing/v0/items/{Asin}/offers``."""
    asin = req.path.split("/")[-2]
    _check_marketplace(req.param("MarketplaceId"))
    condition = _check_condition(req.param("ItemCondition"))
    product = state.products.get(asin) if is_asin(asin) else None
    if product is None:
        # Top-level 400 for an unknown ASIN on the single-item call (UNCONFIRMED).
        reply = Reply(400, invalid_asin(asin), error_code="InvalidInput")
    elif product.item_error:
        status, body = persistent_item_error(product)
        reply = Reply(status, body, error_code=product.item_error)
    else:
        reply = Reply(200, {"payload": offers_result(product, condition, now)})
    reply.asins = (asin,)
    return reply


# --------------------------------------------------- getCompetitivePricing
def competitive_price(product: Product | None, asin: str) -> dict[str, Any]:
    """One element of getCompetitivePricing's payload."""
    if product is None:
        # Per-element failure shape is UNCONFIRMED (the model only requires ``status``).
        return {"status": "ClientError", "ASIN": asin}
    winners = buy_box_winners(product.offers)
    prices = []
    for price_id, condition in (("1", "new"), ("2", "used")):
        offer = winners.get(condition)
        if offer is not None:
            prices.append(
                {
                    "CompetitivePriceId": price_id,
                    "Price": _price_block(offer),
                    "condition": condition.capitalize(),
                    "offerType": "B2C",
                    "sellerId": offer.seller_id,
                    "belongsToRequester": False,
                }
            )
    counts: dict[str, int] = {}
    for offer in product.offers:
        counts[offer.condition] = counts.get(offer.condition, 0) + 1
    listings = [{"condition": c.capitalize(), "Count": n} for c, n in sorted(counts.items())]
    if not listings:
        listings = [
            {"condition": "New", "Count": 0}
        ]  # "no price, counts 0" for items without offers (inferred)
    return {
        "status": "Success",
        "ASIN": asin,
        "Product": {
            "Identifiers": {"MarketplaceASIN": {"MarketplaceId": MARKETPLACE_ID, "ASIN": asin}},
            "CompetitivePricing": {"CompetitivePrices": prices, "NumberOfOfferListings": listings},
            "SalesRankings": [{"ProductCategoryId": product.display_group, "Rank": product.sales_rank}],
        },
    }


def get_competitive_pricing(state: SandboxState, req: Request, now: datetime, request_id: str) -> Reply:
    """``GET /products/pricing/v0/competitivePrice`` (``ItemType`` is case-sensitive)."""
    item_type = req.param("ItemType")
    if item_type not in ("Asin", "Sku"):
        raise BadRequest(
            404, "NotFound", MSG_NOT_FOUND
        )  # e.g. ItemType=ASIN [I:selling-partner-api-docs#423]
    _check_marketplace(req.param("MarketplaceId"))
    if item_type == "Sku":
        raise BadRequest(400, "InvalidInput", "The simulated seller has no SKUs: use ItemType=Asin.")
    asins = req.csv_param("Asins")
    if not 1 <= len(asins) <= MAX_PRICING_IDENTIFIERS:
        raise BadRequest(
            400, "InvalidInput", f"Asins must list between 1 and {MAX_PRICING_IDENTIFIERS} ASINs."
        )
    payload = [competitive_price(state.products.get(a) if is_asin(a) else None, a) for a in asins]
    return Reply(200, {"payload": payload}, asins=tuple(asins))


# ------------------------------------------------------------------ catalog
def image_link(image_id: str, size: int) -> str:
    suffix = "" if size >= 1500 else f"._AC_SL{size}_"
    return f"https://m.media-amazon.com/images/I/{image_id}{suffix}.jpg"


def catalog_item(product: Product, included: list[str]) -> dict[str, Any]:
    """An ``Item`` with the requested ``includedData`` sets (JP marketplace only)."""
    mp = MARKETPLACE_ID
    item: dict[str, Any] = {"asin": product.asin}
    for data in included:
        if data == "summaries":
            summary: dict[str, Any] = {
                "marketplaceId": mp,
                "adultProduct": False,
                "autographed": False,
                "brand": product.brand,
                "browseClassification": {
                    "displayName": product.category,
                    "classificationId": product.classification_id,
                },
                "itemClassification": "BASE_PRODUCT",
                "itemName": product.title,
                "memorabilia": False,
                "packageQuantity": 1,
                "tradeInEligible": False,
                "websiteDisplayGroup": product.display_group,
                "websiteDisplayGroupName": product.display_group_name,
            }
            if product.manufacturer:
                summary["manufacturer"] = product.manufacturer
            if product.model_number:
                summary["modelNumber"] = product.model_number
                summary["partNumber"] = product.model_number
            item["summaries"] = [summary]
        elif data == "images":
            images = []
            for n, image_id in enumerate(product.image_ids):
                variant = "MAIN" if n == 0 else f"PT{n:02d}"
                images.append(
                    {"variant": variant, "link": image_link(image_id, 1500), "height": 1500, "width": 1500}
                )
                images.append(
                    {"variant": variant, "link": image_link(image_id, 500), "height": 500, "width": 500}
                )
            item["images"] = [{"marketplaceId": mp, "images": images}]
        elif data == "identifiers":
            ids = [{"identifierType": "EAN", "identifier": product.jan}] if product.jan else []
            item["identifiers"] = [{"marketplaceId": mp, "identifiers": ids}]
        elif data == "salesRanks":
            item["salesRanks"] = [
                {
                    "marketplaceId": mp,
                    "classificationRanks": [
                        {
                            "classificationId": product.classification_id,
                            "title": product.category,
                            "rank": max(1, product.sales_rank // 20),
                        }
                    ],
                    "displayGroupRanks": [
                        {
                            "websiteDisplayGroup": product.display_group,
                            "title": product.display_group_name,
                            "rank": product.sales_rank,
                        }
                    ],
                }
            ]
        elif data == "classifications":
            item["classifications"] = [
                {
                    "marketplaceId": mp,
                    "classifications": [
                        {"displayName": product.category, "classificationId": product.classification_id}
                    ],
                }
            ]
        elif data == "productTypes":
            item["productTypes"] = [{"marketplaceId": mp, "productType": "HOME"}]
        elif data == "attributes":
            lang = {"language_tag": "ja_JP", "marketplace_id": mp}
            item["attributes"] = {
                "item_name": [{"value": product.title, **lang}],
                "brand": [{"value": product.brand, **lang}],
            }
        elif data == "relationships":
            item["relationships"] = [{"marketplaceId": mp, "relationships": []}]
        elif data == "dimensions":
            item["dimensions"] = [{"marketplaceId": mp}]
        # vendorDetails: vendors only; a seller's call gets nothing for it.
    return item


def _included_data(req: Request) -> list[str]:
    included = req.csv_param("includedData") or ["summaries"]
    unknown = [d for d in included if d not in CATALOG_INCLUDED_DATA]
    if unknown:
        raise BadRequest(400, "InvalidInput", f"Invalid includedData value(s): {', '.join(unknown)}")
    return list(dict.fromkeys(included))


def _catalog_marketplace(req: Request) -> None:
    marketplaces = req.csv_param("marketplaceIds")
    if not marketplaces:
        # The static sandbox answers code "400" here; production's code is UNCONFIRMED.
        raise BadRequest(
            400, "InvalidInput", "Request has missing or invalid parameters and cannot be parsed."
        )
    if len(marketplaces) > 1 or marketplaces[0] != MARKETPLACE_ID:
        raise BadRequest(400, "InvalidInput", MSG_BAD_MARKETPLACE)


def _page_token(identifiers: list[str], offset: int) -> str:
    digest = hashlib.sha256(",".join(identifiers).encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(f"{offset}:{digest}".encode()).decode().rstrip("=")


def _page_offset(token: str, identifiers: list[str]) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset_text, digest = raw.split(":", 1)
        offset = int(offset_text)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, "InvalidInput", "Invalid pageToken.") from None
    if _page_token(identifiers, offset) != token:
        raise BadRequest(400, "InvalidInput", "Invalid pageToken.")
    return offset


def search_catalog_items(state: SandboxState, req: Request, now: datetime, request_id: str) -> Reply:
    """``GET /catalog/2022-04-01/items`` by ``identifiers`` (keyword search is not simulated)."""
    _catalog_marketplace(req)
    identifiers = req.csv_param("identifiers")
    if not identifiers:
        raise BadRequest(400, "InvalidInput", "The simulator supports searches by identifiers only.")
    if len(identifiers) > 20:
        raise BadRequest(400, "InvalidInput", "identifiers must contain at most 20 values.")
    if req.param("identifiersType") != "ASIN":
        # JAN/EAN/SKU lookups are not simulated.
        raise BadRequest(400, "InvalidInput", "identifiersType must be ASIN in the simulator.")
    if any(req.param(p) for p in ("keywords", "brandNames", "classificationIds", "keywordsLocale")):
        raise BadRequest(
            400,
            "InvalidInput",
            "identifiers cannot be combined with keywords, brandNames or classificationIds.",
        )
    included = _included_data(req)
    page_size_text = req.param("pageSize")
    try:
        page_size = int(page_size_text) if page_size_text is not None else CATALOG_PAGE_SIZE_DEFAULT
    except ValueError:
        raise BadRequest(400, "InvalidInput", f"Invalid pageSize: {page_size_text!r}") from None
    if not 1 <= page_size <= CATALOG_PAGE_SIZE_MAX:
        raise BadRequest(400, "InvalidInput", f"pageSize must be between 1 and {CATALOG_PAGE_SIZE_MAX}.")
    token = req.param("pageToken")
    offset = _page_offset(token, identifiers) if token else 0
    found = [state.products[a] for a in dict.fromkeys(identifiers) if a in state.products]
    page = found[offset : offset + page_size]
    pagination: dict[str, str] = {}
    if offset + page_size < len(found):
        pagination["nextToken"] = _page_token(identifiers, offset + page_size)
    if offset > 0:
        pagination["previousToken"] = _page_token(identifiers, max(0, offset - page_size))
    payload: dict[str, Any] = {"numberOfResults": len(found)}
    if pagination:
        payload["pagination"] = pagination
    payload["refinements"] = {"brands": [], "classifications": []}
    payload["items"] = [catalog_item(p, included) for p in page]
    return Reply(200, payload, asins=tuple(identifiers))


def get_catalog_item(state: SandboxState, req: Request, now: datetime, request_id: str) -> Reply:
    """``GET /catalog/2022-04-01/items/{asin}`` (404 when Amazon does not know the ASIN)."""
    asin = req.path.rsplit("/", 1)[-1]
    _catalog_marketplace(req)
    included = _included_data(req)
    product = state.products.get(asin)
    if product is None:
        # Message wording UNCONFIRMED.
        reply = Reply(
            404,
            errors("NotFound", f"Requested item '{asin}' not found in marketplace(s) {MARKETPLACE_ID}."),
            error_code="NotFound",
        )
    else:
        reply = Reply(200, catalog_item(product, included))
    reply.asins = (asin,)
    return reply


def requested_asins(operation: str, req: Request) -> tuple[str, ...]:
    """The ASINs a call asks about, read leniently (for the log, whatever the answer was)."""
    if operation == "getItemOffersBatch":
        try:
            requests = req.json().get("requests") or []
            uris = [str(r.get("uri", "")) for r in requests if isinstance(r, dict)]
        except (ValueError, AttributeError):
            return ()
        return tuple(m.group(1) for m in map(BATCH_URI.match, uris) if m)
    if operation in ("getItemOffers",):
        return (req.path.split("/")[-2],)
    if operation == "getCatalogItem":
        return (req.path.rsplit("/", 1)[-1],)
    if operation == "getCompetitivePricing":
        return tuple(req.csv_param("Asins"))
    if operation == "searchCatalogItems":
        return tuple(req.csv_param("identifiers"))
    return ()


# ------------------------------------------------------------------ routing
CATALOG_ITEM_PATH = re.compile(r"^/catalog/2022-04-01/items/([^/]+)$")
ITEM_OFFERS_PATH = re.compile(r"^/products/pricing/v0/items/([^/]+)/offers$")


def route(method: str, path: str) -> tuple[str, OperationHandler] | None:
    """The SP-API operation at ``method path``, or None."""
    if method == "POST" and path == "/batches/products/pricing/v0/itemOffers":
        return "getItemOffersBatch", get_item_offers_batch
    if method == "GET":
        if ITEM_OFFERS_PATH.match(path):
            return "getItemOffers", get_item_offers
        if path == "/products/pricing/v0/competitivePrice":
            return "getCompetitivePricing", get_competitive_pricing
        if path == "/catalog/2022-04-01/items":
            return "searchCatalogItems", search_catalog_items
        if CATALOG_ITEM_PATH.match(path):
            return "getCatalogItem", get_catalog_item
    return None


def not_found(req: Request) -> Reply:
    """Any other path: 404 ``NotFound`` (no operation, no quota)."""
    reply = Reply(
        404, errors("NotFound", MSG_NOT_FOUND), error_code="NotFound", service="sp-api", operation="unknown"
    )
    reply.request_id = str(uuid.uuid4())
    reply.headers["x-amzn-RequestId"] = reply.request_id
    return reply
