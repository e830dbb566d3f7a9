"""BASE items endpoints: listing and paging, detail, partial edits and their validation."""

from __future__ import annotations

import pytest

from ecauto_sandbox import Sandbox, Scenario
from ecauto_sandbox.probe import SandboxProbe

VALIDATION = {"error": "validation_error", "error_description": "バリデーションエラーです。"}
BAD_ITEM_ID = {"error": "bad_item_id", "error_description": "不正なitem_idです。"}


@pytest.fixture(scope="module")
def generated():
    return Scenario.generate(250, n_shops=2, seed=3)


@pytest.fixture
def sb(generated):
    with Sandbox(generated, speed=100) as sandbox:
        yield sandbox


@pytest.fixture
def probe(sb):
    return SandboxProbe(sb)


def test_items_pages_with_limit_and_offset_until_a_short_page(sb, probe, generated):
    shop = generated.shops[0]
    seen = []
    offset = 0
    while True:
        page = probe.items(shop.id, limit=100, offset=offset).json()["items"]
        seen += page
        if len(page) < 100:
            break
        offset += 100
    assert [i["item_id"] for i in seen] == [i.item_id for i in sorted(shop.items, key=lambda i: i.list_order)]
    assert probe.items(shop.id).json()["items"] == seen[:20]  # default limit 20
    assert probe.items(shop.id, limit=101).json() == VALIDATION
    assert probe.items(shop.id, order="price").json() == VALIDATION
    assert len([r for r in sb.requests if r.operation == "items"]) == len(seen) // 100 + 1 + 3


def test_items_order_and_sort(sb, probe, generated):
    shop = generated.shops[1]
    first, last = shop.items[0], shop.items[-1]
    assert probe.edit_item(shop.id, last.item_id, price=last.price + 100).status_code == 200
    by_modified = probe.items(shop.id, order="modified", sort="desc", limit=1).json()["items"]
    assert by_modified[0]["item_id"] == last.item_id  # the item just edited is the most recent
    desc = probe.items(shop.id, sort="desc", limit=1).json()["items"]
    assert desc[0]["item_id"] == max(shop.items, key=lambda i: i.list_order).item_id
    asc = probe.items(shop.id, order="created", limit=1).json()["items"]
    assert asc[0]["item_id"] == first.item_id


def test_detail_needs_the_id_in_the_path(sb, probe, generated):
    item = generated.shops[0].items[5]
    detail = probe.item_detail(generated.shops[0].id, item.item_id).json()["item"]
    assert (detail["item_id"], detail["price"], detail["identifier"]) == (
        item.item_id,
        item.price,
        item.identifier,
    )
    assert len([k for k in detail if k.startswith("img")]) == 160
    query = probe.base_get(generated.shops[0].id, "/1/items/detail", {"item_id": item.item_id})
    assert (query.status_code, query.json()["error"]) == (400, "no_item_id")
    other_shop = probe.item_detail(generated.shops[1].id, item.item_id)
    assert other_shop.json() == {"error": "no_item", "error_description": "商品が見つかりませんでした。"}


def test_edit_is_partial_and_updates_modified(sb, probe):
    before = sb.item("base_account_1", sb.items("base_account_1")[0]["item_id"])
    answer = probe.edit_item("base_account_1", before["item_id"], visible=0).json()["item"]
    assert answer["visible"] == 0
    assert {k: v for k, v in answer.items() if k not in ("visible", "modified")} == {
        k: v for k, v in before.items() if k not in ("visible", "modified")
    }
    assert answer["modified"] > before["modified"]
    assert answer["modified"] == int(sb.requests[-1].vt.timestamp())
    assert sb.item("base_account_1", before["item_id"]) == answer


@pytest.mark.parametrize(
    "fields",
    [
        {"price": "1200.5"},
        {"price": "-1"},
        {"price": "0"},
        {"price": "10000000"},
        {"price": ""},
        {"visible": "2"},
        {"visible": "true"},
        {"stock": "-3"},
        {"title": "😀 絵文字"},
        {"price": "1500", "visible": "5"},  # all or nothing: the valid price is not applied either
    ],
)
def test_edit_validation_errors_change_nothing(sb, probe, fields):
    item = sb.items("base_account_2")[0]
    answer = probe.edit_item("base_account_2", item["item_id"], **fields)
    assert (answer.status_code, answer.json()) == (400, VALIDATION)
    assert sb.item("base_account_2", item["item_id"]) == item


def test_deleted_or_unknown_items_answer_bad_item_id(sb, probe):
    item_id = sb.items("base_account_1")[1]["item_id"]
    sb.delete_item("base_account_1", item_id)
    assert probe.edit_item("base_account_1", item_id, price=1000).json() == BAD_ITEM_ID
    assert probe.edit_item("base_account_1", 1, price=1000).json() == BAD_ITEM_ID
    assert probe.base_post("base_account_1", "/1/items/edit", {"price": 1000}).json() == BAD_ITEM_ID
    assert sb.item("base_account_1", item_id) is None
    assert item_id not in [i["item_id"] for i in sb.items("base_account_1")]
    listed = probe.items("base_account_1", limit=100).json()["items"]
    assert item_id not in [i["item_id"] for i in listed]


def test_edit_stock_and_delete(sb, probe):
    item_id = sb.items("base_account_1")[2]["item_id"]
    answer = probe.base_post("base_account_1", "/1/items/edit_stock", {"item_id": item_id, "stock": 3})
    assert answer.json()["item"]["stock"] == 3
    missing = probe.base_post("base_account_1", "/1/items/edit_stock", {"item_id": item_id})
    assert missing.json()["error"] == "bad_params"
    deleted = probe.base_post("base_account_1", "/1/items/delete", {"item_id": item_id})
    assert deleted.json() == {"result": True}
    assert sb.item("base_account_1", item_id) is None


def test_edits_are_logged_with_shop_and_form_body(sb, probe):
    item_id = sb.items("base_account_2")[3]["item_id"]
    probe.edit_item("base_account_2", item_id, price=4321, visible=1)
    record = sb.requests[-1]
    assert (record.service, record.operation, record.shop_id, record.status) == (
        "base",
        "itemsEdit",
        "base_account_2",
        200,
    )
    assert record.body == {"item_id": str(item_id), "price": "4321", "visible": "1"}
    assert record.response["item"]["price"] == 4321
