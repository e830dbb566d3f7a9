"""The simulator's BASE sales and variations (issue #11 §2 / §6): orders decrement stock like BASE's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ecauto_lib.domain import Outcome
from ecauto_sandbox import BaseItem, Sale, Sandbox, SandboxError, Scenario, variation
from ecauto_sandbox.probe import SandboxProbe

SHOP = "base_account_1"
START = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
BAD_VARIATION = {"error": "bad_variation_id", "error_description": "不正なvariation_idです。"}


def scenario(sales=()):
    scenario = Scenario.demo()
    scenario.shops[0].items.append(
        BaseItem(
            item_id=555,
            title="カラー選択",
            price=2000,
            identifier="B0VARIANT1",
            asin="B0VARIANT1",
            variations=[variation(1, "赤", 2, "B0VARIANT1"), variation(2, "青", 0, None)],
        )
    )
    scenario.sales = list(sales)
    return scenario


@pytest.fixture
def sb():
    with Sandbox(scenario(), speed=100) as sandbox:
        yield sandbox


def test_a_sale_decrements_stock_like_an_order_and_never_below_zero(sb):
    kettle = 127634915
    assert sb.item(SHOP, kettle)["stock"] == 1
    assert sb.sell(SHOP, kettle)["stock"] == 0
    with pytest.raises(SandboxError, match="has only 0 in stock"):
        sb.sell(SHOP, kettle)
    assert sb.item(SHOP, 555)["stock"] == 2  # an item with variations shows their sum
    sb.sell(SHOP, 555, variation_id=1)
    assert sb.item(SHOP, 555)["stock"] == 1
    assert [v["variation_stock"] for v in sb.item(SHOP, 555)["variations"]] == [1, 0]
    with pytest.raises(SandboxError, match="give variation_id"):
        sb.sell(SHOP, 555)
    with pytest.raises(LookupError, match="no variation 9"):
        sb.sell(SHOP, 555, variation_id=9)


def test_sales_over_the_admin_api(sb):
    probe = SandboxProbe(sb)
    answer = probe.admin_post(f"/shops/{SHOP}/items/555/sell", {"variation_id": 1, "quantity": 2})
    assert answer.status_code == 200 and answer.json()["stock"] == 0
    assert probe.admin_post(f"/shops/{SHOP}/items/555/sell", {"variation_id": 1}).status_code == 400
    assert probe.admin_post(f"/shops/{SHOP}/items/999/sell").status_code == 404
    assert [r.operation for r in sb.requests if r.service == "admin"] == ["sell", "sell", "sell"]


def test_edit_stock_sets_a_variation_and_the_item_shows_the_sum(sb):
    probe = SandboxProbe(sb)
    answer = probe.base_post(
        SHOP, "/1/items/edit_stock", {"item_id": 555, "variation_id": 2, "variation_stock": 3}
    )
    assert answer.status_code == 200
    assert answer.json()["item"]["stock"] == 5
    assert answer.json()["item"]["variations"][1] == variation(2, "青", 3, None)
    bad = probe.base_post(
        SHOP, "/1/items/edit_stock", {"item_id": 555, "variation_id": 9, "variation_stock": 1}
    )
    assert bad.json() == BAD_VARIATION
    no_variations = probe.base_post(
        SHOP, "/1/items/edit_stock", {"item_id": 127634915, "variation_id": 1, "variation_stock": 1}
    )
    assert no_variations.json() == BAD_VARIATION
    assert (
        probe.base_post(SHOP, "/1/items/edit_stock", {"item_id": 555, "variation_id": 2}).json()["error"]
        == "bad_params"
    )
    assert (
        probe.base_post(SHOP, "/1/items/edit_stock", {"item_id": 555, "stock": 4}).json()["error"]
        == "bad_params"
    )
    # items/edit's stock is the variations' sum on such an item: a stock sent there changes nothing
    assert probe.edit_item(SHOP, 555, stock=9).json()["item"]["stock"] == 5


def test_scenario_sales_happen_when_the_virtual_clock_reaches_them():
    sales = [Sale(SHOP, 127634915, timedelta(hours=1)), Sale(SHOP, 555, timedelta(hours=2), variation_id=1)]
    now = [0.0]
    from ecauto_sandbox import VirtualClock

    clock = VirtualClock(100, START, monotonic=lambda: now[0])
    with Sandbox(scenario(sales), clock=clock) as sb:
        assert sb.item(SHOP, 127634915)["stock"] == 1
        now[0] = 3600 / 100  # one virtual hour
        assert sb.item(SHOP, 127634915)["stock"] == 0 and sb.item(SHOP, 555)["stock"] == 2
        now[0] = 2 * 3600 / 100
        probe = SandboxProbe(sb)
        listed = {i["item_id"]: i["stock"] for i in probe.items(SHOP, limit=100).json()["items"]}
        assert listed[555] == 1  # applied before BASE answered


def test_an_asin_can_answer_a_per_item_error_on_every_call():
    with Sandbox(scenario(), speed=100, enforce_quotas=False) as sb:
        probe = SandboxProbe(sb)
        sb.set_item_error("B07YV55TNL", "InvalidInput")  # removed from the catalog
        assert probe.admin_post("/products/B0FGQJ45HW/item_error", {"code": "InternalFailure"}).json() == {
            "ok": True
        }
        assert probe.admin_post("/products/B0FGQJ45HW/item_error", {"code": "Gone"}).status_code == 400
        for _ in range(2):  # every call, not a random draw
            answer = probe.item_offers_batch(["B07YV55TNL", "B0FGQJ45HW", "B08HXN835J"]).json()["responses"]
            assert [r["status"]["statusCode"] for r in answer] == [400, 500, 200]
            assert answer[0]["body"]["errors"][0]["message"] == "B07YV55TNL is not a valid ASIN"
        assert sb.product("B07YV55TNL").expected().outcome is Outcome.ERROR
        assert probe.item_offers("B07YV55TNL").status_code == 400
        sb.set_item_error("B07YV55TNL", None)
        assert probe.item_offers_batch(["B07YV55TNL"]).json()["responses"][0]["status"]["statusCode"] == 200
