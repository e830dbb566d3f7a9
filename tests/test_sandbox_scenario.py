"""Scenarios (generated and demo) and changing the world while the sandbox runs."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from ecauto_lib.asin import asin_in_identifier, is_asin
from ecauto_lib.domain import Outcome, PriceSource
from ecauto_sandbox import DEMO_PLAN, Sandbox, SandboxError, Scenario
from ecauto_sandbox.probe import SandboxProbe
from ecauto_sandbox.scenario import round_half_up


def target_price(amazon_yen: int) -> int:
    """× 1.3 rounded half-up to ¥10, in integers (the pipeline's default policy)."""
    return (amazon_yen * 13 + 50) // 100 * 10


def test_generate_is_deterministic_under_a_seed():
    a, b = Scenario.generate(300, 3, seed=11), Scenario.generate(300, 3, seed=11)
    assert a == b
    assert Scenario.generate(300, 3, seed=12).listed_asins() != a.listed_asins()


def test_generated_scenario_honours_its_parameters():
    n = 2000
    scenario = Scenario.generate(
        n,
        3,
        seed=5,
        overlap=0.2,
        out_of_stock_share=0.1,
        filtered_share=0.05,
        too_soon_share=0.02,
        invalid_share=0.01,
    )
    asins = scenario.listed_asins()
    assert len(asins) == n and all(is_asin(a) and a.startswith("B0") for a in asins)
    outcomes = Counter(scenario.expected(a).outcome for a in asins)
    assert outcomes[Outcome.OUT_OF_STOCK] == 200
    assert outcomes[Outcome.FILTERED_OUT] == 100
    assert outcomes[Outcome.ERROR] == 40 + 20  # too soon + unknown to Amazon
    assert len(scenario.products) == n - 20
    listings = Counter(asin for _, asin, _ in scenario.listings())
    assert 0.15 < sum(1 for c in listings.values() if c > 1) / n < 0.25
    assert [s.id for s in scenario.shops] == ["base_account_1", "base_account_2", "base_account_3"]
    assert all(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", s.name) for s in scenario.shops)

    item_ids = [item_id for _, _, item_id in scenario.listings()]
    assert len(set(item_ids)) == len(item_ids) and all(10_000_000 <= i < 1_000_000_000 for i in item_ids)
    identifiers = [i.identifier for s in scenario.shops for i in s.items]
    assert all(
        i == a or re.fullmatch(rf"b-{a}-\d{{14}}", i)
        for i, a in ((i, asin_in_identifier(i)) for i in identifiers)
    )
    assert 0.3 < sum(1 for i in identifiers if i.startswith("b-")) / len(identifiers) < 0.7

    for product in scenario.products.values():
        offers = product.offers or product.stashed_offers
        assert 1 <= len(offers) <= 6
        assert all(isinstance(o.listing_yen, int) and 100 <= o.listing_yen <= 40_000 for o in offers)
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", product.title)


def test_generated_base_prices_are_mostly_in_line_with_some_work_to_do():
    scenario = Scenario.generate(1000, 2, seed=2)
    in_line = off = 0
    for shop in scenario.shops:
        for item in shop.items:
            expected = scenario.expected(item.asin)
            if expected.outcome is Outcome.IN_STOCK:
                assert item.price % 10 == 0
                if item.price == target_price(expected.price_yen):
                    in_line += 1
                else:
                    assert abs(item.price - target_price(expected.price_yen)) >= 150 or item.price == 300
                    off += 1
    assert 0.1 < off / (in_line + off) < 0.3


def test_filtered_products_have_no_new_offer_within_72_hours_and_others_do():
    scenario = Scenario.generate(1000, 2, seed=9, filtered_share=0.1)
    for product in scenario.products.values():
        new_in_time = [o for o in product.new_offers() if o.ships_within(72)]
        if scenario.expected(product.asin).outcome is Outcome.FILTERED_OUT:
            assert product.new_offers() and not new_in_time
        elif scenario.expected(product.asin).outcome is Outcome.IN_STOCK:
            chosen = product.chosen_offer()
            assert chosen in new_in_time
            assert all(o.total_yen > chosen.total_yen for o in new_in_time if o is not chosen)  # no ties


def test_demo_is_the_seed_reports_two_shops_and_eleven_asins():
    demo = Scenario.demo()
    assert [(s.id, s.name) for s in demo.shops] == [
        ("base_account_1", "森のBAZAAR"),
        ("base_account_2", "バイヤー氏屋【精神科医】"),
    ]
    assert [[i.asin for i in s.items] for s in demo.shops] == [
        ["B0FGQJ45HW", "B07YV55TNL", "B06Y69FKT2", "B006OHKDW8", "B08HXN835J"],
        ["B07JHV82ST", "B0DRCNW4GZ", "B07CZKGD7X", "B09JS7R48N", "B0C6X64277", "B09YY6NZ7N"],
    ]


def _demo_action(scenario: Scenario, shop_id: str, asin: str) -> str:
    item = next(i for s in scenario.shops if s.id == shop_id for i in s.items if i.asin == asin)
    expected = scenario.expected(asin)
    if expected.outcome in (Outcome.OUT_OF_STOCK, Outcome.FILTERED_OUT):
        return "hide" if item.visible else "unchanged"
    target = target_price(expected.price_yen)
    if not item.visible:
        return "publish"
    if target - item.price >= 100:
        return "price_up"
    if item.price - target >= 100:
        return "price_down"
    return "unchanged" if abs(target - item.price) < 10 else "within_threshold"


def test_demo_first_sync_shows_every_kind_of_change_as_documented():
    demo = Scenario.demo()
    actions = {asin: _demo_action(demo, shop_id, asin) for shop_id, asin, _ in demo.listings()}
    assert actions == {asin: action for asin, (_, action, _) in DEMO_PLAN.items()}
    assert Counter(actions.values()) == {
        "price_up": 2,
        "price_down": 2,
        "within_threshold": 2,
        "unchanged": 2,
        "hide": 2,
        "publish": 1,
    }
    assert demo.expected("B0DRCNW4GZ").outcome is Outcome.FILTERED_OUT
    assert demo.expected("B06Y69FKT2").outcome is Outcome.OUT_OF_STOCK
    # A ¥780 new offer is cheaper but ships in 168 h: a client ignoring the filter would push a price.
    cheapest_new = min(o.total_yen for o in demo.products["B09JS7R48N"].new_offers())
    assert cheapest_new == 780 and demo.expected("B09JS7R48N").price_yen == 890
    assert abs(target_price(780) - 1200) >= 100


def test_round_half_up_matches_integer_rounding():
    assert round_half_up(3980, 13, 10) == 5170
    assert round_half_up(6578, 13, 10) == 8550
    assert round_half_up(1150, 13, 10, unit=10) == 1500  # 1495 rounds up


# ------------------------------------------------------------ live changes
@pytest.fixture
def live():
    with Sandbox(Scenario.demo(), speed=100, enforce_quotas=False) as sb:
        yield sb, SandboxProbe(sb)


def _payload(probe: SandboxProbe, asin: str) -> dict:
    return probe.item_offers_batch([asin]).json()["responses"][0]["body"]["payload"]


def test_set_price_moves_the_chosen_offer(live):
    sb, probe = live
    moved = sb.set_price("B0FGQJ45HW", 4500)
    assert moved.listing_yen == 4500
    offers = _payload(probe, "B0FGQJ45HW")["Offers"]
    new_prices = sorted(o["ListingPrice"]["Amount"] + o["Shipping"]["Amount"] for o in offers)
    assert new_prices[0] == 4500  # the ¥4,280 merchant offer was moved above it
    assert sb.product("B0FGQJ45HW").expected().price_yen == 4500
    sb.set_price("B006OHKDW8", 1000, shipping_yen=0)
    assert sb.product("B006OHKDW8").expected().price_yen == 1000


def test_sell_out_and_restock(live):
    sb, probe = live
    sb.sell_out("B07CZKGD7X")
    assert _payload(probe, "B07CZKGD7X")["status"] == "NoBuyableOffers"
    sb.restock("B07CZKGD7X")
    payload = _payload(probe, "B07CZKGD7X")
    assert payload["status"] == "Success" and payload["Offers"][0]["ListingPrice"]["Amount"] == 12800
    sb.restock("B06Y69FKT2", listing_yen=2200)  # demo's sold-out item comes back at a new price
    assert sb.product("B06Y69FKT2").expected().price_yen == 2200
    with pytest.raises(SandboxError):
        sb.sell_out("B0NOTKNOWN")


def test_set_status_too_soon_until_a_time(live):
    sb, probe = live
    sb.set_status("B09YY6NZ7N", "ActiveButTooSoonForProcessing", available_at=sb.now())
    assert _payload(probe, "B09YY6NZ7N")["status"] == "Success"  # that time has passed already
    sb.set_status("B09YY6NZ7N", "ActiveButTooSoonForProcessing")
    assert _payload(probe, "B09YY6NZ7N")["status"] == "ActiveButTooSoonForProcessing"
    sb.set_status("B09YY6NZ7N", "Success")
    assert _payload(probe, "B09YY6NZ7N")["status"] == "Success"
    with pytest.raises(SandboxError):
        sb.set_status("B09YY6NZ7N", "Sold")


def test_the_sandbox_never_mutates_its_scenario():
    demo = Scenario.demo()
    with Sandbox(demo, speed=100, enforce_quotas=False) as sb:
        sb.sell_out("B0FGQJ45HW")
        sb.set_price("B07YV55TNL", 999, shipping_yen=500)
        sb.delete_item("base_account_1", 127641203)
        SandboxProbe(sb).edit_item("base_account_1", 127668412, price=3000, title="別の名前")
        assert sb.item("base_account_1", 127668412)["price"] == 3000
    assert demo == Scenario.demo()


def test_crowded_products_hide_their_buyable_offer_behind_twenty_cheaper_slow_ones():
    """More than 20 new offers: what Amazon lists (the lowest 20) has none that ships in time."""
    scenario = Scenario.generate(400, 2, seed=4, crowded_share=0.05, crowded_unknown_share=0.025)
    expected = {a: scenario.expected(a) for a in scenario.listed_asins()}
    summary_priced = [a for a, e in expected.items() if e.price_source is PriceSource.SUMMARY]
    assert len(summary_priced) == 20
    crowded = [p for p in scenario.products.values() if len(p.new_offers()) > 20]
    assert len(crowded) == 30
    for product in crowded:
        listed = product.listed_offers("new")
        assert len(listed) == 20 and not any(o.ships_within(72) for o in listed)
        assert all(
            o.landed_yen <= hidden.landed_yen
            for o in listed
            for hidden in product.new_offers()
            if not any(hidden is shown for shown in listed)
        )
        e = product.expected()
        chosen = product.chosen_offer()  # the truth, over every offer
        assert chosen is not None and not any(chosen is o for o in listed)
        if e.outcome is Outcome.IN_STOCK:
            # the Summary's Amazon-fulfilled price is the real cheapest offer that ships in time
            assert chosen.fba and (e.price_yen, e.points) == (chosen.total_yen, chosen.points)
            assert e.offer_count == len(product.offers)
        else:  # the buyable offer is a merchant's: nothing in the answer shows it
            assert e.outcome is Outcome.ERROR and not chosen.fba
    # other scenarios are generated exactly as before (no crowded product unless asked for)
    assert Scenario.generate(300, 3, seed=11) == Scenario.generate(
        300, 3, seed=11, crowded_share=0.0, crowded_unknown_share=0.0
    )
    assert all(len(p.new_offers()) <= 6 for p in Scenario.generate(300, 3, seed=11).products.values())
