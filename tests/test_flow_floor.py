"""Issue #10 end to end: no public item below the floor, in any mode, against the simulator.

floor = Amazon × (1 + ECAUTO_MIN_MARGIN_PCT/100) + ECAUTO_MIN_MARGIN_YEN (5 % + ¥0 here). The demo's
shops use markup 1.3 unless a test sets another one in the accounts file.
"""

from __future__ import annotations

import pytest

from ecauto_sandbox import Scenario
from flows.import_listings import import_listings
from flows.sync import parse_args, run, sync
from tests.marketplace import (
    NO_GUARDS,
    calls,
    item_id_of,
    marketplace,
    public_below_floor,
    rows,
    set_account_options,
)

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

SHOP1, SHOP2 = "base_account_1", "base_account_2"


def edits_of(sb, shop: str, item_id: int) -> list[dict]:
    """The items/edit bodies BASE accepted for one item (without item_id), in order."""
    return [
        {k: v for k, v in r.body.items() if k != "item_id"}
        for r in calls(sb, "itemsEdit")
        if r.status == 200 and r.shop_id == shop and int(r.body["item_id"]) == item_id
    ]


def shown(sb, shop: str, item_id: int) -> tuple[int, int]:
    item = sb.item(shop, item_id)
    return item["price"], item["visible"]


# -- case 1: a held or refused price hides the item until the price is in place -------------


def test_a_held_rise_hides_the_item_a_held_cut_keeps_it_and_confirm_publishes_with_the_price(
    tmp_path, db_url
):
    with marketplace(tmp_path, db_url, extra_env={"ECAUTO_MAX_PRICE_MOVE_PCT": "20"}) as sb:
        import_listings(source="base")
        sb.set_price("B07YV55TNL", 4000)  # BASE ¥2,830 → ¥5,200 (+84 %): held; floor ¥4,200
        rise, cut = item_id_of(sb, SHOP1, "B07YV55TNL"), item_id_of(sb, SHOP1, "B08HXN835J")
        dry = sync(dry_run=True)  # --dry-run shows the floor's hide, writes nothing
        assert "下限割れ非公開" in dry["report"] and "below floor: BASE ¥2,830" in dry["report"]
        assert shown(sb, SHOP1, rise) == (2830, 1)
        assert rows(db_url, "select count(*) from held_changes") == [(0,)]
        sb.clear_requests()
        result = sync()
        assert shown(sb, SHOP1, rise) == (2830, 0)  # hidden, not left public at a loss
        assert edits_of(sb, SHOP1, rise) == [{"visible": "0"}]
        assert shown(sb, SHOP1, cut) == (9880, 1)  # ¥9,880 → ¥7,770 (−21 %) held: ¥9,880 > floor
        assert result["held"] == 2 and result["exit_code"] == 1
        assert "below floor: BASE ¥2,830 < floor ¥4,200 (amazon ¥4,000 + 5%)" in result["report"]
        assert result["accounts"][SHOP1]["below_floor"] == 1
        assert public_below_floor(sb, db_url) == []
        assert rows(db_url, "select field, new_value from held_changes order by field") == [
            ("price", 5200),
            ("price", 7770),
        ]

        sb.clear_requests()
        again = sync()  # still held: stays hidden, nothing sent for it
        assert not edits_of(sb, SHOP1, rise) and shown(sb, SHOP1, rise) == (2830, 0)
        assert again["held"] == 2

        sb.clear_requests()
        released = sync(confirm=True)
        assert edits_of(sb, SHOP1, rise) == [{"price": "5200", "visible": "1"}]  # one edit
        assert edits_of(sb, SHOP1, cut) == [{"price": "7770"}]
        assert released["exit_code"] == 0 and released["held"] == 0
        assert rows(db_url, "select count(*) from held_changes") == [(0,)]
        assert public_below_floor(sb, db_url) == []


def test_an_item_back_in_stock_at_a_higher_price_is_not_published_at_the_old_one(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url) as sb:
        import_listings(source="base")
        sb.set_price("B07JHV82ST", 3000)  # hidden at ¥1,920; back in stock at ¥3,000 → ¥3,900 (+103 %)
        item = item_id_of(sb, SHOP2, "B07JHV82ST")
        sb.clear_requests()
        result = sync()
        assert shown(sb, SHOP2, item) == (1920, 0) and not edits_of(sb, SHOP2, item)
        assert "kept hidden" in result["report"]
        assert public_below_floor(sb, sqlite_url) == []


def test_stock_only_publishes_a_restocked_item_with_its_price_in_one_edit(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url, extra_env={"ECAUTO_STOCK_TTL_HOURS": "0"}) as sb:
        import_listings(source="base")
        sync()
        item = item_id_of(sb, SHOP1, "B0FGQJ45HW")  # BASE ¥5,170 after the first sync
        sb.sell_out("B0FGQJ45HW")
        sync(mode="stock")
        assert shown(sb, SHOP1, item) == (5170, 0)
        sb.restock("B0FGQJ45HW", listing_yen=4500)  # ¥4,500 × 1.3 = ¥5,850; floor ¥4,725
        sb.clear_requests()
        sync(mode="stock")
        assert edits_of(sb, SHOP1, item) == [{"price": "5850", "visible": "1"}]
        assert public_below_floor(sb, sqlite_url) == []


def test_a_price_refused_by_the_bounds_hides_the_item_until_it_can_be_pushed(tmp_path, sqlite_url):
    env = {**NO_GUARDS, "ECAUTO_MAX_PRICE_YEN": "5000"}
    with marketplace(tmp_path, sqlite_url, extra_env=env) as sb:
        import_listings(source="base")
        sb.set_price("B07YV55TNL", 4000)  # ¥5,200 > ¥5,000: refused; BASE ¥2,830 < floor ¥4,200
        item = item_id_of(sb, SHOP1, "B07YV55TNL")
        result = sync(mode="price")  # in --price-only too
        assert shown(sb, SHOP1, item) == (2830, 0)
        assert "price ¥5,200 refused: above the maximum price ¥5,000" in result["report"]
        assert public_below_floor(sb, sqlite_url) == []

        import os

        os.environ["ECAUTO_MAX_PRICE_YEN"] = "1000000"  # the seller raises the bound
        sb.clear_requests()
        sync()
        assert edits_of(sb, SHOP1, item) == [{"price": "5200", "visible": "1"}]


# -- case 2: the ¥100 threshold never keeps a loss --------------------------------------------


def test_a_base_price_below_the_floor_is_pushed_even_within_100_yen(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url, extra_env=NO_GUARDS) as sb:
        set_account_options({SHOP1: {"markup": 1.1}})
        item = item_id_of(sb, SHOP1, "B07YV55TNL")
        sb.set_price("B07YV55TNL", 885)  # ¥885 × 1.1 = ¥973.5 → ¥970; floor ¥929.25
        with sb.state.lock:
            sb.state.live_item(SHOP1, item).price = 880  # ¥90 under the new price, ¥49 under the floor
            sb.state.touch_shop(SHOP1)
        import_listings(source="base")
        sb.clear_requests()
        sync()
        assert edits_of(sb, SHOP1, item) == [{"price": "970"}]
        assert public_below_floor(sb, sqlite_url) == []


# -- case 3: rounding never pushes a price under the floor ------------------------------------


def test_a_price_rounded_under_the_floor_is_raised_to_the_next_step(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url, extra_env=NO_GUARDS) as sb:
        set_account_options({SHOP1: {"markup": 1.05}})  # markup = margin: half of all prices round under
        item = item_id_of(sb, SHOP1, "B07YV55TNL")
        sb.set_price("B07YV55TNL", 1001)  # ¥1,051.05 → ¥1,050 < floor ¥1,051.05 → ¥1,060
        import_listings(source="base")
        sb.clear_requests()
        result = sync()
        assert edits_of(sb, SHOP1, item) == [{"price": "1060"}]
        assert result["flagged"] == 0
        assert public_below_floor(sb, sqlite_url) == []


# -- case 4: --confirm releases what was held, and nothing new --------------------------------


def test_confirm_releases_the_held_change_and_the_breaker_still_holds_twenty_new_sell_outs(
    tmp_path, sqlite_url
):
    scenario = Scenario.generate(
        n_asins=30, n_shops=1, seed=21, out_of_stock_share=0, filtered_share=0, mispriced_share=0
    )
    with marketplace(tmp_path, sqlite_url, scenario, extra_env={"ECAUTO_STOCK_TTL_HOURS": "0"}) as sb:
        import_listings(source="base")
        sync()
        asins = sorted(a for (a,) in rows(sqlite_url, "select asin from listings"))
        moved, gone = asins[0], asins[1:21]
        item = item_id_of(sb, SHOP1, moved)
        sb.set_price(moved, sb.product(moved).expected().price_yen * 2)  # +100 %: held, hidden
        first = sync()
        assert first["held"] == 1

        for asin in gone:
            sb.sell_out(asin)
        sb.clear_requests()
        confirmed = sync(confirm=True)
        # the held price goes out, with the publish it was waiting for ...
        assert [set(e) for e in edits_of(sb, SHOP1, item)] == [{"price", "visible"}]
        # ... and the 20 new sell-outs (20 of 30) trip the breaker as in any run
        still_public = [a for a in gone if sb.item(SHOP1, item_id_of(sb, SHOP1, a))["visible"] == 1]
        assert still_public == gone
        assert (
            confirmed["held"] == 20 and "circuit breaker: this run would hide 20 of 30" in confirmed["report"]
        )
        assert rows(sqlite_url, "select count(*), min(field) from held_changes") == [(20, "visible")]
        assert [e["visible"] for e in edits_of(sb, SHOP1, item)] == ["1"]  # it was hidden while held


# -- case 5: per-shop guard limits are read, validated and applied ----------------------------


def test_per_shop_guard_limits_from_the_accounts_file_are_applied(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url) as sb:
        set_account_options(
            {SHOP1: {"max_price_move_pct": 100}, SHOP2: {"breaker_hide_pct": 10, "breaker_min_items": 1}}
        )
        import_listings(source="base")
        sb.set_price("B07YV55TNL", 4000)  # +84 %: within shop 1's ±100 %
        moved, hide = item_id_of(sb, SHOP1, "B07YV55TNL"), item_id_of(sb, SHOP2, "B0DRCNW4GZ")
        result = sync()
        assert shown(sb, SHOP1, moved) == (5200, 1)
        # shop 2 hides 1 of 6 (17 % > its 10 %, at least 1 item): held
        assert sb.item(SHOP2, hide)["visible"] == 1
        assert result["accounts"][SHOP2]["held"] == 1 and result["accounts"][SHOP1]["held"] == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({SHOP2: {"breaker_min_items": -1}}, "accounts[1].breaker_min_items: shop 'base_account_2': "),
        ({SHOP1: {"max_price_move_pct": "lots"}}, "accounts[0].max_price_move_pct: shop 'base_account_1': "),
        ({SHOP1: {"markup": "1.3333333333333333"}}, "accounts[0].markup: shop 'base_account_1': "),
    ],
)
def test_a_bad_per_shop_setting_exits_2_naming_shop_and_key_before_any_call(
    tmp_path, sqlite_url, capsys, options, message
):
    with marketplace(tmp_path, sqlite_url) as sb:
        set_account_options(options)
        sb.clear_requests()
        assert run(parse_args([])) == 2
        assert message in capsys.readouterr().err
        assert sb.requests == []
        assert not (tmp_path / "master.db").exists()


# -- case 6: markups the arithmetic carries exactly -------------------------------------------


def test_a_four_decimal_markup_prices_exactly(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url, extra_env=NO_GUARDS) as sb:
        set_account_options({SHOP1: {"markup": 1.3333}})
        import_listings(source="base")
        item = item_id_of(sb, SHOP1, "B0FGQJ45HW")
        sb.clear_requests()
        sync()
        assert edits_of(sb, SHOP1, item) == [{"price": "5310"}]  # ¥3,980 × 1.3333 = ¥5,306.53 → ¥5,310
        assert public_below_floor(sb, sqlite_url) == []
