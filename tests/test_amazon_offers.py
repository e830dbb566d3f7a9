"""Offer choice and every Observation outcome, from hand-written JP fixtures in the v0 model's shape.

The NoBuyableOffers fixture is Amazon's own static-sandbox example (``productPricingV0.json``,
getItemOffersBatch 200, ASIN B00KFRNZY6; Apache-2.0), with the marketplace switched to JP.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ecauto_lib.amazon.offers import (
    MoneyError,
    catalog_info_from_item,
    choose_offer,
    error_observations,
    observation_from_item,
    yen,
)
from ecauto_lib.domain import Outcome, PriceSource

AT = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
ASIN = "B0FGQJ45HW"
MODEL = Path(__file__).parent / "contract_fixtures" / "sp-api-models" / "productPricingV0.json"


def jpy(amount: Any) -> dict:
    return {"CurrencyCode": "JPY", "Amount": amount}


def offer(
    price: Any = 2000,
    shipping: Any = 0,
    *,
    sub: str = "new",
    hours: int | None = 24,
    availability: str | None = "NOW",
    fba: bool = False,
    points: int | None = None,
    seller: str = "A1SELLER",
) -> dict:
    shipping_time: dict[str, Any] = {"minimumHours": 0}
    if hours is not None:
        shipping_time["maximumHours"] = hours
    if availability is not None:
        shipping_time["availabilityType"] = availability
    o: dict[str, Any] = {
        "SubCondition": sub,
        "SellerId": seller,
        "ListingPrice": jpy(price),
        "Shipping": jpy(shipping),
        "ShippingTime": shipping_time,
        "ShipsFrom": {"Country": "JP"},
        "IsFulfilledByAmazon": fba,
        "IsBuyBoxWinner": False,
        "IsFeaturedMerchant": True,
        "PrimeInformation": {"IsPrime": fba, "IsNationalPrime": fba},
    }
    if points is not None:
        o["Points"] = {"PointsNumber": points, "PointsMonetaryValue": jpy(points)}
    return o


def item(
    offers: list[dict], *, status: str = "Success", total: int | None = None, asin: str = ASIN, **summary: Any
) -> dict:
    """One ``responses[i]`` element of getItemOffersBatch (``ItemOffersResponse``)."""
    return {
        "status": {"statusCode": 200, "reasonPhrase": "OK"},
        "headers": {"x-amzn-RequestId": "req-1", "Date": "Sat, 01 Aug 2026 12:00:00 GMT"},
        "request": {
            "MarketplaceId": "A1VC38T7YXB528",
            "Asin": asin,
            "ItemCondition": "New",
            "CustomerType": "Consumer",
        },
        "body": {
            "payload": {
                "ASIN": asin,
                "status": status,
                "ItemCondition": "New",
                "marketplaceId": "A1VC38T7YXB528",
                "Identifier": {"MarketplaceId": "A1VC38T7YXB528", "ItemCondition": "New", "ASIN": asin},
                "Summary": {"TotalOfferCount": len(offers) if total is None else total, **summary},
                "Offers": offers,
            }
        },
    }


def observe(it: dict | None, hours: int = 72):
    return observation_from_item(ASIN, it, max_delivery_hours=hours, observed_at=AT)


# Amazon's sandbox example for the no-offer case, marketplace switched to JP (it carries no money).
NO_BUYABLE_OFFERS_EXAMPLE = {
    "status": {"statusCode": 200, "reasonPhrase": "OK"},
    "body": {
        "payload": {
            "ASIN": "B00KFRNZY6",
            "status": "NoBuyableOffers",
            "ItemCondition": "New",
            "Identifier": {"MarketplaceId": "A1VC38T7YXB528", "ItemCondition": "New", "ASIN": "B00KFRNZY6"},
            "Summary": {"TotalOfferCount": 0},
            "Offers": [],
            "marketplaceId": "A1VC38T7YXB528",
        }
    },
    "headers": {
        "x-amzn-RequestId": "7e49bdbb-7347-46fe-8c66-beb7b9c08118",
        "Date": "Tue, 28 Jun 2022 14:21:23 GMT",
    },
    "request": {
        "MarketplaceId": "A1VC38T7YXB528",
        "Asin": "B00KFRNZY6",
        "CustomerType": "Consumer",
        "ItemCondition": "New",
    },
}


# -- choose_offer ----------------------------------------------------------------------------


def test_choose_offer_takes_lowest_price_plus_shipping() -> None:
    cheap_listing_dear_shipping = offer(1800, 500, seller="S1")
    cheapest_total = offer(2000, 0, seller="S2")
    chosen = choose_offer([cheap_listing_dear_shipping, cheapest_total, offer(2500, 0, seller="S3")], 72)
    assert chosen is not None and chosen["SellerId"] == "S2"


def test_choose_offer_filters_condition_and_delivery() -> None:
    offers = [
        offer(1000, sub="used", seller="used"),
        offer(1100, hours=96, seller="slow"),
        offer(1200, availability="FUTURE_WITH_DATE", seller="preorder"),
        offer(1300, hours=None, seller="no-max-hours"),
        offer(1400, availability=None, seller="no-availability-type"),
        offer(1500, seller="ok"),
    ]
    chosen = choose_offer(offers, 72)
    assert chosen is not None and chosen["SellerId"] == "no-availability-type"
    assert choose_offer(offers[:4], 72) is None
    # The delivery bound is inclusive.
    boundary = choose_offer([offer(1100, hours=72, seller="edge")], 72)
    assert boundary is not None and boundary["SellerId"] == "edge"


def test_choose_offer_sub_condition_is_case_insensitive() -> None:
    chosen = choose_offer([offer(sub="New", seller="caps")], 72)
    assert chosen is not None and chosen["SellerId"] == "caps"


def test_choose_offer_ties_prefer_fba_then_more_points_then_order() -> None:
    merchant = offer(2000, fba=False, points=100, seller="merchant")
    fba_few = offer(1900, 100, fba=True, points=10, seller="fba-few")
    fba_many = offer(2000, 0, fba=True, points=50, seller="fba-many")
    assert choose_offer([merchant, fba_few, fba_many], 72)["SellerId"] == "fba-many"  # type: ignore[index]
    first, second = offer(seller="first"), offer(seller="second")
    assert choose_offer([first, second], 72)["SellerId"] == "first"  # type: ignore[index]


def test_choose_offer_refuses_to_rank_bad_money() -> None:
    with pytest.raises(MoneyError, match="USD"):
        choose_offer(
            [offer(2000), {**offer(1000), "ListingPrice": {"CurrencyCode": "USD", "Amount": 10}}], 72
        )


@pytest.mark.parametrize(
    ("money", "expected"),
    [(jpy(1980), 1980), (jpy(1980.0), 1980), (jpy("1980"), 1980), (jpy(0), 0)],
)
def test_yen_accepts_whole_jpy(money: dict, expected: int) -> None:
    assert yen(money, "ListingPrice") == expected


@pytest.mark.parametrize(
    "money",
    [
        None,
        {"CurrencyCode": "USD", "Amount": 20},
        jpy(1980.5),
        jpy(None),
        jpy(True),
        jpy(-1),
        jpy("abc"),
        jpy("nan"),
    ],
)
def test_yen_rejects_anything_else(money: Any) -> None:
    with pytest.raises(MoneyError):
        yen(money, "ListingPrice")


# -- observation_from_item -------------------------------------------------------------------


def test_in_stock_observation_carries_price_shipping_points_and_count() -> None:
    obs = observe(item([offer(2980, 350, points=30), offer(3500, 0)], total=7))
    assert obs.outcome is Outcome.IN_STOCK
    assert (obs.price_yen, obs.shipping_yen, obs.points, obs.offer_count) == (3330, 350, 30, 7)
    assert obs.asin == ASIN and obs.observed_at == AT and obs.reason is None


def test_no_buyable_offers_from_amazons_example_is_out_of_stock() -> None:
    obs = observation_from_item(
        "B00KFRNZY6", NO_BUYABLE_OFFERS_EXAMPLE, max_delivery_hours=72, observed_at=AT
    )
    assert obs.outcome is Outcome.OUT_OF_STOCK
    assert obs.reason == "NoBuyableOffers"
    assert obs.offer_count == 0 and obs.price_yen is None


def test_only_used_offers_is_out_of_stock() -> None:
    obs = observe(item([offer(sub="used"), offer(sub="acceptable")]))
    assert obs.outcome is Outcome.OUT_OF_STOCK
    assert obs.reason == "no new-condition offers"
    assert obs.offer_count == 2


def test_success_with_no_offers_is_out_of_stock() -> None:
    assert observe(item([])).outcome is Outcome.OUT_OF_STOCK


def test_new_offers_that_ship_too_late_are_filtered_out() -> None:
    obs = observe(item([offer(hours=120), offer(availability="FUTURE_WITHOUT_DATE")]), hours=72)
    assert obs.outcome is Outcome.FILTERED_OUT
    assert obs.reason == "no new offer ships within 72 h"
    assert obs.price_yen is None and obs.offer_count == 2


def test_too_soon_for_processing_is_an_error_naming_the_time() -> None:
    obs = observe(
        item([], status="ActiveButTooSoonForProcessing", OffersAvailableTime="2026-08-01T16:00:00Z")
    )
    assert obs.outcome is Outcome.ERROR
    assert "ActiveButTooSoonForProcessing" in obs.reason and "2026-08-01T16:00:00Z" in obs.reason


def test_per_item_http_error_is_an_error_with_code_and_message() -> None:
    failed = {
        "status": {"statusCode": 400, "reasonPhrase": "Bad Request"},
        "body": {"errors": [{"code": "InvalidInput", "message": "Invalid ASIN B0FGQJ45HW"}]},
        "request": {"Asin": ASIN},
    }
    obs = observe(failed)
    assert obs.outcome is Outcome.ERROR
    assert obs.reason == "HTTP 400 InvalidInput: Invalid ASIN B0FGQJ45HW"
    no_errors = {"status": {"statusCode": 503, "reasonPhrase": "Service Unavailable"}, "body": {}}
    assert observe(no_errors).reason == "HTTP 503 Service Unavailable"


def test_missing_item_is_an_error() -> None:
    obs = observe(None)
    assert obs.outcome is Outcome.ERROR and "missing" in obs.reason


@pytest.mark.parametrize(
    "bad",
    [
        {"ListingPrice": {"CurrencyCode": "USD", "Amount": 20}},
        {"ListingPrice": jpy(1980.5)},
        {"Shipping": jpy(10.25)},
    ],
)
def test_bad_money_is_an_error_never_a_guess(bad: dict) -> None:
    obs = observe(item([{**offer(), **bad}]))
    assert obs.outcome is Outcome.ERROR
    assert obs.price_yen is None and obs.reason.startswith("unusable price")


def test_unknown_status_and_wrong_payload_asin_are_errors() -> None:
    assert observe(item([offer()], status="SomethingNew")).outcome is Outcome.ERROR
    other = observe(item([offer()], asin="B0AAAAAAAA"))
    assert other.outcome is Outcome.ERROR and "B0AAAAAAAA" in other.reason


def test_error_observations_one_per_asin() -> None:
    obs = error_observations(["B0AAAAAAAA", "B0BBBBBBBB"], "HTTP 503", AT)
    assert [(o.asin, o.outcome, o.reason) for o in obs] == [
        ("B0AAAAAAAA", Outcome.ERROR, "HTTP 503"),
        ("B0BBBBBBBB", Outcome.ERROR, "HTTP 503"),
    ]


def _as_jpy(node: Any) -> Any:
    """Every USD ``MoneyType`` → JPY, cents becoming whole yen (21.99 USD → 2199 JPY)."""
    if isinstance(node, dict):
        if node.get("CurrencyCode") == "USD":
            return {"CurrencyCode": "JPY", "Amount": round(node["Amount"] * 100)}
        return {key: _as_jpy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_as_jpy(value) for value in node]
    return node


def _model_batch_example() -> list[dict]:
    model = json.loads(MODEL.read_text())
    example = model["paths"]["/batches/products/pricing/v0/itemOffers"]["post"]["responses"]["200"]
    return copy.deepcopy(example["x-amzn-api-sandbox"]["static"][0]["response"]["responses"])


@pytest.mark.skipif(not MODEL.exists(), reason="the shared reference models are not on this machine")
def test_amazons_batch_example_parses_after_switching_to_jpy() -> None:
    """The model's 10-item batch: B00KFRNZY6 is out of stock, the 9 Success items get a price."""
    outcomes = {
        it["request"]["Asin"]: observation_from_item(
            it["request"]["Asin"], it, max_delivery_hours=10_000, observed_at=AT
        )
        for it in _as_jpy(_model_batch_example())
    }
    assert len(outcomes) == 10
    assert outcomes.pop("B00KFRNZY6").outcome is Outcome.OUT_OF_STOCK
    assert {o.outcome for o in outcomes.values()} == {Outcome.IN_STOCK}
    first = outcomes["B000P6Q7MY"]  # ListingPrice 21 USD + Shipping 0, one new offer shipping in 24 h
    assert (first.price_yen, first.shipping_yen, first.offer_count) == (2100, 0, 1)


@pytest.mark.skipif(not MODEL.exists(), reason="the shared reference models are not on this machine")
def test_amazons_cents_relabelled_as_yen_are_refused() -> None:
    """Switching only the currency code leaves amounts like 24.99: fractional yen → ERROR, not a price."""
    relabelled = json.loads(json.dumps(_model_batch_example()).replace('"USD"', '"JPY"'))
    cents = [it for it in relabelled if it["request"]["Asin"] == "B001Q3KU9Q"][0]
    obs = observation_from_item("B001Q3KU9Q", cents, max_delivery_hours=10_000, observed_at=AT)
    assert obs.outcome is Outcome.ERROR and "24.99" in obs.reason


# -- catalog ---------------------------------------------------------------------------------


def test_catalog_info_takes_summary_and_largest_main_image() -> None:
    catalog_item = {
        "asin": ASIN,
        "summaries": [{"marketplaceId": "A1VC38T7YXB528", "itemName": "テスト商品 500ml", "brand": "テスト"}],
        "images": [
            {
                "marketplaceId": "A1VC38T7YXB528",
                "images": [
                    {
                        "variant": "MAIN",
                        "link": "https://m.media-amazon.com/small.jpg",
                        "height": 75,
                        "width": 75,
                    },
                    {
                        "variant": "PT01",
                        "link": "https://m.media-amazon.com/huge.jpg",
                        "height": 3000,
                        "width": 3000,
                    },
                    {
                        "variant": "MAIN",
                        "link": "https://m.media-amazon.com/large.jpg",
                        "height": 1500,
                        "width": 1200,
                    },
                ],
            }
        ],
    }
    info = catalog_info_from_item(catalog_item, AT)
    assert (info.asin, info.title, info.brand, info.image_url) == (
        ASIN,
        "テスト商品 500ml",
        "テスト",
        "https://m.media-amazon.com/large.jpg",
    )
    assert info.observed_at == AT


def test_catalog_info_tolerates_missing_parts() -> None:
    info = catalog_info_from_item({"asin": ASIN}, AT)
    assert (info.title, info.brand, info.image_url) == (None, None, None)


# -- the 20-offer cut: Offers lists only the 20 lowest-priced offers of the condition ------------


def slow_overseas(n: int, start: int = 900) -> list[dict]:
    """``n`` cheap new offers shipping from abroad in 240-408 h (none passes a 72 h filter)."""
    return [offer(start + 10 * k, 500, hours=408, seller=f"CN{k:02d}") for k in range(n)]


def lowest(condition: str, channel: str, price: int, shipping: int = 0, points: int | None = None) -> dict:
    entry: dict[str, Any] = {
        "condition": condition,
        "fulfillmentChannel": channel,
        "LandedPrice": jpy(price + shipping - (points or 0)),
        "ListingPrice": jpy(price),
        "Shipping": jpy(shipping),
    }
    if points is not None:
        entry["Points"] = {"PointsNumber": points, "PointsMonetaryValue": jpy(points)}
    return entry


def crowded(*, fba_price: int | None = 2980, merchant_new: int = 25, used: int = 2) -> dict:
    """20 listed slow offers; the Summary counts every offer and its lowest price per channel."""
    new_count = merchant_new + (1 if fba_price is not None else 0)
    lowest_prices = [lowest("new", "Merchant", 900, 500), lowest("used", "Merchant", 700)]
    numbers = [
        {"condition": "new", "fulfillmentChannel": "Merchant", "OfferCount": merchant_new},
        {"condition": "used", "fulfillmentChannel": "Merchant", "OfferCount": used},
    ]
    if fba_price is not None:
        lowest_prices.insert(0, lowest("new", "Amazon", fba_price, points=30))
        numbers.insert(0, {"condition": "new", "fulfillmentChannel": "Amazon", "OfferCount": 1})
    return item(
        slow_overseas(20),
        total=new_count + used,
        NumberOfOffers=numbers,
        LowestPrices=lowest_prices,
    )


def test_truncated_list_with_an_unlisted_amazon_fulfilled_offer_is_in_stock_at_the_summary_price() -> None:
    """Twenty cheap slow offers in front of a dearer FBA one: the FBA price, never 'filtered out'."""
    obs = observe(crowded(fba_price=2980))
    assert obs.outcome is Outcome.IN_STOCK
    assert (obs.price_yen, obs.shipping_yen, obs.points) == (2980, 0, 30)
    assert obs.price_source is PriceSource.SUMMARY
    assert obs.offer_count == 28  # TotalOfferCount: every condition


def test_truncated_list_without_a_qualifying_summary_candidate_is_unknown_never_hidden() -> None:
    obs = observe(crowded(fba_price=None))
    assert obs.outcome is Outcome.ERROR  # stock unknown: nothing hidden, nothing repriced
    assert obs.reason.startswith("offer list cut at 20, stock unknown: ")
    assert "lowest 20 of 25 new offers" in obs.reason
    # a listed Amazon-fulfilled offer that does not pass is the Summary's lowest FBA price:
    # the cheapest dearer FBA offer (if any) is not in the answer, so the Summary says nothing
    slow_fba = item(
        [offer(2980, hours=24, fba=True, availability="FUTURE_WITH_DATE", seller="PREORDER")]
        + slow_overseas(19),
        total=30,
        NumberOfOffers=[
            {"condition": "new", "fulfillmentChannel": "Amazon", "OfferCount": 3},
            {"condition": "new", "fulfillmentChannel": "Merchant", "OfferCount": 27},
        ],
        LowestPrices=[lowest("new", "Amazon", 2980), lowest("new", "Merchant", 900, 500)],
    )
    assert observe(slow_fba).outcome is Outcome.ERROR


def test_twenty_listed_offers_and_no_offer_counts_may_hide_more_offers_so_it_is_unknown() -> None:
    # Amazon's own getItemOffers example carries NumberOfOffers entries without OfferCount
    obs = observe(item(slow_overseas(20), total=20))
    assert obs.outcome is Outcome.ERROR and "lowest 20" in obs.reason
    # with the counts saying the 20 listed are all the new offers, "filtered out" is the answer
    complete = item(
        slow_overseas(20),
        total=20,
        NumberOfOffers=[{"condition": "new", "fulfillmentChannel": "Merchant", "OfferCount": 20}],
    )
    assert observe(complete).outcome is Outcome.FILTERED_OUT


def test_summary_candidate_needs_whole_yen_a_consumer_price_and_a_delivery_limit_fba_can_meet() -> None:
    crowd = crowded(fba_price=2980)
    summary = crowd["body"]["payload"]["Summary"]
    # a quantity-tier or B2B price is not what a consumer pays for one
    tiered = copy.deepcopy(crowd)
    tiered["body"]["payload"]["Summary"]["LowestPrices"][0].update(quantityTier=20, offerType="B2B")
    assert observe(tiered).outcome is Outcome.ERROR
    cents = copy.deepcopy(crowd)
    cents["body"]["payload"]["Summary"]["LowestPrices"][0]["ListingPrice"] = jpy(29.8)
    assert observe(cents).outcome is Outcome.ERROR
    no_shipping = copy.deepcopy(crowd)
    del no_shipping["body"]["payload"]["Summary"]["LowestPrices"][0]["Shipping"]
    assert observe(no_shipping).outcome is Outcome.ERROR
    # a seller who wants delivery within 12 h cannot be promised it by an offer we cannot see
    assert observe(crowd, hours=12).outcome is Outcome.ERROR
    assert summary["LowestPrices"][0]["fulfillmentChannel"] == "Amazon"


def test_a_listed_offer_that_passes_wins_and_says_so() -> None:
    listed = slow_overseas(19) + [offer(3200, 0, fba=True, seller="FBA")]
    obs = observe(item(listed, total=40, LowestPrices=[lowest("new", "Amazon", 3200)]))
    assert (obs.outcome, obs.price_yen, obs.price_source) == (Outcome.IN_STOCK, 3200, PriceSource.OFFER)


def test_only_used_offers_listed_but_new_ones_counted_is_not_out_of_stock() -> None:
    """Offers empty of new ones while the Summary counts new offers: the answer is incomplete."""
    obs = observe(
        item(
            [offer(sub="used")] * 20,
            total=45,
            NumberOfOffers=[{"condition": "new", "fulfillmentChannel": "Merchant", "OfferCount": 25}],
        )
    )
    assert obs.outcome is Outcome.ERROR
