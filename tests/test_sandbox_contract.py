"""Contract tests: the simulator's answers against Amazon's official models and BASE's recordings.

SP-API responses are validated with ``jsonschema`` against the ``definitions`` of
``productPricingV0.json`` / ``catalogItems_2022-04-01.json`` twice: as published, and "strict"
(every object closed with ``additionalProperties: false``) so a misspelt key cannot hide. BASE
answers are compared key by key and type by type with the recorded 2020 responses.

The reference files are copied, with their licenses, into ``tests/contract_fixtures/`` (Amazon's
models are Apache-2.0, the BASE recordings MIT); ``ECAUTO_REFERENCE_DIR`` may point elsewhere.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ecauto_sandbox import Faults, Sandbox, Scenario
from ecauto_sandbox.probe import SandboxProbe, batch_body

REFERENCE = Path(os.environ.get("ECAUTO_REFERENCE_DIR", Path(__file__).parent / "contract_fixtures"))
MODELS = REFERENCE / "sp-api-models"
RECORDED = REFERENCE / "base-api-spec" / "recorded"


# --------------------------------------------------------------- schemas
def _load_definitions(name: str) -> dict[str, Any]:
    return json.loads((MODELS / name).read_text())["definitions"]


def _merge_all_of(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` of objects merged into one object schema (so it can be closed)."""
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    for part in schema["allOf"]:
        if "$ref" in part:
            part = defs[part["$ref"].rsplit("/", 1)[1]]
        if "allOf" in part:
            part = _merge_all_of(part, defs)
        merged["properties"].update(part.get("properties", {}))
        merged["required"] += part.get("required", [])
    return merged


def _close(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        return [_close(s, defs) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if "allOf" in schema:
        schema = _merge_all_of(schema, defs)
    closed = {k: _close(v, defs) for k, v in schema.items()}
    if "properties" in closed and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


def validator(model: str, definition: str, *, strict: bool) -> jsonschema.Draft4Validator:
    defs = _load_definitions(model)
    if strict:
        original = copy.deepcopy(defs)
        defs = {name: _close(schema, original) for name, schema in original.items()}
        if "ItemAttributes" in defs:  # free-form by design (keyed by product-type attribute)
            defs["ItemAttributes"] = {"type": "object"}
    return jsonschema.Draft4Validator(
        {"allOf": [{"$ref": f"#/definitions/{definition}"}], "definitions": defs}
    )


PRICING = "productPricingV0.json"
CATALOG = "catalogItems_2022-04-01.json"


def assert_valid(instance: Any, model: str, definition: str) -> None:
    for strict in (False, True):
        errors = sorted(validator(model, definition, strict=strict).iter_errors(instance), key=str)
        assert not errors, f"{definition} (strict={strict}): " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
        )


# --------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(Scenario.demo(), speed=100, enforce_quotas=False) as sb:
        yield sb


@pytest.fixture
def probe(sandbox):
    return SandboxProbe(sandbox)


def test_the_checker_rejects_a_misspelt_key_and_accepts_amazons_own_examples():
    model = json.loads((MODELS / PRICING).read_text())
    example = model["paths"]["/batches/products/pricing/v0/itemOffers"]["post"]["responses"]["200"]
    response = example["x-amzn-api-sandbox"]["static"][0]["response"]
    assert_valid(response, PRICING, "GetItemOffersBatchResponse")
    broken = copy.deepcopy(response)
    broken["responses"][0]["body"]["payload"]["Offers"][0]["ListingPrize"] = {
        "CurrencyCode": "JPY",
        "Amount": 1,
    }
    assert list(validator(PRICING, "GetItemOffersBatchResponse", strict=True).iter_errors(broken))


def test_batch_request_body_sent_by_the_probe_matches_the_model():
    assert_valid(batch_body(["B0FGQJ45HW", "B07YV55TNL"]), PRICING, "GetItemOffersBatchRequest")


# ------------------------------------------------------------ SP-API 200s
def test_normal_batch_is_a_valid_GetItemOffersBatchResponse_in_yen(probe):
    asins = ["B0FGQJ45HW", "B07YV55TNL", "B08HXN835J", "B09JS7R48N"]
    response = probe.item_offers_batch(asins)
    assert response.status_code == 200
    data = response.json()
    assert_valid(data, PRICING, "GetItemOffersBatchResponse")
    assert [r["request"]["Asin"] for r in data["responses"]] == asins
    for item in data["responses"]:
        payload = item["body"]["payload"]
        assert item["status"] == {"statusCode": 200, "reasonPhrase": "OK"}
        assert payload["status"] == "Success" and payload["marketplaceId"] == "A1VC38T7YXB528"
        amounts = [o["ListingPrice"] for o in payload["Offers"]] + [o["Shipping"] for o in payload["Offers"]]
        assert {m["CurrencyCode"] for m in amounts} == {"JPY"}
        assert all(isinstance(m["Amount"], int) for m in amounts)
        assert 1 <= len(payload["Offers"]) <= 20


def test_offers_carry_the_fields_the_pipeline_reads(probe):
    payload = probe.item_offers_batch(["B0FGQJ45HW"]).json()["responses"][0]["body"]["payload"]
    offer = payload["Offers"][0]  # cheapest new offer: Amazon's FBA ¥3,980 with 40 points
    assert offer["ListingPrice"] == {"CurrencyCode": "JPY", "Amount": 3980}
    assert offer["Shipping"] == {"CurrencyCode": "JPY", "Amount": 0}
    assert offer["Points"] == {
        "PointsNumber": 40,
        "PointsMonetaryValue": {"CurrencyCode": "JPY", "Amount": 40},
    }
    assert offer["ShippingTime"] == {"minimumHours": 0, "maximumHours": 24, "availabilityType": "NOW"}
    assert offer["IsFulfilledByAmazon"] is True and offer["IsBuyBoxWinner"] is True
    assert offer["SubCondition"] == "new"
    # Only new offers are listed for ItemCondition=New; the summary still counts the used one.
    assert all(o["SubCondition"] == "new" for o in payload["Offers"])
    assert {(n["condition"], n["OfferCount"]) for n in payload["Summary"]["NumberOfOffers"]} >= {("used", 1)}
    assert payload["Summary"]["TotalOfferCount"] == 3
    landed = payload["Summary"]["LowestPrices"][0]
    assert (
        landed["LandedPrice"]["Amount"]
        == landed["ListingPrice"]["Amount"] + landed["Shipping"]["Amount"] - 40
    )


def test_sold_out_item_is_NoBuyableOffers_with_status_200(probe):
    data = probe.item_offers_batch(["B06Y69FKT2"]).json()
    assert_valid(data, PRICING, "GetItemOffersBatchResponse")
    item = data["responses"][0]
    assert item["status"]["statusCode"] == 200
    payload = item["body"]["payload"]
    assert (payload["status"], payload["Summary"], payload["Offers"]) == (
        "NoBuyableOffers",
        {"TotalOfferCount": 0},
        [],
    )


def test_partial_failure_batch_mixes_200_400_and_injected_500(sandbox, probe):
    sandbox.set_faults(item_error_rate=1.0)
    try:
        data = probe.item_offers_batch(["B0FGQJ45HW", "B0NOTKNOWN"]).json()
    finally:
        sandbox.set_faults(item_error_rate=0.0)
    assert_valid(data, PRICING, "GetItemOffersBatchResponse")
    injected, unknown = data["responses"]
    assert injected["status"] == {"statusCode": 500, "reasonPhrase": "Internal Server Error"}
    assert injected["body"]["errors"][0]["code"] == "InternalFailure"
    assert unknown["status"]["statusCode"] == 400
    assert unknown["body"] == {
        "errors": [{"code": "InvalidInput", "message": "B0NOTKNOWN is not a valid ASIN"}]
    }
    assert unknown["request"]["Asin"] == "B0NOTKNOWN"
    assert sandbox.requests[-1].fault == "item_error"


def test_too_soon_item_has_no_offers_and_an_offers_available_time(sandbox, probe):
    sandbox.set_status("B07YV55TNL", "ActiveButTooSoonForProcessing")
    try:
        data = probe.item_offers_batch(["B07YV55TNL"]).json()
    finally:
        sandbox.set_status("B07YV55TNL", None)
    assert_valid(data, PRICING, "GetItemOffersBatchResponse")
    payload = data["responses"][0]["body"]["payload"]
    assert payload["status"] == "ActiveButTooSoonForProcessing" and payload["Offers"] == []
    assert payload["Summary"]["TotalOfferCount"] == 0
    available = payload["Summary"]["OffersAvailableTime"]
    assert available.endswith("Z") and available > sandbox.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def test_more_than_20_offers_lists_the_20_lowest_and_the_summary_counts_them_all():
    """The model: Offers is "the same length as the TotalOfferCount in the Summary or 20, whichever is
    less", of the requested condition; Summary counts and prices every offer (all conditions)."""
    scenario = Scenario.generate(
        6, 1, seed=3, out_of_stock_share=0, filtered_share=0, crowded_share=0.5, crowded_unknown_share=0.5
    )
    with Sandbox(scenario, speed=100, enforce_quotas=False) as sb:
        probe = SandboxProbe(sb)
        asins = scenario.listed_asins()
        data = probe.item_offers_batch(asins).json()
        assert_valid(data, PRICING, "GetItemOffersBatchResponse")
        singles = [probe.item_offers(a).json() for a in asins]
    for asin, item, single in zip(asins, data["responses"], singles, strict=True):
        assert_valid(single, PRICING, "GetOffersResponse")
        payload, product = item["body"]["payload"], scenario.products[asin]
        assert single["payload"] == payload  # the re-check's operation answers the same
        summary, offers = payload["Summary"], payload["Offers"]
        new = product.new_offers()
        assert len(new) > 20 and len(offers) == 20
        landed = [o["ListingPrice"]["Amount"] + o["Shipping"]["Amount"] for o in offers]  # no points
        assert landed == sorted(landed)
        listed_sellers = {o["SellerId"] for o in offers}
        unlisted = [o for o in new if o.seller_id not in listed_sellers]
        assert len(unlisted) == len(new) - 20 and min(o.landed_yen for o in unlisted) >= max(landed)
        assert summary["TotalOfferCount"] == len(product.offers)
        assert sum(n["OfferCount"] for n in summary["NumberOfOffers"]) == summary["TotalOfferCount"]
        assert sum(n["OfferCount"] for n in summary["NumberOfOffers"] if n["condition"] == "new") == len(new)
        lowest = {(e["condition"], e["fulfillmentChannel"]): e for e in summary["LowestPrices"]}
        assert lowest[("new", "Merchant")]["LandedPrice"]["Amount"] == landed[0]
        fba = [o for o in new if o.fba]
        if fba:  # the dearer Amazon-fulfilled offer is not listed, but its price is in the Summary
            assert not any(o["IsFulfilledByAmazon"] for o in offers)
            cheapest = min(fba, key=lambda o: o.landed_yen)
            assert lowest[("new", "Amazon")]["ListingPrice"]["Amount"] == cheapest.listing_yen
        else:
            assert ("new", "Amazon") not in lowest


def test_get_item_offers_is_a_valid_GetOffersResponse(probe):
    response = probe.item_offers("B07CZKGD7X")
    assert response.status_code == 200
    assert_valid(response.json(), PRICING, "GetOffersResponse")
    assert response.json()["payload"]["Offers"][0]["ListingPrice"]["Amount"] == 12800
    unknown = probe.item_offers("B0NOTKNOWN")
    assert unknown.status_code == 400
    assert_valid(unknown.json(), PRICING, "GetOffersResponse")


def test_competitive_pricing_is_a_valid_GetPricingResponse(probe):
    response = probe.competitive_pricing(["B0C6X64277", "B06Y69FKT2"])
    assert response.status_code == 200
    data = response.json()
    assert_valid(data, PRICING, "GetPricingResponse")
    in_stock, sold_out = data["payload"]
    new_price = next(
        p
        for p in in_stock["Product"]["CompetitivePricing"]["CompetitivePrices"]
        if p["CompetitivePriceId"] == "1"
    )
    assert new_price["Price"]["ListingPrice"] == {"CurrencyCode": "JPY", "Amount": 24800}
    assert sold_out["Product"]["CompetitivePricing"] == {
        "CompetitivePrices": [],
        "NumberOfOfferListings": [{"condition": "New", "Count": 0}],
    }


def test_catalog_search_and_get_item_are_valid_and_unknown_asins_are_missing(probe):
    search = probe.search_catalog(["B0FGQJ45HW", "B0NOTKNOWN", "B09YY6NZ7N"])
    assert search.status_code == 200
    data = search.json()
    assert_valid(data, CATALOG, "ItemSearchResults")
    assert [i["asin"] for i in data["items"]] == ["B0FGQJ45HW", "B09YY6NZ7N"]
    assert data["numberOfResults"] == 2
    summary = data["items"][0]["summaries"][0]
    assert (
        summary["itemName"].startswith("【Amazon.co.jp限定】山善 電気ケトル") and summary["brand"] == "山善"
    )
    main = [i for i in data["items"][0]["images"][0]["images"] if i["variant"] == "MAIN"]
    assert main and all(i["link"].startswith("https://m.media-amazon.com/images/I/") for i in main)

    everything = "attributes,classifications,dimensions,identifiers,images,productTypes,relationships,salesRanks,summaries"
    item = probe.catalog_item("B0FGQJ45HW", included=everything)
    assert item.status_code == 200
    assert_valid(item.json(), CATALOG, "Item")
    missing = probe.catalog_item("B0NOTKNOWN")
    assert missing.status_code == 404
    assert_valid(missing.json(), CATALOG, "ErrorList")
    assert missing.json()["errors"][0]["code"] == "NotFound"


# ------------------------------------------------------------ SP-API errors
def test_429_and_403_bodies_are_ErrorLists_with_amazons_texts():
    with Sandbox(Scenario.demo(), speed=1) as sb:
        probe = SandboxProbe(sb)
        assert probe.item_offers_batch(["B0FGQJ45HW"]).status_code == 200
        throttled = probe.item_offers_batch(["B0FGQJ45HW"])
        missing = probe.item_offers_batch(["B0FGQJ45HW"], token="")
        bogus = probe.item_offers_batch(["B0FGQJ45HW"], token="Atza|not-a-token")
    assert throttled.status_code == 429
    assert throttled.json() == {
        "errors": [
            {
                "code": "QuotaExceeded",
                "message": "You exceeded your quota for the requested resource.",
                "details": "",
            }
        ]
    }
    assert "x-amzn-RateLimit-Limit" not in throttled.headers and throttled.headers["x-amzn-RequestId"]
    for response, details in (
        (missing, "Access token is missing in the request header."),
        (bogus, "The access token you provided is revoked, malformed or invalid."),
    ):
        assert response.status_code == 403
        assert response.json() == {
            "errors": [
                {
                    "code": "Unauthorized",
                    "message": "Access to requested resource is denied.",
                    "details": details,
                }
            ]
        }
        assert "x-amzn-RateLimit-Limit" not in response.headers
    for body in (throttled.json(), missing.json()):
        assert_valid(body, PRICING, "Errors")
        assert_valid(body, CATALOG, "ErrorList")


def test_top_level_400s_are_valid_error_bodies(probe):
    wrapped = {
        "requests": [
            {
                "uri": "/products/pricing/v0/items/B0FGQJ45HW/offers",
                "method": "GET",
                "queryParams": {"MarketplaceId": "A1VC38T7YXB528", "ItemCondition": "New"},
            }
        ]
    }
    cases = {
        "queryParams wrapper": (
            wrapped,
            "Requested MarketplaceId is invalid, unsupported, or does not exist.",
        ),
        "duplicate ASIN": (
            batch_body(["B0FGQJ45HW", "B0FGQJ45HW"]),
            "Duplicate requests submitted. Cannot run batch request.",
        ),
        "21 requests": (batch_body([f"B0{n:08d}" for n in range(21)]), None),
        "empty": ({"requests": []}, None),
    }
    for name, (body, message) in cases.items():
        response = probe.sp_post("/batches/products/pricing/v0/itemOffers", body)
        assert response.status_code == 400, name
        assert_valid(response.json(), PRICING, "Errors")
        assert response.json()["errors"][0]["code"] == "InvalidInput", name
        if message:
            assert response.json()["errors"][0]["message"] == message
        assert response.headers["x-amzn-RateLimit-Limit"] == "10.0"


def test_competitive_pricing_item_type_is_case_sensitive(probe):
    response = probe.competitive_pricing(["B0C6X64277"], item_type="ASIN")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NotFound"


def test_catalog_page_size_limits_and_paging(sandbox, probe):
    asins = sandbox_asins = [a for a in Scenario.demo().listed_asins()]
    assert len(sandbox_asins) == 11
    assert probe.search_catalog(asins, page_size=21).status_code == 400
    first = probe.search_catalog(asins, page_size=None).json()  # default pageSize is 10
    assert len(first["items"]) == 10 and first["numberOfResults"] == 11
    second = probe.search_catalog(asins, page_size=None, pageToken=first["pagination"]["nextToken"]).json()
    assert [i["asin"] for i in second["items"]] == [asins[10]]
    assert "nextToken" not in second["pagination"] and "previousToken" in second["pagination"]
    assert probe.search_catalog(asins, pageToken="bm9wZQ").status_code == 400


# ------------------------------------------------------------------ BASE
def _recorded(name: str) -> tuple[int, Any]:
    interaction = yaml.safe_load((RECORDED / name).read_text())["http_interactions"][0]["response"]
    return interaction["status"]["code"], json.loads(interaction["body"]["string"])


def _shape(value: dict[str, Any]) -> dict[str, set[str]]:
    return {k: {type(v).__name__} for k, v in value.items()}


def _assert_same_shape(ours: dict[str, Any], recorded: dict[str, Any]) -> None:
    assert list(ours) == list(recorded), "keys (and their order) differ from the recording"
    for key, value in recorded.items():
        mine = ours[key]
        if value is None or mine is None:  # nullable fields: null in one, a value in the other
            continue
        assert type(mine) is type(value), f"{key}: {type(mine).__name__} vs recorded {type(value).__name__}"


@pytest.mark.skipif(not RECORDED.is_dir(), reason="recorded BASE responses not found")
def test_base_item_json_matches_the_recorded_list_detail_and_edit(sandbox, probe):
    _, listed = _recorded("items_list.yml")
    _, detail = _recorded("items_detail.yml")
    _, edited = _recorded("items_edit.yml")
    ours_list = probe.items("base_account_1", limit=2).json()
    assert list(ours_list) == ["items"]
    _assert_same_shape(ours_list["items"][0], listed["items"][0])
    ours_detail = probe.item_detail("base_account_1", 127641203).json()
    assert list(ours_detail) == ["item"]
    _assert_same_shape(ours_detail["item"], detail["item"])
    ours_edit = probe.edit_item("base_account_1", 127641203, title="サーモス タンブラー 420ml").json()
    _assert_same_shape(ours_edit["item"], edited["item"])
    assert ours_detail["item"]["img1_origin"].startswith("https://base-ec2.akamaized.net/images/item/origin/")


@pytest.mark.skipif(not RECORDED.is_dir(), reason="recorded BASE responses not found")
def test_base_token_and_error_bodies_match_the_recordings(probe):
    status, recorded_token = _recorded("oauth_token_refresh.yml")
    ours = probe.base_token("base_account_2")
    assert ours.status_code == status == 200
    assert list(ours.json()) == list(recorded_token)  # no scope field
    assert {k: type(v) for k, v in ours.json().items()} == {k: type(v) for k, v in recorded_token.items()}
    status, recorded_error = _recorded("oauth_token_invalid_refresh.yml")
    refused = probe.base_token("base_account_2", refresh_token="invalid token")
    assert refused.status_code == status == 400
    assert refused.json() == recorded_error  # invalid_request / 不正なリフレッシュトークンです。
    assert refused.headers["Content-Type"] == "application/json; charset=UTF-8"
    status, recorded_code_error = _recorded("oauth_token_invalid_code.yml")
    code = probe.base_token("base_account_2", grant_type="authorization_code", code="invalid code")
    assert code.status_code == status and code.json() == recorded_code_error


def test_lwa_token_response_shape(probe):
    response = probe.lwa_token()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["access_token"].startswith("Atza|") and body["token_type"] == "bearer"
    assert body["refresh_token"] == probe.sb.lwa_credentials.refresh_token
    assert body["expires_in"] == 36  # 3600 virtual seconds at speed 100


def test_model_sandbox_example_offer_keys_are_all_produced(probe):
    """Every key Amazon's own getItemOffers example offer has, our offers have too."""
    model = json.loads((MODELS / PRICING).read_text())
    example = model["paths"]["/products/pricing/v0/items/{Asin}/offers"]["get"]["responses"]["200"]
    example_payload = example["x-amzn-api-sandbox"]["static"][0]["response"]["payload"]
    ours = probe.item_offers("B07YV55TNL").json()["payload"]
    assert set(example_payload) <= set(ours)
    assert set(example_payload["Offers"][0]) <= set(ours["Offers"][0])
    assert set(example_payload["Summary"]) <= set(ours["Summary"])


def test_faults_do_not_leak_between_tests(sandbox):
    assert sandbox.faults == Faults(seed=0)
