"""getItemOffersBatch / searchCatalogItems answers → domain values. Pure functions, no I/O.

Shapes follow ``productPricingV0.json`` (``GetOffersResult``, ``OfferDetail``) and
``catalogItems_2022-04-01.json``. Money is never guessed: a currency other than JPY or a
fractional yen amount makes the observation an ERROR (stock unknown) rather than a price.

Amazon lists at most :data:`MAX_LISTED_OFFERS` offers of the requested condition, the lowest
priced; the others appear only as counts and lowest prices in ``Summary``. An answer whose list
may have stopped before a qualifying offer is never read as "filtered out" or "out of stock":
see :func:`observation_from_item`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ecauto_lib.domain import CatalogInfo, Observation, Outcome, PriceSource

CURRENCY = "JPY"
"""The JP marketplace's currency; the exact string seen live is UNCONFIRMED (sp-api.md §2)."""

STATUS_SUCCESS = "Success"
STATUS_NO_BUYABLE_OFFERS = "NoBuyableOffers"
STATUS_TOO_SOON = "ActiveButTooSoonForProcessing"

MAX_LISTED_OFFERS = 20
"""``Offers`` holds at most this many offers of the requested condition, the lowest priced
(``OfferDetailList.maxItems``: "the same length as the TotalOfferCount in the Summary or 20,
whichever is less")."""

INCOMPLETE_OFFER_LIST = f"offer list cut at {MAX_LISTED_OFFERS}, stock unknown"
"""The reason's stable head (the report groups failures by the text before the first colon)."""

FBA_SHIPS_WITHIN_HOURS = 48
"""Our assumption for an Amazon-fulfilled offer we cannot see: it ships from Amazon's own stock
within 48 h (the only FBA offer in Amazon's model examples says ``maximumHours`` 0). No source
states a bound (UNCONFIRMED), so a delivery limit stricter than this never trusts an unseen offer."""


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
    return _is_new(offer.get("SubCondition"))


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

    Single getItemOffers answers (the sell-out re-check) have the same shape and read the same:
    a re-check agrees with the batch by construction.

    - per-item 200, ``payload.status`` Success and a listed offer passes → IN_STOCK with its price
      (``price_source`` offer);
    - no listed offer passes but the list may have stopped before one (:class:`OfferListing`):
      the Summary's unlisted Amazon-fulfilled price → IN_STOCK (``price_source`` summary), else
      ERROR. Never out of stock or filtered out: the offers we were not shown may be buyable;
    - ``NoBuyableOffers``, or a complete list with no new-condition offer → OUT_OF_STOCK;
    - a complete list of new offers of which none passes the delivery filter → FILTERED_OUT;
    - anything unusable (missing item, per-item error, ``ActiveButTooSoonForProcessing``,
      unknown status, bad money) → ERROR, which means *stock unknown*.
    """

    def error(reason: str) -> Observation:
        return Observation(asin, Outcome.ERROR, observed_at, reason=reason)

    if item is None:
        return error("missing from the getItemOffersBatch response")
    status_code = _status_code(item)
    body = _mapping(item.get("body"))
    if status_code != 200:
        return error(_item_error_reason(status_code, item, body))
    payload = body.get("payload")
    if not isinstance(payload, Mapping):
        return error(_item_error_reason(status_code, item, body, fallback="no payload in the item response"))
    payload_asin = payload.get("ASIN")
    if isinstance(payload_asin, str) and payload_asin != asin:
        return error(f"response payload is for ASIN {payload_asin}")

    summary = _mapping(payload.get("Summary"))
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
    listing = OfferListing.of(offers, summary)
    try:
        chosen = choose_offer(offers, max_delivery_hours)
        if chosen is not None:
            return _in_stock(asin, observed_at, chosen, PriceSource.OFFER, offer_count)
        if listing.may_hide_new_offers:
            # Never hide on an incomplete list: the Summary's Amazon-fulfilled price, or unknown.
            candidate = summary_candidate(summary, offers, max_delivery_hours)
            if candidate is not None:
                return _in_stock(asin, observed_at, candidate, PriceSource.SUMMARY, offer_count)
            return Observation(
                asin,
                Outcome.ERROR,
                observed_at,
                offer_count=offer_count,
                reason=f"{INCOMPLETE_OFFER_LIST}: {listing.describe()}, none of them ships within "
                f"{max_delivery_hours} h and the Summary shows no unlisted Amazon-fulfilled price",
            )
    except MoneyError as exc:
        return error(f"unusable price: {exc}")
    if not any(is_new_condition(o) for o in offers):
        return Observation(
            asin, Outcome.OUT_OF_STOCK, observed_at, offer_count=offer_count, reason="no new-condition offers"
        )
    return Observation(
        asin,
        Outcome.FILTERED_OUT,
        observed_at,
        offer_count=offer_count,
        reason=f"no new offer ships within {max_delivery_hours} h",
    )


def _in_stock(
    asin: str,
    observed_at: datetime,
    priced: Mapping[str, Any],
    source: PriceSource,
    offer_count: int | None,
) -> Observation:
    """IN_STOCK at ``ListingPrice + Shipping`` of an offer or a ``LowestPrices`` entry (same keys)."""
    return Observation(
        asin,
        Outcome.IN_STOCK,
        observed_at,
        price_yen=offer_total_yen(priced),
        shipping_yen=shipping_yen(priced),
        points=offer_points(priced),
        offer_count=offer_count,
        price_source=source,
    )


@dataclass(frozen=True, slots=True)
class OfferListing:
    """How complete an answer's ``Offers`` is: how many were listed, how many new offers exist.

    ``new_offers`` is the sum of ``Summary.NumberOfOffers[].OfferCount`` for the new condition, or
    None when the Summary does not give every such count (Amazon's own getItemOffers example
    leaves ``OfferCount`` out).
    """

    listed: int
    new_offers: int | None

    @classmethod
    def of(cls, offers: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> OfferListing:
        return cls(listed=len(offers), new_offers=_new_offer_count(summary))

    @property
    def may_hide_new_offers(self) -> bool:
        """True when new offers may exist beyond the list: the Summary counts more new offers than
        were listed, or the list is full (20) and the Summary does not say how many there are."""
        if self.new_offers is not None:
            return self.new_offers > self.listed
        return self.listed >= MAX_LISTED_OFFERS

    def describe(self) -> str:
        if self.new_offers is None:
            return (
                f"Amazon listed {self.listed} offers (it lists only the lowest {MAX_LISTED_OFFERS}) "
                "and did not count the rest"
            )
        return (
            f"Amazon listed only the lowest {MAX_LISTED_OFFERS} of {self.new_offers} new offers "
            f"({self.listed} listed)"
        )


def _new_offer_count(summary: Mapping[str, Any]) -> int | None:
    entries = summary.get("NumberOfOffers")
    if not isinstance(entries, list):
        return None
    total = 0
    for entry in entries:
        if not isinstance(entry, Mapping) or not _is_new(entry.get("condition")):
            continue
        count = entry.get("OfferCount")
        if isinstance(count, bool) or not isinstance(count, int):
            return None
        total += count
    return total


def summary_candidate(
    summary: Mapping[str, Any], offers: Sequence[Mapping[str, Any]], max_delivery_hours: int
) -> dict | None:
    """The Summary's price of an unlisted offer that can qualify: the lowest new Amazon-fulfilled one.

    Why this one: the list stops at the 20 lowest prices, and on Amazon.co.jp twenty cheap offers
    shipping from abroad in front of a dearer Amazon-fulfilled one are common. ``LowestPrices``
    gives the lowest price per condition and fulfilment channel; an Amazon-fulfilled offer ships
    from Amazon's stock (:data:`FBA_SHIPS_WITHIN_HOURS`), so a seller can buy it in time. The
    Merchant entry is no help: its lowest offer is the cheapest of all, already listed.

    None (the caller reports stock unknown) when:
    - a listed offer is Amazon-fulfilled: the lowest FBA price is then that listed offer, which did
      not pass, and a dearer FBA offer that might pass is not in the answer at all;
    - the delivery limit is stricter than :data:`FBA_SHIPS_WITHIN_HOURS`;
    - the entry is a quantity-tier or business price (not what one consumer pays), or has no
      ``Shipping`` (its total would be a guess); bad money raises :class:`MoneyError`.

    What no answer tells: whether that FBA offer is available now (a pre-order shows
    ``availabilityType`` only on a listed offer). The risk is taken rather than hiding a buyable
    item; docs/sandbox.md and the README say so.
    """
    if max_delivery_hours < FBA_SHIPS_WITHIN_HOURS:
        return None
    if any(o.get("IsFulfilledByAmazon") is True for o in offers):
        return None
    entries = summary.get("LowestPrices")
    candidates = [
        dict(e)
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, Mapping)
        and _is_new(e.get("condition"))
        and e.get("fulfillmentChannel") == "Amazon"
        and e.get("offerType", "B2C") == "B2C"
        and e.get("quantityTier") is None
        and e.get("quantityDiscountType") is None
        and "Shipping" in e
    ]
    if not candidates:
        return None
    return min(candidates, key=offer_total_yen)


def _is_new(condition: Any) -> bool:
    """``"new"`` in any case (responses write conditions in lower case, requests ``New``)."""
    return isinstance(condition, str) and condition.strip().casefold() == "new"


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


def _mapping(value: object) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
