"""BASE stock after a sale (issue #11 §2): top-ups planned, pushed, imported and reconciled."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ecauto_lib.config import SyncMode, SyncPolicy, load_settings
from ecauto_lib.domain import ItemStock, ItemUpdate, Variation
from ecauto_lib.errors import ConfigError
from ecauto_lib.listings_import import listings_from_base_items
from ecauto_lib.pricing import item_updates, plan_changes
from ecauto_lib.push import push_updates, push_variation_stock
from ecauto_lib.reconcile import find_drift
from ecauto_lib.stock import item_stock, plan_stock
from tests.frames import listings_frame

POLICY = SyncPolicy()
AT = datetime(2026, 12, 1, tzinfo=UTC)
A1, A2, A3 = "B0STOCK001", "B0STOCK002", "B0STOCK003"


def planned(rows, mode=SyncMode.FULL, quantities=None, variations=None, states=None):
    listings = listings_frame(rows)
    plan = plan_changes(listings, POLICY, {}, mode)
    return plan_stock(plan, listings, quantities or {}, variations or {}, states or {}, mode)


def fields_of(plan, asin):
    rows = plan.changes[plan.changes["asin"] == asin]
    return dict(zip(rows["field"], rows["new_value"].astype(int), strict=True))


def listing(asin, state="in_stock", stock=0, **extra):
    return {
        "asin": asin,
        "stock_state": state,
        "amazon_price_yen": 1000 if state == "in_stock" else None,
        "base_price": 1300,
        "base_visible": True,
        "base_stock": stock,
        **extra,
    }


def test_amazon_in_stock_and_base_stock_zero_tops_up_to_the_shop_quantity_in_the_same_edit():
    rows = [
        listing(A1, base_price=1000),  # a price change too: one edit with both
        listing(A2, account_id="acc2"),
    ]
    plan = planned(rows, quantities={"acc2": 3})
    assert fields_of(plan, A1) == {"price": 1300, "stock": 1}  # default quantity 1
    assert fields_of(plan, A2) == {"stock": 3}
    assert [u.fields for u in item_updates(plan.changes)] == [{"price": 1300, "stock": 1}, {"stock": 3}]
    reason = plan.changes.set_index("asin").loc[A2, "reason"]
    assert reason == "BASE stock 0 (sold on BASE), amazon in stock: restocked to 3"


def test_stock_is_never_touched_when_the_item_has_stock_or_its_stock_is_unknown():
    plan = planned([listing(A1, stock=2), listing(A2, stock=None)])
    assert fields_of(plan, A1) == {} and fields_of(plan, A2) == {}


def test_stock_zero_and_amazon_out_of_stock_hides_and_leaves_the_stock():
    plan = planned([listing(A1, state="out_of_stock"), listing(A2, state="unknown")])
    assert fields_of(plan, A1) == {"visible": 0}
    assert fields_of(plan, A2) == {}


def test_top_ups_in_full_and_stock_only_runs_not_in_price_only_runs():
    rows = [listing(A1)]
    assert fields_of(planned(rows, SyncMode.STOCK), A1) == {"stock": 1}
    assert fields_of(planned(rows, SyncMode.PRICE), A1) == {}


def test_variations_are_topped_up_one_by_one_or_skipped_with_a_reason():
    variations = {
        ("acc1", 1000): (
            Variation(11, 0, f"v-{A1}", "赤"),  # the item's own ASIN, in stock → topped up
            Variation(12, 0, None, "青"),  # no ASIN → skipped
            Variation(13, 2, A3, "緑"),  # has stock → untouched
            Variation(14, 0, A2, "黒"),  # another ASIN the DB tracks, in stock → topped up
            Variation(15, 0, "B0NOTTRACK", "白"),  # an ASIN the DB does not track → skipped
            Variation(16, 0, A3, "灰"),  # tracked, out of stock → left at 0
        )
    }
    states = {A2: "in_stock", A3: "out_of_stock"}
    plan = planned([listing(A1, stock=2)], quantities={"acc1": 2}, variations=variations, states=states)
    assert fields_of(plan, A1) == {}  # the item's own stock is the variations' sum: never set directly
    assert [(t.variation_id, t.old_stock, t.new_stock) for t in plan.variation_stock] == [
        (11, 0, 2),
        (14, 0, 2),
    ]
    assert plan.variation_stock[1].asin == A2
    assert [(s.variation_id, s.reason) for s in plan.stock_skipped] == [
        (12, "variation 12 (青): no ASIN in its variation_identifier (None): stock not topped up"),
        (
            15,
            "variation 15 (白): Amazon state of B0NOTTRACK unknown (not listed as an item): stock not topped up",
        ),
    ]


def test_the_shop_stock_quantity_is_read_and_validated(tmp_path):
    base = {
        "id": "shop1",
        "name": "n",
        "client_id": "c",
        "client_secret": "s",
        "redirect_uri": "https://x.invalid/cb",
        "refresh_token": "r",
    }
    env = {
        "SP_API_REFRESH_TOKEN": "Atzr|x",
        "LWA_APP_ID": "app",
        "LWA_CLIENT_SECRET": "s",
        "ECAUTO_ACCOUNTS_FILE": str(tmp_path / "accounts.json"),
    }
    (tmp_path / "accounts.json").write_text(
        json.dumps({"accounts": [base, {**base, "id": "shop2", "stock_quantity": 5}]})
    )
    shop1, shop2 = load_settings(env, dotenv_path=None).accounts
    assert (shop1.stock_quantity, shop2.stock_quantity) == (1, 5)
    for bad in (0, -1, 1.5, "many", True, 10**7):
        (tmp_path / "accounts.json").write_text(json.dumps({"accounts": [{**base, "stock_quantity": bad}]}))
        with pytest.raises(ConfigError) as err:
            load_settings(env, dotenv_path=None)
        assert err.value.setting.endswith("accounts[0].stock_quantity")
        assert err.value.problem.startswith("shop 'shop1': ")


def test_item_stock_reads_stock_and_variations_from_a_base_item():
    item = {
        "item_id": 7,
        "stock": 3,
        "variations": [
            {"variation_id": 71, "variation": "S", "variation_stock": 0, "variation_identifier": A1},
            {"variation_id": 72, "variation": "M", "variation_stock": 3, "variation_identifier": None},
        ],
    }
    assert item_stock(item) == ItemStock(3, (Variation(71, 0, A1, "S"), Variation(72, 3, None, "M")))
    assert item_stock({"item_id": 8, "stock": 0, "variations": []}) == ItemStock(0, ())
    assert item_stock({"item_id": 9}) == ItemStock(None, ())


# -- push -------------------------------------------------------------------------------------


class FakeShop:
    def __init__(self, stock=0, errors=None):
        self.calls, self.edits, self.stock_edits = 0, [], []
        self.stock, self.errors = stock, errors or {}

    def edit_item(self, item_id, *, price=None, visible=None, **fields):
        self.calls += 1
        self.edits.append((item_id, price, visible, fields))
        return {"item_id": item_id, "stock": fields.get("stock", self.stock), "variations": []}

    def edit_stock(self, item_id, *, stock=None, variation_id=None, variation_stock=None):
        self.calls += 1
        if variation_id in self.errors:
            raise self.errors[variation_id]
        self.stock_edits.append((item_id, variation_id, variation_stock))
        return {
            "item_id": item_id,
            "stock": variation_stock + 4,
            "variations": [
                {"variation_id": variation_id, "variation": "S", "variation_stock": variation_stock},
                {"variation_id": 99, "variation": "M", "variation_stock": 4},
            ],
        }

    def item_detail(self, item_id):
        return {"item_id": item_id}


def _update(item_id, **fields):
    return ItemUpdate("a", A1, item_id, fields, dict.fromkeys(fields, 0), dict.fromkeys(fields, "why"))


def test_an_item_top_up_goes_in_its_items_edit_and_the_answer_s_stock_is_recorded():
    shop = FakeShop(stock=5)
    pushed = []
    result = push_updates(
        "a",
        [_update(1, price=1300, stock=1), _update(2, price=990)],
        shop,
        call_budget=100,
        on_pushed=lambda token, changes: pushed.extend(changes),
        on_delisted=lambda *a: None,
        clock=lambda: AT,
    )
    assert shop.edits == [(1, 1300, None, {"stock": 1}), (2, 990, None, {})]
    assert [(c.field, c.new_value) for c in pushed] == [("price", 1300), ("stock", 1), ("price", 990)]
    assert result.seen_stock == {1: ItemStock(1, ()), 2: ItemStock(5, ())}  # BASE's stock after each edit


def test_variation_top_ups_go_through_edit_stock_with_the_variation_id():
    from ecauto_lib.base.client import BaseValidationError
    from ecauto_lib.domain import StockTopUp

    shop = FakeShop(errors={13: BaseValidationError("bad", service="base", code="bad_variation_id")})
    topups = [
        StockTopUp("a", A1, 1, 11, 0, 2, "why"),
        StockTopUp("a", A1, 1, 13, 0, 2, "why"),
        StockTopUp("a", A2, 2, 21, 0, 2, "why"),
    ]
    pushed = []
    result = push_variation_stock("a", topups, shop, call_budget=2, on_pushed=pushed.extend, clock=lambda: AT)
    assert shop.stock_edits == [(1, 11, 2)]  # 13 refused; the budget of 2 calls stops before 21
    assert [(c.field, c.variation_id, c.new_value) for c in pushed] == [("stock", 11, 2)]
    assert [f.error for f in result.failed] == ["bad_variation_id"]
    assert [d.variation_id for d in result.deferred_stock] == [21]
    assert result.seen_stock[1] == ItemStock(6, (Variation(11, 2, None, "S"), Variation(99, 4, None, "M")))


# -- import and reconcile ---------------------------------------------------------------------


def test_import_records_base_stock_and_variations():
    items = [
        {"item_id": 1, "identifier": A1, "price": 1300, "visible": 1, "stock": 0, "variations": []},
        {
            "item_id": 2,
            "identifier": A2,
            "price": 990,
            "visible": 1,
            "stock": 2,
            "variations": [
                {"variation_id": 5, "variation": "S", "variation_stock": 2, "variation_identifier": A2}
            ],
        },
    ]
    rows = listings_from_base_items("a", items).rows
    assert [(r.base_stock, r.base_variations) for r in rows] == [(0, ()), (2, (Variation(5, 2, A2, "S"),))]


def test_reconcile_repairs_the_stored_stock():
    frame = listings_frame([{"asin": A1, "base_price": 1300, "base_visible": True, "base_stock": 1}])
    drift = find_drift("acc1", frame, [{"item_id": 1000, "price": 1300, "visible": 1, "stock": 0}], AT, None)
    assert [(c.field, c.old_value, c.new_value) for c in drift.corrections] == [("stock", 1, 0)]


def test_top_ups_do_not_change_pricing_results():
    rows = [listing(A1, base_price=1000, stock=0)]
    listings = listings_frame(rows)
    before = plan_changes(listings, POLICY, {"acc1": Decimal("1.3")}, SyncMode.FULL)
    after = plan_stock(before, listings, {}, {}, {}, SyncMode.FULL)
    prices = after.changes[after.changes["field"].eq("price")].reset_index(drop=True)
    assert prices.equals(before.changes[before.changes["field"].eq("price")].reset_index(drop=True))
    assert after.changes["field"].tolist() == ["price", "stock"]
