from datetime import UTC, datetime, timedelta

import pytest

from ecauto_lib.domain import HeldChange, Observation, Outcome
from ecauto_lib.guards import merge_rechecks, sell_outs_to_recheck
from ecauto_lib.pricing import field_changes

T1 = datetime(2026, 11, 29, tzinfo=UTC)
T2 = T1 + timedelta(seconds=10)


def test_only_transitions_into_sold_out_need_confirmation():
    obs = [
        Observation("B000000001", Outcome.OUT_OF_STOCK, T1),  # was in stock → confirm
        Observation("B000000002", Outcome.FILTERED_OUT, T1),  # never seen → confirm
        Observation("B000000003", Outcome.OUT_OF_STOCK, T1),  # already out → no
        Observation("B000000004", Outcome.IN_STOCK, T1, price_yen=100),
        Observation("B000000005", Outcome.ERROR, T1),
    ]
    stored = {"B000000001": "in_stock", "B000000003": "out_of_stock", "B000000004": "out_of_stock"}
    assert sell_outs_to_recheck(obs, stored) == ["B000000001", "B000000002"]


def test_confirmation_agrees_disagrees_or_fails():
    first = [
        Observation("B000000001", Outcome.OUT_OF_STOCK, T1, reason="NoBuyableOffers"),
        Observation("B000000002", Outcome.OUT_OF_STOCK, T1, reason="NoBuyableOffers"),
        Observation("B000000003", Outcome.OUT_OF_STOCK, T1, reason="NoBuyableOffers"),
        Observation("B000000004", Outcome.IN_STOCK, T1, price_yen=500),
    ]
    second = [
        Observation("B000000001", Outcome.OUT_OF_STOCK, T2, reason="NoBuyableOffers"),
        Observation("B000000002", Outcome.IN_STOCK, T2, price_yen=900),
        Observation("B000000003", Outcome.ERROR, T2, reason="HTTP 500 InternalFailure"),
    ]
    merged = {o.asin: o for o in merge_rechecks(first, second)}
    assert merged["B000000001"].outcome is Outcome.OUT_OF_STOCK and merged["B000000001"].observed_at == T2
    assert merged["B000000002"].outcome is Outcome.IN_STOCK and merged["B000000002"].price_yen == 900
    assert merged["B000000003"].outcome is Outcome.ERROR
    assert (
        merged["B000000003"].reason
        == "sell-out re-check failed (out_of_stock, then HTTP 500 InternalFailure)"
    )
    assert merged["B000000004"] is first[3]


from ecauto_lib.guards import GuardPolicy, hold_risky_changes  # noqa: E402
from tests.frames import changes_frame  # noqa: E402


def astuple_outcome(outcome):
    return outcome.push, outcome.held, outcome.released


def test_price_moving_more_than_the_limit_is_held():
    changes = changes_frame(
        [
            ["a", "B000000001", 1, "price", 1000, 1300, "r"],  # +30%: allowed (not more than)
            ["a", "B000000002", 2, "price", 1000, 1310, "r"],  # +31%: held
            ["a", "B000000003", 3, "price", 1000, 600, "r"],  # -40%: held
            ["a", "B000000004", 4, "price", None, 99999, "r"],  # unknown old price: no basis, pushed
        ]
    )
    outcome = hold_risky_changes(changes, {"a": 100}, {})
    assert outcome.push["asin"].tolist() == ["B000000001", "B000000004"]
    assert outcome.held["reason"].tolist() == [
        "price move 31% exceeds ±30% (run with --confirm to release)",
        "price move 40% exceeds ±30% (run with --confirm to release)",
    ]
    # --confirm releases exactly the stored held changes (tests/test_floor.py: case 4)
    outcome = hold_risky_changes(changes, {"a": 100}, {}, releasable=field_changes(outcome.held, HeldChange))
    assert len(outcome.push) == 4 and outcome.held.empty and len(outcome.released) == 2


def test_circuit_breaker_holds_every_hide_of_an_account_that_would_hide_too_much():
    hides = [["a", f"B00000000{i}", i, "visible", 1, 0, "amazon out_of_stock"] for i in range(6)]
    other = [["b", f"B00000001{i}", 10 + i, "visible", 1, 0, "amazon out_of_stock"] for i in range(6)]
    cut = [["a", "B000000099", 99, "price", 1000, 900, "r"]]
    changes = changes_frame(hides + other + cut)
    push, held, _ = astuple_outcome(hold_risky_changes(changes, {"a": 10, "b": 100}, {}))
    # a: 6 of 10 (60% > 30%) → all six held; b: 6 of 100 → pushed; the price cut is not a hide
    assert sorted(held["base_item_id"]) == [0, 1, 2, 3, 4, 5]
    assert (
        held["reason"].iloc[0].startswith("circuit breaker: this run would hide 6 of 10 listings (60% > 30%)")
    )
    assert sorted(push["base_item_id"]) == [10, 11, 12, 13, 14, 15, 99]


def test_breaker_limits_per_account_and_minimum_count():
    hides = [["a", f"B00000000{i}", i, "visible", 1, 0, "r"] for i in range(4)]
    changes = changes_frame(hides)
    push, held, _ = astuple_outcome(hold_risky_changes(changes, {"a": 10}, {}))  # 40%, but 4 < 5 items
    assert held.empty
    strict = {"a": GuardPolicy(breaker_min_items=1, breaker_hide_pct=50)}
    push, held, _ = astuple_outcome(hold_risky_changes(changes, {"a": 4}, strict))
    assert len(held) == 4 and push.empty


def test_breaker_on_price_cuts():
    cuts = [["a", f"B00000000{i}", i, "price", 1000, 900, "r"] for i in range(5)]
    push, held, _ = astuple_outcome(hold_risky_changes(changes_frame(cuts), {"a": 10}, {}))
    assert len(held) == 5 and held["reason"].iloc[0].startswith(
        "circuit breaker: this run would cut the price of 5"
    )


@pytest.mark.parametrize(
    ("shop_size", "hides", "held_count"),
    [
        (5, 3, 3),  # 60 % of a 5-listing shop: held (the fixed minimum of 5 let it through)
        (5, 1, 0),  # 20 %: under the share
        (3, 2, 2),  # 67 % of 3
        (2, 1, 0),  # 50 %, but one item: the breaker needs 2
        (1, 1, 0),  # a one-listing shop: never armed (its one sell-out is hidden)
        (100, 31, 31),  # a big shop: the configured minimum (5) holds as before
    ],
)
def test_the_breaker_minimum_scales_down_to_the_shop_size(shop_size, hides, held_count):
    changes = changes_frame([["a", f"B{i:09d}", i, "visible", 1, 0, "r"] for i in range(hides)])
    _, held, _ = astuple_outcome(hold_risky_changes(changes, {"a": shop_size}, {}))
    assert len(held) == held_count


def test_the_breaker_says_when_it_cannot_trip_and_why():
    from ecauto_lib.guards import breaker_min_items, breaker_not_armed

    policy = GuardPolicy()  # 30 %, at least 5 items
    assert [breaker_min_items(policy, n) for n in (1, 2, 3, 5, 10, 17, 100)] == [2, 2, 2, 3, 5, 5, 5]
    assert breaker_not_armed(policy, 100) is None and breaker_not_armed(policy, 5) is None
    assert breaker_not_armed(policy, 1) == (
        "1 listing: the circuit breaker needs at least 2 affected items, so it cannot trip in this shop"
    )
    off = GuardPolicy(breaker_hide_pct=100, breaker_cut_pct=100)
    assert "100%" in (breaker_not_armed(off, 50) or "")
