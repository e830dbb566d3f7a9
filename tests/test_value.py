"""Refresh value (ecauto_lib.value): which ASIN gains most from its next offers call."""

from __future__ import annotations

import pytest

from ecauto_lib.value import (
    FAIRNESS,
    NEVER_FETCHED,
    VALUE,
    ChangeRates,
    RefreshCandidate,
    learned_rate,
    refresh_order,
)

CALM = ChangeRates(sell_out=0.004, price_move=0.01, restock=0.08)
VOLATILE = ChangeRates(sell_out=0.08, price_move=0.25, restock=0.5)
MAX_AGE = 3.0


def candidate(asin: str, age: float | None = 0.5, **kw) -> RefreshCandidate:
    defaults = {"public_listings": 1, "hidden_listings": 0, "rates": CALM, "price_headroom": 0.25}
    return RefreshCandidate(asin, age, **{**defaults, **kw})


def order(*candidates: RefreshCandidate) -> list[str]:
    return [r.asin for r in refresh_order(list(candidates), max_age_hours=MAX_AGE)]


def test_a_volatile_asin_listed_in_two_shops_outranks_a_calm_one():
    assert order(
        candidate("CALM000001", age=1.5),
        candidate("VOLAT00001", age=0.5, public_listings=2, rates=VOLATILE),
    ) == ["VOLAT00001", "CALM000001"]


def test_a_public_items_sell_out_risk_outranks_a_price_only_risk():
    # Same change probabilities: the public listing's risk is being public while sold out; the
    # hidden one's is only a missed restock, the low-headroom one's a price below cost.
    same = ChangeRates(sell_out=0.1, price_move=0.1, restock=0.1)
    public = candidate("PUBLIC0001", rates=same, price_headroom=0.5)
    price_only = candidate(
        "PRICE00001", rates=ChangeRates(sell_out=0.0, price_move=0.1, restock=0.0), price_headroom=0.0
    )
    assert order(price_only, public) == ["PUBLIC0001", "PRICE00001"]
    (first, second) = refresh_order([price_only, public], max_age_hours=MAX_AGE)
    assert "sell-out" in first.reason and "below cost" in second.reason


def test_the_fairness_floor_forces_an_old_calm_asin_to_the_front():
    refreshes = refresh_order(
        [
            candidate("VOLAT00001", age=1.0, public_listings=2, rates=VOLATILE),
            candidate("OLDCALM001", age=3.0, public_listings=0, hidden_listings=1),
            candidate("NEVER00001", age=None),
        ],
        max_age_hours=MAX_AGE,
    )
    assert [r.asin for r in refreshes] == ["NEVER00001", "OLDCALM001", "VOLAT00001"]
    assert [r.tier for r in refreshes] == [NEVER_FETCHED, FAIRNESS, VALUE]
    assert "older than 3 h" in refreshes[1].reason and refreshes[0].reason == "never fetched"


def test_uniform_rates_degrade_to_age_order():
    ages = [0.2, 1.7, 0.9, 2.4, 1.1]
    ranked = order(*(candidate(f"B{i:09d}", age=a) for i, a in enumerate(ages)))
    assert ranked == [f"B{i:09d}" for i, _ in sorted(enumerate(ages), key=lambda p: -p[1])]


def test_a_listing_in_more_shops_is_worth_more():
    assert order(candidate("ONESHOP001"), candidate("TWOSHOP001", public_listings=2)) == [
        "TWOSHOP001",
        "ONESHOP001",
    ]


def test_learned_rates_shrink_to_the_prior_and_follow_the_asins_own_history():
    assert learned_rate(0, 0.0, prior_rate=0.02) == pytest.approx(0.02)
    assert learned_rate(0, 24.0, prior_rate=0.02) < 0.02 < learned_rate(2, 24.0, prior_rate=0.02)
    assert learned_rate(10, 10_000.0, prior_rate=0.02) == pytest.approx(10.0 / 10_000.0, rel=0.05)
    with pytest.raises(ValueError):
        learned_rate(-1, 1.0, prior_rate=0.1)
