"""The floor rule (issue #10): a public item always carries a price that covers Amazon.

floor = Amazon price × (1 + min margin %) + min margin yen. A price below it is always pushed, the
computed price never rounds under it, and an item whose right price cannot be pushed (held by a
guard, refused by the bounds) is hidden until it can be. Unit level: pricing + guards + the floor
step on frames, as the sync runs them (tests/test_flow_floor.py runs the same cases end to end).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import pandas as pd
import pytest

from ecauto_lib.config import SyncMode, SyncPolicy
from ecauto_lib.guards import GuardPolicy, hold_risky_changes
from ecauto_lib.pricing import floor_prices, item_updates, keep_above_floor, plan_changes
from tests.frames import changes_frame, held_changes, listings_frame

POLICY = SyncPolicy()  # markup 1.3, ¥10 rounding, ¥100 threshold, 5 % + ¥0 margin, ¥300..¥1,000,000


def decide(rows, mode=SyncMode.FULL, policy=POLICY, markups=None, guards=None, releasable=()):
    """plan → guards → floor, as the sync flow runs them."""
    listings = listings_frame(rows)
    plan = plan_changes(listings, policy, markups or {}, mode)
    outcome = hold_risky_changes(
        plan.changes, listings.groupby("account_id").size().to_dict(), guards or {}, releasable=releasable
    )
    plan = replace(plan, changes=outcome.push, held=outcome.held, released=outcome.released)
    return keep_above_floor(plan, listings, policy)


def fields(plan, asin):
    rows = plan.changes[plan.changes["asin"] == asin]
    return dict(zip(rows["field"], rows["new_value"].astype(int), strict=True))


def in_stock(asin, amazon, base, visible=True, **extra):
    return {
        "asin": asin,
        "stock_state": "in_stock",
        "amazon_price_yen": amazon,
        "base_price": base,
        "base_visible": visible,
        **extra,
    }


def test_floor_is_amazon_times_one_plus_margin_plus_yen_rounded_up_to_the_yen():
    amazon = pd.Series([1000, 1001, 885, 4000], dtype="Int64")
    assert floor_prices(amazon, POLICY).tolist() == [1050, 1052, 930, 4200]  # 1051.05 → 1052
    policy = SyncPolicy(min_margin_pct=Decimal("12.5"), min_margin_yen=40)
    assert floor_prices(amazon, policy).tolist() == [1165, 1167, 1036, 4540]


# -- case 1: a held or refused price does not leave the item public below the floor ----------


def test_a_held_rise_hides_the_item_with_the_reason():
    # Amazon ¥2,180 → ¥4,000: BASE ¥2,830 → ¥5,200 is +84 %, held; ¥2,830 < floor ¥4,200
    plan = decide([in_stock("B000000001", 4000, 2830)])
    assert fields(plan, "B000000001") == {"visible": 0}
    reason = plan.changes["reason"].iloc[0]
    assert reason.startswith("below floor: BASE ¥2,830 < floor ¥4,200 (amazon ¥4,000 + 5%)")
    assert "price ¥5,200 held: price move 84% exceeds ±30%" in reason
    assert plan.held[["field", "new_value"]].values.tolist() == [["price", 5200]]
    assert plan.below_floor[["asin", "action"]].values.tolist() == [["B000000001", "hidden"]]


def test_a_hidden_item_back_in_stock_is_not_published_at_the_old_price_while_its_rise_is_held():
    plan = decide([in_stock("B000000001", 4000, 2830, visible=False)])
    assert plan.changes.empty  # no "visible 非公開→公開" with the price held
    assert plan.below_floor[["asin", "action"]].values.tolist() == [["B000000001", "kept hidden"]]
    assert "price ¥5,200 held" in plan.below_floor["reason"].iloc[0]


def test_a_price_refused_by_the_bounds_hides_the_item_below_the_floor():
    policy = SyncPolicy(max_price_yen=5000)
    plan = decide([in_stock("B000000001", 4000, 2830)], policy=policy, guards={"acc1": GuardPolicy(1000)})
    assert fields(plan, "B000000001") == {"visible": 0}
    assert "price ¥5,200 refused: above the maximum price ¥5,000" in plan.changes["reason"].iloc[0]
    assert plan.flagged["asin"].tolist() == ["B000000001"]


def test_a_refused_price_keeps_an_item_public_whose_base_price_covers_the_floor():
    policy = SyncPolicy(min_price_yen=500)  # ¥300 × 1.3 = ¥390 < ¥500: refused; BASE ¥900 ≥ floor ¥315
    plan = decide([in_stock("B000000001", 300, 900)], policy=policy)
    assert plan.changes.empty and plan.below_floor.empty
    assert plan.flagged["reason"].tolist() == ["below the minimum price ¥500"]


def test_a_held_cut_keeps_the_item_public():
    plan = decide([in_stock("B000000001", 2000, 5000)])  # ¥5,000 → ¥2,600 (−48 %) held
    assert plan.changes.empty and plan.below_floor.empty
    assert plan.held[["field", "new_value"]].values.tolist() == [["price", 2600]]


def test_the_price_is_published_with_the_item_in_one_edit_and_in_every_mode():
    rows = [in_stock("B000000001", 1480, 1500, visible=False)]  # back in stock: ¥1,500 → ¥1,920
    for mode in (SyncMode.FULL, SyncMode.STOCK):
        updates = item_updates(decide(rows, mode=mode).changes)
        assert [u.fields for u in updates] == [{"price": 1920, "visible": 1}], mode


def test_stock_only_pushes_a_price_below_the_floor_and_leaves_other_prices_to_price_runs():
    rows = [
        in_stock("B000000001", 1000, 1000),  # ¥1,000 < floor ¥1,050: a loss → ¥1,300 pushed
        in_stock("B000000002", 1000, 1500),  # ¥1,500 → ¥1,300 is a price run's job
        {"asin": "B000000003", "stock_state": "out_of_stock", "base_visible": True},
    ]
    plan = decide(rows, mode=SyncMode.STOCK)
    assert fields(plan, "B000000001") == {"price": 1300}
    assert fields(plan, "B000000002") == {}
    assert fields(plan, "B000000003") == {"visible": 0}


def test_price_only_hides_an_item_whose_rise_is_held_and_publishes_nothing():
    rows = [in_stock("B000000001", 4000, 2830), in_stock("B000000002", 1480, 1920, visible=False)]
    plan = decide(rows, mode=SyncMode.PRICE)
    assert fields(plan, "B000000001") == {"visible": 0}
    assert fields(plan, "B000000002") == {}  # visibility stays a stock run's job


def test_an_unknown_base_price_whose_new_price_is_held_counts_as_below_the_floor():
    plan = decide([in_stock("B000000001", 4000, None)], policy=SyncPolicy(max_price_yen=5000))
    assert fields(plan, "B000000001") == {"visible": 0}
    assert "BASE price unknown" in plan.changes["reason"].iloc[0]


# -- case 2: the ¥100 threshold never keeps a loss --------------------------------------------


def test_a_base_price_below_the_floor_is_pushed_however_small_the_difference():
    markups = {"acc1": Decimal("1.1")}
    rows = [
        in_stock("B000000001", 885, 880),  # ¥885 × 1.1 = ¥973.5 → ¥970; BASE ¥880 < floor ¥930 (¥90 away)
        in_stock("B000000002", 885, 1000),  # ¥1,000 ≥ floor, ¥30 away: left alone as before
    ]
    plan = decide(rows, markups=markups)
    assert fields(plan, "B000000001") == {"price": 970}
    assert fields(plan, "B000000002") == {}


# -- case 3: rounding never puts a price under the floor --------------------------------------


def test_rounding_under_the_floor_raises_the_price_to_the_next_step_instead_of_refusing_it():
    markups = {"acc1": Decimal("1.05")}  # markup = the 5 % margin: rounding down crosses the floor
    plan = decide([in_stock("B000000001", 1001, 1200)], markups=markups)  # 1,051.05 → ¥1,050 < ¥1,052
    assert fields(plan, "B000000001") == {"price": 1060}
    assert plan.flagged.empty
    rows = [in_stock(f"B{n:09d}", n, 5 * n) for n in range(1000, 3000)]
    plan = decide(rows, markups=markups, guards={"acc1": GuardPolicy(1000, 100, 100)})
    prices = plan.changes.set_index("asin")["new_value"]
    floors = floor_prices(pd.Series(range(1000, 3000), dtype="Int64"), POLICY)
    assert len(prices) == 2000 and plan.flagged.empty
    assert ((prices.to_numpy() >= floors.to_numpy()) & (prices.to_numpy() % 10 == 0)).all()
    assert (prices.to_numpy() - floors.to_numpy() < 10).sum() > 900  # about half were raised


def test_a_markup_below_the_margin_is_refused_not_raised():
    plan = decide([in_stock("B000000001", 1000, 2000)], markups={"acc1": Decimal("1.02")})
    assert plan.flagged["reason"].tolist() == ["below the minimum margin (5% + ¥0 over Amazon)"]
    assert fields(plan, "B000000001") == {}  # BASE ¥2,000 covers the floor: stays public


# -- case 4: --confirm releases exactly what was held -----------------------------------------


def test_confirm_releases_the_stored_held_changes_and_holds_everything_new():
    stored = held_changes([["a", "B000000099", 99, "price", 1000, 1900, "price move 90% exceeds ±30%"]])
    move = [["a", "B000000099", 99, "price", 1000, 1900, "amazon ¥1,460 × 1.3"]]
    other_move = [["a", "B000000098", 98, "price", 1000, 1800, "amazon ¥1,380 × 1.3"]]
    hides = [["a", f"B00000000{i}", i, "visible", 1, 0, "amazon out_of_stock"] for i in range(6)]
    outcome = hold_risky_changes(changes_frame(move + other_move + hides), {"a": 10}, {}, releasable=stored)
    assert outcome.released["base_item_id"].tolist() == [99]
    assert outcome.push["base_item_id"].tolist() == [99]
    assert outcome.push["reason"].iloc[0] == "released with --confirm: amazon ¥1,460 × 1.3"
    assert sorted(outcome.held["base_item_id"]) == [0, 1, 2, 3, 4, 5, 98]  # new: held as usual


def test_confirm_does_not_release_a_held_change_the_current_amazon_price_no_longer_gives():
    stored = held_changes([["a", "B000000099", 99, "price", 1000, 1900, "held"]])
    now = changes_frame([["a", "B000000099", 99, "price", 1000, 2000, "amazon ¥1,540 × 1.3"]])
    outcome = hold_risky_changes(now, {"a": 10}, {}, releasable=stored)
    assert outcome.released.empty and outcome.push.empty
    assert outcome.held["new_value"].tolist() == [2000]


def test_without_confirm_nothing_is_released():
    changes = changes_frame([["a", "B000000099", 99, "price", 1000, 1900, "r"]])
    outcome = hold_risky_changes(changes, {"a": 10}, {})
    assert outcome.push.empty and outcome.released.empty and len(outcome.held) == 1


# -- case 6: markup arithmetic stays exact ----------------------------------------------------


@pytest.mark.parametrize("markup", ["1.3333", "9.9999", "1.0001", "10"])
def test_four_decimal_markups_price_exactly_up_to_the_largest_amazon_price(markup):
    amazon = [7, 999, 123_456, 2_147_483_647]  # the products column is a 32-bit integer
    rows = [in_stock(f"B{n:09d}", a, None) for n, a in enumerate(amazon)]
    policy = replace(POLICY, max_price_yen=10**11)
    plan = plan_changes(listings_frame(rows), policy, {"acc1": Decimal(markup)}, SyncMode.FULL)
    got = dict(zip(plan.changes["asin"], plan.changes["new_value"], strict=True))
    got.update(dict(zip(plan.flagged["asin"], plan.flagged["computed_price"], strict=True)))
    for n, a in enumerate(amazon):
        rounded = int((Decimal(a) * Decimal(markup) / 10).to_integral_value(rounding=ROUND_HALF_UP)) * 10
        floor = int((Decimal(a) * Decimal("1.05")).to_integral_value(rounding=ROUND_CEILING))
        covered = Decimal(markup) >= Decimal("1.05")  # a markup under the margin is refused, not raised
        expected = rounded if rounded >= floor or not covered else -(-floor // 10) * 10
        assert got[f"B{n:09d}"] == expected


def test_a_markup_the_arithmetic_cannot_carry_exactly_is_refused_before_pricing():
    # 1.3333333333333333 is 3333333333333333/2500000000000000: 2·p·n overflowed int64 (negative prices)
    with pytest.raises(ValueError, match="at most 4 decimal places"):
        plan_changes(
            listings_frame([in_stock("B000000001", 123_456, None)]),
            POLICY,
            {"acc1": Decimal("1.3333333333333333")},
            SyncMode.FULL,
        )


def test_floor_hides_keep_the_listings_order_with_the_otherchanges_frame():
    rows = [
        in_stock("B000000001", 4000, 2830),  # hidden by the floor
        {"asin": "B000000002", "stock_state": "out_of_stock", "base_visible": True},  # hidden: sold out
        in_stock("B000000003", 1000, 1600),  # repriced
    ]
    plan = decide(rows)
    assert plan.changes[["asin", "field"]].values.tolist() == [
        ["B000000001", "visible"],
        ["B000000002", "visible"],
        ["B000000003", "price"],
    ]
