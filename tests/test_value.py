"""Refresh value (ecauto_lib.value): which ASIN gains most from its next offers call."""

from __future__ import annotations

import math

import pytest

from ecauto_lib.value import (
    FAIRNESS,
    NEVER_FETCHED,
    PRIOR_WEIGHT_HOURS,
    VALUE,
    ChangeRates,
    RefreshCandidate,
    changed,
    learned_rate,
    prior_weight_hours,
    refresh_order,
    time_wrong,
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


def test_a_second_shop_shortens_the_refresh_interval_by_root_two_not_by_half():
    # The square-root law: the harm of a stale answer is the time it may have been wrong, which
    # grows with age²; so the best interval is ∝ 1/√(listings × rate). A two-shop ASIN is due
    # at 1/√2 ≈ 0.71 of a one-shop one's age: at 0.6 h it waits behind a one-shop ASIN of 1.0 h
    # (ranking by P(changed) put it first: 2 × 0.6 > 1.0), at 0.75 h it goes first.
    one_shop = candidate("ONESHOP001", age=1.0)
    assert order(candidate("TWOSHOP001", age=0.6, public_listings=2), one_shop)[0] == "ONESHOP001"
    assert order(candidate("TWOSHOP001", age=0.75, public_listings=2), one_shop)[0] == "TWOSHOP001"


def test_a_volatile_asin_is_due_at_the_square_root_of_its_rate_ratio():
    # 20 × the sell-out rate of a calm ASIN: due at about 1/√20 ≈ 0.22 of the calm one's age.
    calm = ChangeRates(sell_out=0.004, price_move=0.0, restock=0.0)
    volatile = ChangeRates(sell_out=0.08, price_move=0.0, restock=0.0)
    old_calm = candidate("CALM000001", age=2.0, rates=calm)
    assert order(candidate("VOLAT00001", age=0.35, rates=volatile), old_calm)[0] == "CALM000001"
    assert order(candidate("VOLAT00001", age=0.55, rates=volatile), old_calm)[0] == "VOLAT00001"


def test_time_wrong_is_the_integral_of_p_changed():
    assert time_wrong(0.0, 5.0) == 0.0 and time_wrong(0.3, 0.0) == 0.0
    assert time_wrong(1e-9, 2.0) == pytest.approx(1e-9 * 2.0**2 / 2, rel=1e-6)  # λa²/2 while rare
    assert time_wrong(0.01, 1.0) == pytest.approx(0.01 / 2, rel=0.01)
    assert time_wrong(5.0, 10.0) == pytest.approx(10.0 - 1 / 5.0)  # a sure change: age − 1/rate
    steps = 100_000
    riemann = sum(changed(0.4, (i + 0.5) * 3.0 / steps) for i in range(steps)) * 3.0 / steps
    assert time_wrong(0.4, 3.0) == pytest.approx(riemann, rel=1e-6)


def test_the_prior_weighs_as_much_as_the_asins_histories_differ_by_more_than_chance():
    import random

    rng = random.Random(7)

    def poisson(mean: float) -> int:  # Knuth's method: small means only
        limit, k, p = math.exp(-mean), 0, rng.random()
        while p > limit:
            k, p = k + 1, p * rng.random()
        return k

    hours = [26.0] * 10_000
    # Every ASIN at the same rate: differences are chance, so the mean rules (age order).
    same = [poisson(0.0154 * 26) for _ in hours]
    assert prior_weight_hours(same, hours) >= 1_000
    # 15 % at 0.08/h, the rest at 0.004/h: rates differ by a variance of about 0.00074 (h⁻²), so
    # the prior is worth about mean / variance ≈ 21 hours of an ASIN's own history.
    mixed = [poisson((0.08 if rng.random() < 0.15 else 0.004) * 26) for _ in hours]
    assert 12 <= prior_weight_hours(mixed, hours) <= 35
    # No history, no events: the default weight.
    assert prior_weight_hours([], []) == PRIOR_WEIGHT_HOURS
    assert prior_weight_hours([0, 0], [5.0, 5.0]) == PRIOR_WEIGHT_HOURS
