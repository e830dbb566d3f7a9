"""getItemOffersBatch / searchCatalogItems answers → domain values. Pure functions, no I/O.

Shapes follow ``productPricingV0.json`` (``GetOffersResult``, ``OfferDetail``) and
``catalogItems_2022-04-01.json``. Money is never guessed: a currency other than JPY or a
fractional yen amount makes the observation an ERROR (stock unknown) rather than a price.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ecauto_lib.domain import CatalogInfo, Observation, Outcome

CURRENCY = "JPY"
"""The JP marketplace's currency; the exact string seen live is UNCONFIRMED (sp-api.md §2)."""

STATUS_SUCCESS = "Success"
STATUS_NO_BUYABLE_OFFERS = "NoBuyableOffers"
STATUS_TOO_SOON = "ActiveButTooSoonForProcessing"


class MoneyError(ValueError):
    """A money field that is missing, not JPY, or not a whole number of yen."""


def yen(money: Any, field: str) -> int:
    """The integer yen in a ``MoneyType`` (``{"CurrencyCode": "JPY", "Amount": 1980}``).

    Raises :class:`MoneyError` for another currency, a missing or non-numeric amount, a
    fractional amount or a negative one: guessing would put a wrong price in a shop.
    """
    if not isinstance(money, Mapping):
        raise MoneyError(f"{field} is missing")
    currency = money.get("CurrencyCode")
    if currency != CURRENCY:
        raise MoneyError(f"{field} is in {currency!r}, not {CURRENCY}")
    amount = money.get("Amount")
    if isinstance(amount, bool) or not isinstance(amount, int | float | str | Decimal):
        raise MoneyError(f"{field} has no numeric Amount ({amount!r})")
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise MoneyError(f"{field} has no numeric Amount ({amount!r})") from None
    if not value.is_finite() or value != value.to_integral_value() or value < 0:
        raise MoneyError(f"{field} is not a whole, non-negative yen amount ({amount!r})")
    return int(value)


def is_new_condition(offer: Mapping[str, Any]) -> bool:
    """True for a brand-new offer. Responses spell the sub-condition in lower case (``"new"``)."""
    sub = offer.get("SubCondition")
    return isinstance(sub, str) and sub.strip().casefold() == "new"


def ships_within(offer: Mapping[str, Any], max_delivery_hours: int) -> bool:
    """True when the offer ships now and within ``max_delivery_hours``.

    ``availabilityType`` must be ``NOW`` or absent (absent = the model's default case: the
    field exists to flag *future* availability). An offer without ``maximumHours`` does **not**
    pass: its lead time is unknown, and promising delivery we cannot vouch for is worse than
    skipping one offer.
    """
    shipping_time = offer.get("ShippingTime")
    if not isinstance(shipping_time, Mapping):
        return False
    if shipping_time.get("availabilityType", "NOW") != "NOW":
        return False
    maximum = shipping_time.get("maximumHours")
    if isinstance(maximum, bool) or not isinstance(maximum, int):
        return False
    return maximum <= max_delivery_hours


def offer_total_yen(offer: Mapping[str, Any]) -> int:
    """``ListingPrice + Shipping`` in integer yen (what the buyer pays before points)."""
    return yen(offer.get("ListingPrice"), "ListingPrice") + shipping_yen(offer)


def shipping_yen(offer: Mapping[str, Any]) -> int:
    """The offer's shipping charge in yen (``OfferDetail.Shipping`` is required by the model)."""
    return yen(offer.get("Shipping"), "Shipping")


def offer_points(offer: Mapping[str, Any]) -> int | None:
    """``Points.PointsNumber`` of the offer, or None when the offer carries no points."""
    points = offer.get("Points")
    number = points.get("PointsNumber") if isinstance(points, Mapping) else None
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def choose_offer(offers: Sequence[Mapping[str, Any]], max_delivery_hours: int) -> dict | None:
    """The offer a no-stock seller would buy: new, shipping now within the limit, cheapest.

    Filter: new condition (``SubCondition`` "new"), ``ShippingTime.availabilityType`` NOW or absent,
    ``maximumHours <= max_delivery_hours`` (no ``maximumHours`` → filtered out, see
    :func:`ships_within`). Order: lowest ``ListingPrice + Shipping``; on a tie, fulfilled by
    Amazon first (FBA stock is Amazon's own and ships predictably); then **more** points (points
    go to whoever buys, i.e. the seller, so more points is the better purchase; they are recorded
    but never subtracted from the price); then the response's own order (Amazon lists offers
    lowest price first).

    Raises :class:`MoneyError` when a passing offer's price is not whole JPY: the ranking would
    be a guess.
    """
    passing = [o for o in offers if is_new_condition(o) and ships_within(o, max_delivery_hours)]
    if not passing:
        return None

    def rank(indexed: tuple[int, Mapping[str, Any]]) -> tuple[int, int, int, int]:
        position, offer = indexed
        fba_first = 0 if offer.get("IsFulfilledByAmazon") is True else 1
        return (offer_total_yen(offer), fba_first, -(offer_points(offer) or 0), position)

    return dict(min(enumerate(passing), key=rank)[1])


def observation_from_item(
    asin: str, item: Mapping[str, Any] | None, *, max_delivery_hours: int, observed_at: datetime
) -> Observation:
    """Reduce one ``responses[i]`` element of getItemOffersBatch to an :class:`Observation`.

    - per-item 200, ``payload.status`` Success and a chosen offer → IN_STOCK with the price;
    - ``NoBuyableOffers``, or offers but none in new condition → OUT_OF_STOCK;
    - new offers but none passes the delivery filter → FILTERED_OUT;
    - anything unusable (missing item, per-item error, ``ActiveButTooSoonForProcessing``,
      unknown status, bad money) → ERROR, which means *stock unknown*.
    """

    def error(reason: str) -> Observation:
        return Observation(asin, Outcome.ERROR, observed_at, reason=reason)

    if item is None:
        return error("missing from the getItemOffersBatch response")
    status_code = _status_code(item)
    body = item.get("body") if isinstance(item.get("body"), Mapping) else {}
    if status_code != 200:
        return error(_item_error_reason(status_code, item, body))
    payload = body.get("payload")
    if not isinstance(payload, Mapping):
        return error(_item_error_reason(status_code, item, body, fallback="no payload in the item response"))
    payload_asin = payload.get("ASIN")
    if isinstance(payload_asin, str) and payload_asin != asin:
        return error(f"response payload is for ASIN {payload_asin}")

    summary = payload.get("Summary") if isinstance(payload.get("Summary"), Mapping) else {}
    offer_count = summary.get("TotalOfferCount")
    offer_count = offer_count if isinstance(offer_count, int) and not isinstance(offer_count, bool) else None
    status = payload.get("status")

    if status == STATUS_NO_BUYABLE_OFFERS:
        return Observation(
            asin, Outcome.OUT_OF_STOCK, observed_at, offer_count=offer_count, reason=STATUS_NO_BUYABLE_OFFERS
        )
    if status == STATUS_TOO_SOON:
        available = summary.get("OffersAvailableTime") or "unknown"
        return error(f"{STATUS_TOO_SOON}: offers available at {available}")
    if status != STATUS_SUCCESS:
        return error(f"unexpected payload status {status!r}")

    offers = payload.get("Offers")
    offers = [o for o in offers if isinstance(o, Mapping)] if isinstance(offers, list) else []
    if not any(is_new_condition(o) for o in offers):
        return Observation(
            asin, Outcome.OUT_OF_STOCK, observed_at, offer_count=offer_count, reason="no new-condition offers"
        )
    try:
        chosen = choose_offer(offers, max_delivery_hours)
        if chosen is None:
            return Observation(
                asin,
                Outcome.FILTERED_OUT,
                observed_at,
                offer_count=offer_count,
                reason=f"no new offer ships within {max_delivery_hours} h",
            )
        price, shipping = offer_total_yen(chosen), shipping_yen(chosen)
    except MoneyError as exc:
        return error(f"unusable price: {exc}")
    return Observation(
        asin,
        Outcome.IN_STOCK,
        observed_at,
        price_yen=price,
        shipping_yen=shipping,
        points=offer_points(chosen),
        offer_count=offer_count,
    )


def error_observations(asins: Sequence[str], reason: str, observed_at: datetime) -> list[Observation]:
    """One ERROR observation per ASIN, e.g. when a whole batch call failed."""
    return [Observation(asin, Outcome.ERROR, observed_at, reason=reason) for asin in asins]


def catalog_info_from_item(item: Mapping[str, Any], observed_at: datetime) -> CatalogInfo:
    """Title and brand from ``summaries[0]``, and the largest ``MAIN`` image's link."""
    summaries = item.get("summaries")
    summary = (
        summaries[0]
        if isinstance(summaries, list) and summaries and isinstance(summaries[0], Mapping)
        else {}
    )
    return CatalogInfo(
        asin=str(item.get("asin", "")),
        observed_at=observed_at,
        title=_text(summary.get("itemName")),
        brand=_text(summary.get("brand")),
        image_url=main_image_link(item),
    )


def main_image_link(item: Mapping[str, Any]) -> str | None:
    """The link of the largest (by pixel area) ``MAIN`` image across the item's image groups."""
    best: tuple[int, str] | None = None
    for group in item.get("images") or []:
        if not isinstance(group, Mapping):
            continue
        for image in group.get("images") or []:
            if not isinstance(image, Mapping) or image.get("variant") != "MAIN":
                continue
            link = _text(image.get("link"))
            if link is None:
                continue
            area = _int(image.get("height")) * _int(image.get("width"))
            if best is None or area > best[0]:
                best = (area, link)
    return best[1] if best else None


def _status_code(item: Mapping[str, Any]) -> int | None:
    status = item.get("status")
    code = status.get("statusCode") if isinstance(status, Mapping) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _item_error_reason(
    status_code: int | None, item: Mapping[str, Any], body: Mapping[str, Any], fallback: str | None = None
) -> str:
    """``"HTTP 400 InvalidInput: <message>"`` from a per-item status and its ``body.errors[0]``."""
    errors = body.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], Mapping) else None
    if first is not None:
        detail = f"{first.get('code', 'error')}: {first.get('message', '')}".rstrip(": ")
    elif fallback is not None:
        return fallback
    else:
        status = item.get("status")
        detail = (
            str(status.get("reasonPhrase") or "no error detail")
            if isinstance(status, Mapping)
            else "no status"
        )
    return f"HTTP {status_code if status_code is not None else '?'} {detail}"


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
