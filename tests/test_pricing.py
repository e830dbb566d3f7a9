from decimal import Decimal

import pandas as pd
import pytest

from ecauto_lib.config import SyncMode, SyncPolicy
from ecauto_lib.pricing import item_updates, markup_ratio, plan_changes, target_prices
from tests.frames import listings_frame

POLICY = SyncPolicy()


def _one_price(amazon: int, markup: str = "1.3", unit: int = 10) -> int:
    n, d = markup_ratio(Decimal(markup))
    series = target_prices(pd.Series([amazon]), pd.Series([n]), pd.Series([d]), unit)
    return int(series.iloc[0])


@pytest.mark.parametrize(
    ("amazon", "markup", "expected"),
    [
        (1000, "1.3", 1300),
        (1234, "1.3", 1600),  # 1604.2 → 1600
        (1235, "1.3", 1610),  # 1605.5 → half-up → 1610
        (1250, "1.3", 1630),  # 1625 exactly → half-up → 1630
        (1999, "1.3", 2600),  # 2598.7 → 2600
        (3333, "1.25", 4170),  # 4166.25 → 4170
        (7, "1.3", 10),  # 9.1 → 10
        (2_000_000, "1.3", 2_600_000),
    ],
)
def test_target_price_rounds_half_up_to_ten_yen_exactly(amazon, markup, expected):
    assert _one_price(amazon, markup) == expected


def test_rounding_unit_is_configurable():
    assert _one_price(1234, "1.3", unit=1) == 1604
    assert _one_price(1234, "1.3", unit=100) == 1600
    assert _one_price(1250, "1.3", unit=50) == 1650  # 1625 → 32.5 units → 33 → 1650


def test_markup_edge_that_binary_floats_get_wrong():
    # 1.15 * 1000 = 1149.9999999999998 in binary floats; exact arithmetic gives 1150 → stays 1150.
    assert _one_price(1000, "1.15") == 1150
    # 1.005 * 1000 = 1005 exactly → half-up to 1010 (floats give 1004.9999... → 1000)
    assert _one_price(1000, "1.005") == 1010


def _plan(rows, mode=SyncMode.FULL, markups=None, policy=POLICY):
    return plan_changes(listings_frame(rows), policy, markups or {}, mode)


def test_price_pushed_only_from_100_yen_difference():
    plan = _plan(
        [
            {
                "asin": "B000000001",
                "amazon_price_yen": 1000,
                "base_price": 1201,
                "stock_state": "in_stock",
            },  # 99
            {
                "asin": "B000000002",
                "amazon_price_yen": 1000,
                "base_price": 1200,
                "stock_state": "in_stock",
            },  # 100
            {
                "asin": "B000000003",
                "amazon_price_yen": 1000,
                "base_price": 1400,
                "stock_state": "in_stock",
            },  # -100
            {
                "asin": "B000000004",
                "amazon_price_yen": 1000,
                "base_price": 1300,
                "stock_state": "in_stock",
            },  # 0
        ]
    )
    prices = plan.changes[plan.changes["field"] == "price"]
    assert prices[["asin", "old_value", "new_value"]].values.tolist() == [
        ["B000000002", 1200, 1300],
        ["B000000003", 1400, 1300],
    ]


def test_markup_per_account():
    plan = _plan(
        [
            {
                "account_id": "a",
                "asin": "B000000001",
                "amazon_price_yen": 1000,
                "base_price": 0,
                "stock_state": "in_stock",
            },
            {
                "account_id": "b",
                "asin": "B000000001",
                "amazon_price_yen": 1000,
                "base_price": 0,
                "stock_state": "in_stock",
            },
            {
                "account_id": "c",
                "asin": "B000000001",
                "amazon_price_yen": 1000,
                "base_price": 0,
                "stock_state": "in_stock",
            },
        ],
        markups={"a": Decimal("1.3"), "b": Decimal("1.5")},
    )
    assert plan.changes.set_index("account_id")["new_value"].to_dict() == {"a": 1300, "b": 1500, "c": 1300}
    assert plan.changes.set_index("account_id")["reason"].to_dict()["b"].startswith("amazon ¥1,000 × 1.5")


def test_unknown_base_price_is_pushed():
    plan = _plan(
        [{"asin": "B000000001", "amazon_price_yen": 1000, "base_price": None, "stock_state": "in_stock"}]
    )
    row = plan.changes.iloc[0]
    assert (row["field"], row["new_value"]) == ("price", 1300)
    assert pd.isna(row["old_value"])


def test_out_of_bounds_price_is_flagged_not_clamped():
    policy = SyncPolicy(min_price_yen=500, max_price_yen=100_000)
    plan = _plan(
        [
            {"asin": "B000000001", "amazon_price_yen": 100, "base_price": 900, "stock_state": "in_stock"},
            {
                "asin": "B000000002",
                "amazon_price_yen": 90_000,
                "base_price": 9_000,
                "stock_state": "in_stock",
            },
            {"asin": "B000000003", "amazon_price_yen": 1_000, "base_price": 900, "stock_state": "in_stock"},
        ],
        policy=policy,
    )
    assert plan.changes["asin"].tolist() == ["B000000003"]
    assert plan.flagged[["asin", "computed_price"]].values.tolist() == [
        ["B000000001", 130],
        ["B000000002", 117_000],
    ]
    assert plan.flagged["reason"].tolist() == [
        "below the minimum price ¥500",
        "above the maximum price ¥100,000",
    ]


def test_visibility_follows_stock_and_unknown_changes_nothing():
    plan = _plan(
        [
            {"asin": "B000000001", "stock_state": "out_of_stock", "base_visible": True},
            {"asin": "B000000002", "stock_state": "filtered_out", "base_visible": True},
            {
                "asin": "B000000003",
                "stock_state": "in_stock",
                "amazon_price_yen": 1000,
                "base_price": 1300,
                "base_visible": False,
            },
            {"asin": "B000000004", "stock_state": "unknown", "base_visible": True},
            {"asin": "B000000005", "stock_state": "unknown", "base_visible": False},
            {"asin": "B000000006", "stock_state": "out_of_stock", "base_visible": False},
            {
                "asin": "B000000007",
                "stock_state": "in_stock",
                "amazon_price_yen": 1000,
                "base_price": 1300,
                "base_visible": True,
            },
        ]
    )
    assert plan.changes[["asin", "field", "old_value", "new_value", "reason"]].values.tolist() == [
        ["B000000001", "visible", 1, 0, "amazon out_of_stock"],
        ["B000000002", "visible", 1, 0, "amazon filtered_out"],
        ["B000000003", "visible", 0, 1, "amazon back in stock"],
    ]


def test_out_of_stock_item_is_not_repriced():
    plan = _plan(
        [{"asin": "B000000001", "stock_state": "out_of_stock", "amazon_price_yen": 5000, "base_price": 100}]
    )
    assert plan.changes["field"].tolist() == ["visible"]


def test_modes_touch_only_their_field():
    rows = [
        {
            "asin": "B000000001",
            "stock_state": "in_stock",
            "amazon_price_yen": 2000,
            "base_price": 3000,
            "base_visible": True,
        },
        {"asin": "B000000002", "stock_state": "out_of_stock", "base_visible": True},
    ]
    assert set(_plan(rows, SyncMode.PRICE).changes["field"]) == {"price"}
    assert set(_plan(rows, SyncMode.STOCK).changes["field"]) == {"visible"}
    assert len(_plan(rows, SyncMode.FULL).changes) == 2
    # ... except that publishing an item goes with its price (tests/test_floor.py)
    rows[0]["base_visible"] = False
    assert set(_plan(rows, SyncMode.STOCK).changes["field"]) == {"price", "visible"}


def test_item_updates_group_fields_per_item_in_order():
    plan = _plan(
        [
            {
                "asin": "B000000001",
                "stock_state": "in_stock",
                "amazon_price_yen": 2000,
                "base_price": 1300,
                "base_visible": False,
            },
            {"asin": "B000000002", "stock_state": "out_of_stock", "base_visible": True},
        ]
    )
    updates = item_updates(plan.changes)
    assert [u.fields for u in updates] == [{"price": 2600, "visible": 1}, {"visible": 0}]
    assert updates[0].old == {"price": 1300, "visible": 0}


def test_plan_on_100k_listings_is_vectorised():
    rows = [
        {
            "account_id": f"acc{i % 3}",
            "asin": f"B0{i:08d}",
            "stock_state": "in_stock" if i % 10 else "out_of_stock",
            "amazon_price_yen": 1000 + i % 5000,
            "base_price": 1300 + (i % 7) * 60,
        }
        for i in range(100_000)
    ]
    frame = listings_frame(rows)
    plan = plan_changes(frame, POLICY, {"acc1": Decimal("1.4")}, SyncMode.FULL)
    # Spot-check one row against the scalar formula.
    r = rows[12345]
    expected = _one_price(r["amazon_price_yen"], "1.3")
    got = plan.changes[(plan.changes["asin"] == r["asin"]) & (plan.changes["field"] == "price")]
    if abs(expected - r["base_price"]) >= 100:
        assert got["new_value"].tolist() == [expected]
    else:
        assert got.empty
    assert (plan.changes["field"] == "visible").sum() == 10_000


def test_minimum_margin_guard_flags_a_price_that_would_sell_at_a_loss():
    policy = SyncPolicy(min_margin_pct=Decimal("10"), min_margin_yen=50)
    plan = _plan(
        [
            # 1.05 markup: 1050 < 1000 × 1.10 + 50 = 1150 → flagged, never pushed
            {
                "account_id": "thin",
                "asin": "B000000001",
                "amazon_price_yen": 1000,
                "base_price": 2000,
                "stock_state": "in_stock",
            },
            # 1.3 markup: 1300 ≥ 1150 → pushed
            {
                "account_id": "ok",
                "asin": "B000000002",
                "amazon_price_yen": 1000,
                "base_price": 2000,
                "stock_state": "in_stock",
            },
            # exactly on the floor: 1.15 markup → 1150 = 1150 → allowed
            {
                "account_id": "edge",
                "asin": "B000000003",
                "amazon_price_yen": 1000,
                "base_price": 2000,
                "stock_state": "in_stock",
            },
        ],
        markups={"thin": Decimal("1.05"), "ok": Decimal("1.3"), "edge": Decimal("1.15")},
        policy=policy,
    )
    assert plan.changes["asin"].tolist() == ["B000000002", "B000000003"]
    assert plan.flagged["reason"].tolist() == ["below the minimum margin (10% + ¥50 over Amazon)"]
