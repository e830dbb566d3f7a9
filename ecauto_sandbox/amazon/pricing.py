"""Product Pricing v0: getItemOffersBatch, getItemOffers and getCompetitivePricing, and the offers shape."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from ecauto_lib.asin import is_asin
from ecauto_sandbox.amazon.errors import (
    MSG_BAD_MARKETPLACE,
    MSG_DUPLICATE,
    MSG_INTERNAL,
    MSG_NOT_FOUND,
    BadRequest,
    errors,
)
from ecauto_sandbox.protocol import Reply, Request
from ecauto_sandbox.scenario import MARKETPLACE_ID, NO_BUYABLE_OFFERS, TOO_SOON, Offer, Product
from ecauto_sandbox.state import TOO_SOON_DELAY, SandboxState

CURRENCY = "JPY"
ITEM_CONDITIONS = ("New", "Used", "Collectible", "Refurbished", "Club")
MAX_BATCH_REQUESTS = 20
MAX_PRICING_IDENTIFIERS = 20

BATCH_URI = re.compile(r"^/products/pricing/v0/items/([^/?#]+)/offers$")

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def yen(amount: int) -> dict[str, Any]:
    """A ``MoneyType`` in integer yen."""
    return {"CurrencyCode": CURRENCY, "Amount": amount}


def http_date(when: datetime) -> str:
    """RFC 1123 date (``Tue, 28 Jun 2022 14:21:22 GMT``)."""
    return format_datetime(when.replace(microsecond=0), usegmt=True)


def iso_z(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


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


def batch_asins(req: Request) -> tuple[str, ...]:
    """The ASINs a getItemOffersBatch body asks about, read leniently (for the log, whatever the answer)."""
    try:
        requests = req.json().get("requests") or []
        uris = [str(r.get("uri", "")) for r in requests if isinstance(r, dict)]
    except (ValueError, AttributeError):
        return ()
    return tuple(m.group(1) for m in map(BATCH_URI.match, uris) if m)


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
