"""Issue #11 §2 end to end: BASE stock after a sale, against the simulator (which sells like BASE)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ecauto_sandbox import BaseItem, Scenario, variation
from flows.import_listings import import_listings
from flows.reconcile import reconcile
from flows.sync import sync
from tests.marketplace import calls, item_id_of, marketplace, rows, set_account_options

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

SHOP1, SHOP2 = "base_account_1", "base_account_2"


def edits(sb, operation: str = "itemsEdit") -> dict[tuple[str, int], list[dict]]:
    """The accepted bodies of ``operation`` per (shop, item), without item_id."""
    out: dict[tuple[str, int], list[dict]] = {}
    for r in calls(sb, operation):
        if r.status == 200:
            body = {k: v for k, v in r.body.items() if k != "item_id"}
            out.setdefault((r.shop_id, int(r.body["item_id"])), []).append(body)
    return out


def stored_stock(url: str, shop: str, item: int):
    return rows(
        url, "select base_stock from listings where account_id = :a and base_item_id = :i", a=shop, i=item
    )[0][0]


def test_a_sale_is_topped_up_in_the_same_edit_as_the_price_and_no_other_stock_is_touched(tmp_path, db_url):
    with marketplace(tmp_path, db_url) as sb:
        kettle = item_id_of(sb, SHOP1, "B0FGQJ45HW")  # due a price change ¥4,680 → ¥5,170
        batteries = item_id_of(sb, SHOP1, "B06Y69FKT2")  # sold out on Amazon: to be hidden
        sb.sell(SHOP1, kettle)
        sb.sell(SHOP1, batteries)
        assert import_listings(source="base")["inserted"] == 11
        assert stored_stock(db_url, SHOP1, kettle) == 0  # import records BASE's stock
        sb.clear_requests()
        result = sync()
        sent = edits(sb)
        assert sent[(SHOP1, kettle)] == [{"price": "5170", "stock": "1"}]  # one items/edit
        assert sent[(SHOP1, batteries)] == [{"visible": "0"}]  # hidden, stock left at 0
        assert sb.item(SHOP1, batteries)["stock"] == 0
        assert [
            k for k, bodies in sent.items() if k != (SHOP1, kettle) and any("stock" in b for b in bodies)
        ] == []
        assert result["accounts"][SHOP1]["restocked"] == 1 and result["restocked"] == 1
        assert "在庫補充" in result["report"]
        assert stored_stock(db_url, SHOP1, kettle) == 1
        assert rows(
            db_url, "select field, old_value, new_value from change_history where field = 'stock'"
        ) == [("stock", 0, 1)]


def test_reconcile_sees_a_sale_and_stock_only_tops_up_to_the_shop_quantity_dry_run_first(
    tmp_path, sqlite_url
):
    with marketplace(tmp_path, sqlite_url) as sb:
        set_account_options({SHOP2: {"stock_quantity": 3}})
        import_listings(source="base")
        sync()
        ice = item_id_of(sb, SHOP2, "B09YY6NZ7N")
        sb.sell(SHOP2, ice)
        assert reconcile()["exit_code"] == 1  # drift: BASE shows stock 0, repaired in the DB
        assert stored_stock(sqlite_url, SHOP2, ice) == 0
        sb.clear_requests()
        dry = sync(mode="stock", dry_run=True)
        assert not calls(sb, "itemsEdit") and dry["accounts"][SHOP2]["restocks"] == 1
        assert "restocked to 3" in dry["report"] and "予定 (planned, dry run)" in dry["report"]
        result = sync(mode="stock")
        assert edits(sb)[(SHOP2, ice)] == [{"stock": "3"}]
        assert sb.item(SHOP2, ice)["stock"] == 3 and result["accounts"][SHOP2]["restocked"] == 1


def test_every_push_records_the_stock_base_answers_with(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url) as sb:
        import_listings(source="base")
        fan = item_id_of(sb, SHOP1, "B08HXN835J")  # due a price cut
        sb.sell(SHOP1, fan)  # after the import: the DB still says 1
        sync()
        assert edits(sb)[(SHOP1, fan)] == [{"price": "7770"}]
        assert stored_stock(sqlite_url, SHOP1, fan) == 0  # from items/edit's answer
        sb.clear_requests()
        sync(mode="stock")
        assert edits(sb)[(SHOP1, fan)] == [{"stock": "1"}]


def _variation_scenario() -> Scenario:
    scenario = Scenario.demo()
    model = scenario.products["B07YV55TNL"]
    for asin in ("B0VARIANT1", "B0VARIANT2"):
        scenario.products[asin] = replace(model, asin=asin, offers=[replace(o) for o in model.offers])
    scenario.shops[0].items.append(
        BaseItem(
            item_id=555000111,
            title="サーモス タンブラー カラー選択",
            price=2830,
            identifier="B0VARIANT1",
            asin="B0VARIANT1",
            list_order=6,
            variations=[
                variation(501, "赤", 1, "v-B0VARIANT1-red"),  # the item's own ASIN
                variation(502, "青", 1, None),  # no ASIN: cannot be known
                variation(503, "緑", 1, "B0VARIANT2"),  # another ASIN, listed in shop 2
                variation(504, "黒", 2, "B0VARIANT1"),  # has stock
            ],
        )
    )
    scenario.shops[1].items.append(
        BaseItem(
            item_id=555000222, title="サーモス 緑", price=2830, identifier="B0VARIANT2", asin="B0VARIANT2"
        )
    )
    return scenario


def test_variations_are_topped_up_one_by_one_through_edit_stock_or_skipped_with_a_line(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url, _variation_scenario()) as sb:
        item = 555000111
        for vid in (501, 502, 503):
            sb.sell(SHOP1, item, variation_id=vid)
        assert sb.item(SHOP1, item)["stock"] == 2  # BASE's item stock is the variations' sum
        import_listings(source="base")
        sb.clear_requests()
        result = sync()
        assert (SHOP1, item) not in edits(sb)  # the item's own stock is never set directly
        assert sorted(
            b["variation_id"] + ":" + b["variation_stock"] for b in edits(sb, "itemsEditStock")[(SHOP1, item)]
        ) == [
            "501:1",
            "503:1",
        ]
        stocks = {v["variation_id"]: v["variation_stock"] for v in sb.item(SHOP1, item)["variations"]}
        assert stocks == {501: 1, 502: 0, 503: 1, 504: 2}
        assert "variation 502 (青): no ASIN in its variation_identifier (None)" in result["report"]
        assert result["stock_skipped"] == 1 and result["accounts"][SHOP1]["restocked"] == 2
        assert stored_stock(sqlite_url, SHOP1, item) == 4  # from edit_stock's answer
        history = rows(
            sqlite_url, "select variation_id, new_value from change_history where field = 'stock' order by 1"
        )
        assert history == [(501, 1), (503, 1)]
        sb.clear_requests()
        assert sync()["changes"] == 0 and not calls(sb, "itemsEditStock")  # nothing left to do
