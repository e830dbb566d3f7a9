"""The simulator's changing market: seeded plans, the models' rates, and events applied on the virtual clock."""

from __future__ import annotations

import pytest

from ecauto_lib.domain import Outcome
from ecauto_sandbox import Sandbox, Scenario, VirtualClock
from ecauto_sandbox.market import (
    PRICE,
    RESTOCK,
    SELL_OUT,
    MarketEvent,
    MarketModel,
    MarketPlan,
    MarketRunner,
    plan_market,
    prepare,
)
from ecauto_sandbox.scenario import round_half_up


def scenario(n: int = 400) -> Scenario:
    return Scenario.generate(n, 2, seed=3, out_of_stock_share=0.0, filtered_share=0.0, mispriced_share=0.0)


def test_the_same_seed_plans_the_same_market_and_another_seed_another():
    base = scenario(200)
    first = plan_market(base, MarketModel.heterogeneous(), hours=24, seed=5)
    again = plan_market(base, MarketModel.heterogeneous(), hours=24, seed=5)
    other = plan_market(base, MarketModel.heterogeneous(), hours=24, seed=6)
    assert first.events == again.events and first.initial == again.initial
    assert first.events != other.events
    assert all(a.at <= b.at for a, b in zip(first.events, first.events[1:], strict=False))
    assert all(0 <= e.at < 24 * 3600 for e in first.events)


def test_each_asins_history_alternates_sell_outs_and_restocks_and_moves_price_only_in_stock():
    plan = plan_market(scenario(300), MarketModel.heterogeneous(), hours=48, seed=1)
    for asin, start in plan.initial.items():
        in_stock = start.in_stock
        reference = start.amazon_yen
        for event in (e for e in plan.events if e.asin == asin):
            if event.kind == SELL_OUT:
                assert in_stock
                in_stock = False
            elif event.kind == RESTOCK:
                assert not in_stock
                in_stock = True
            else:
                assert in_stock and event.listing_yen is not None
        assert reference is not None


def test_volatile_asins_change_far_more_often_and_the_uniform_market_keeps_the_mean_rates():
    model = MarketModel.heterogeneous()
    uniform = MarketModel.uniform(model)
    (every,) = uniform.classes
    for rate in ("sell_out_per_hour", "restock_per_hour", "price_moves_per_hour"):
        assert getattr(every, rate) == pytest.approx(sum(c.share * getattr(c, rate) for c in model.classes))
    plan = plan_market(scenario(2000), model, hours=24, seed=2)
    volatile = {a for a, s in plan.initial.items() if s.volatility == "volatile"}
    assert 0.12 < len(volatile) / len(plan.initial) < 0.18  # 15 % drawn
    per_asin = {"volatile": 0, "calm": 0}
    for event in plan.events:
        per_asin["volatile" if event.asin in volatile else "calm"] += 1
    rate_volatile = per_asin["volatile"] / len(volatile)
    rate_calm = per_asin["calm"] / (len(plan.initial) - len(volatile))
    assert rate_volatile > 10 * rate_calm
    # the start is drawn from each class's stationary share
    out = sum(1 for s in plan.initial.values() if not s.in_stock) / len(plan.initial)
    expected = sum(c.share * c.out_of_stock_share for c in model.classes)
    assert abs(out - expected) < 0.02


def test_prices_stay_in_the_band_around_the_reference_and_every_move_moves():
    model = MarketModel.heterogeneous()
    plan = plan_market(scenario(300), model, hours=72, seed=4)
    reference = {}
    base = scenario(300)
    for asin in plan.initial:
        product = base.products[asin]
        reference[asin] = (product.chosen_offer() or product.new_offers()[0]).listing_yen
    last = dict(reference)
    for event in (e for e in plan.events if e.kind == PRICE):
        ref = reference[event.asin]
        assert ref * (1 - model.price_band) - 1 <= event.listing_yen <= ref * (1 + model.price_band) + 1
        assert abs(event.listing_yen - last[event.asin]) >= ref * model.min_move - 1
        last[event.asin] = event.listing_yen


def test_prepare_puts_base_in_step_with_the_markets_start():
    base = scenario(200)
    plan = plan_market(base, MarketModel.heterogeneous(), hours=1, seed=9)
    ready = prepare(base, plan)
    assert all(p.offers for p in base.products.values())  # the original is untouched
    assert any(not s.in_stock for s in plan.initial.values())
    for shop in ready.shops:
        for item in shop.items:
            start = plan.initial[item.asin]
            expected = ready.products[item.asin].expected()
            assert item.visible == (1 if start.in_stock else 0)
            assert (expected.outcome is Outcome.IN_STOCK) == start.in_stock
            assert item.price == round_half_up(start.amazon_yen, 130, 100)


def test_the_runner_applies_due_events_and_records_what_amazon_then_shows():
    fake = [0.0]
    clock = VirtualClock(10.0, monotonic=lambda: fake[0])
    base = scenario(20)
    asin = sorted(base.products)[0]
    listing = base.products[asin].chosen_offer().listing_yen
    plan = MarketPlan(
        MarketModel.heterogeneous(),
        0,
        1.0,
        {asin: plan_market(base, MarketModel.heterogeneous(), 1.0).initial[asin]},
        (
            MarketEvent(100.0, asin, PRICE, listing_yen=listing + 500),
            MarketEvent(200.0, asin, SELL_OUT),
            MarketEvent(300.0, asin, RESTOCK),
        ),
    )
    with Sandbox(base, clock=clock) as sb:
        runner = MarketRunner(sb.state, plan).start(thread=False)
        assert runner.apply_due() == 0
        fake[0] = 15.0  # 150 virtual seconds
        assert runner.apply_due() == 1
        assert sb.product(asin).expected().price_yen == runner.truth.events[0].amazon_yen
        assert runner.truth.events[0].at == pytest.approx(150.0)  # when it took effect
        assert runner.truth.late_seconds_max == pytest.approx(50.0)
        fake[0] = 40.0
        assert runner.apply_due() == 2
        assert [e.kind for e in runner.truth.events] == [PRICE, SELL_OUT, RESTOCK]
        assert runner.truth.events[1].amazon_yen is None
        assert runner.truth.events[2].amazon_yen == runner.truth.events[0].amazon_yen  # back at its price
        timeline = runner.truth.timeline(asin)
        assert [(in_stock, yen) for _, in_stock, yen in timeline][1:] == [
            (True, runner.truth.events[0].amazon_yen),
            (False, runner.truth.events[0].amazon_yen),
            (True, runner.truth.events[0].amazon_yen),
        ]


def test_drain_requests_hands_over_the_log_once():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        from ecauto_sandbox.probe import SandboxProbe

        probe = SandboxProbe(sb)
        probe.base_token(sb.shops[0].id)
        first = sb.drain_requests()
        assert [r.operation for r in first] == ["baseToken"]
        assert sb.drain_requests() == [] and sb.requests == []
