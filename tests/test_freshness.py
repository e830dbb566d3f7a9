from datetime import UTC, datetime, timedelta

import pandas as pd

from ecauto_lib.config import SyncMode, SyncPolicy
from ecauto_lib.db.history import HISTORY_COLUMNS
from ecauto_lib.freshness import batches, stale_asins
from tests.frames import listings_frame

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POLICY = SyncPolicy(ttl_slack=timedelta(0))


def ago(**kw):
    return NOW - timedelta(**kw)


def fresh(**extra):
    return {
        "info_fetched_at": ago(days=1),
        "price_fetched_at": ago(minutes=5),
        "stock_fetched_at": ago(minutes=5),
        "stock_state": "in_stock",
        **extra,
    }


def test_each_asin_once_however_many_accounts_list_it():
    frame = listings_frame(
        [
            {"account_id": "a", "asin": "B000000001"},
            {"account_id": "b", "asin": "B000000001"},
            {"account_id": "c", "asin": "B000000001"},
            {"account_id": "a", "asin": "B000000002"},
        ]
    )
    stale = stale_asins(frame, POLICY, NOW, SyncMode.FULL)
    assert stale["asin"].tolist() == ["B000000001", "B000000002"]
    assert stale["needs_offers"].all() and stale["needs_info"].all()


def test_fresh_asins_are_not_fetched():
    frame = listings_frame([{"asin": "B000000001", **fresh()}])
    assert stale_asins(frame, POLICY, NOW, SyncMode.FULL).empty


def test_ttl_boundaries_stock_one_hour_price_one_day_info_seven_days():
    frame = listings_frame(
        [
            {"asin": "B000000001", **fresh(stock_fetched_at=ago(minutes=59, seconds=59))},
            {"asin": "B000000002", **fresh(stock_fetched_at=ago(hours=1))},
            {"asin": "B000000003", **fresh(info_fetched_at=ago(days=7))},
            {"asin": "B000000004", **fresh(info_fetched_at=ago(days=6, hours=23))},
        ]
    )
    stale = stale_asins(frame, POLICY, NOW, SyncMode.FULL).set_index("asin")
    assert stale.index.tolist() == ["B000000002", "B000000003"]
    assert stale.loc["B000000002", "needs_offers"] and not stale.loc["B000000002", "needs_info"]
    assert stale.loc["B000000003", "needs_info"] and not stale.loc["B000000003", "needs_offers"]


def test_most_urgent_first_never_fetched_then_oldest_stock_then_oldest_price():
    frame = listings_frame(
        [
            {"asin": "B000000001", **fresh(stock_fetched_at=ago(hours=2), price_fetched_at=ago(hours=2))},
            {"asin": "B000000002", **fresh(stock_fetched_at=ago(hours=5), price_fetched_at=ago(hours=5))},
            {"asin": "B000000003"},  # never fetched
            {"asin": "B000000004", **fresh(stock_fetched_at=ago(hours=2), price_fetched_at=ago(hours=30))},
        ]
    )
    stale = stale_asins(frame, POLICY, NOW, SyncMode.FULL)
    assert stale["asin"].tolist() == ["B000000003", "B000000002", "B000000004", "B000000001"]


def test_modes_price_only_and_stock_only():
    frame = listings_frame(
        [
            {"asin": "B000000001", **fresh(stock_fetched_at=ago(hours=2))},  # stock stale, price fresh
            {"asin": "B000000002", **fresh(price_fetched_at=ago(hours=25), stock_fetched_at=ago(minutes=1))},
            # out of stock: its price is old but there is no price to get until stock is stale too
            {"asin": "B000000003", **fresh(stock_state="out_of_stock", price_fetched_at=ago(days=3))},
            {"asin": "B000000004", **fresh(info_fetched_at=ago(days=30))},
        ]
    )
    assert stale_asins(frame, POLICY, NOW, SyncMode.STOCK)["asin"].tolist() == ["B000000001"]
    assert stale_asins(frame, POLICY, NOW, SyncMode.PRICE)["asin"].tolist() == ["B000000002"]
    full = stale_asins(frame, POLICY, NOW, SyncMode.FULL)
    assert sorted(full["asin"]) == ["B000000001", "B000000002", "B000000004"]


def test_configurable_ttls():
    frame = listings_frame([{"asin": "B000000001", **fresh(stock_fetched_at=ago(minutes=10))}])
    policy = SyncPolicy(stock_ttl=timedelta(minutes=5))
    assert stale_asins(frame, policy, NOW, SyncMode.STOCK)["asin"].tolist() == ["B000000001"]


def test_batches_of_twenty_keep_order():
    asins = [f"B0{i:08d}" for i in range(45)]
    cut = batches(asins, 20)
    assert [len(b) for b in cut] == [20, 20, 5]
    assert sum(cut, []) == asins


def test_sold_out_item_without_price_is_not_refetched_while_its_stock_is_fresh():
    frame = listings_frame(
        [{"asin": "B000000001", **fresh(stock_state="out_of_stock", price_fetched_at=None)}]
    )
    assert stale_asins(frame, POLICY, NOW, SyncMode.FULL).empty
    assert stale_asins(frame, POLICY, NOW, SyncMode.PRICE).empty


def test_slack_makes_an_hourly_schedule_refresh_every_hour():
    # fetched 55 minutes ago by the previous hourly run: stale with the default 10-minute slack
    frame = listings_frame([{"asin": "B000000001", **fresh(stock_fetched_at=ago(minutes=55))}])
    assert stale_asins(frame, SyncPolicy(), NOW, SyncMode.STOCK)["asin"].tolist() == ["B000000001"]
    recent = listings_frame([{"asin": "B000000001", **fresh(stock_fetched_at=ago(minutes=45))}])
    assert stale_asins(recent, SyncPolicy(), NOW, SyncMode.STOCK).empty


# -- the refresh order by value (issue #17 §3) and the fill of a run's budget (§2) ---------------


def history(**per_asin):
    """A change_counts() frame: ``asin=(sell_outs, restocks, price_moves)``."""
    rows = [
        {"asin": a, "sell_outs": s, "restocks": r, "price_moves": p, "offer_count": 5}
        for a, (s, r, p) in per_asin.items()
    ]
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS).astype({"offer_count": "Int64"})


def listed(asin, *, shops=("a",), **extra):
    return [
        {
            "account_id": s,
            "asin": asin,
            "listed_at": ago(days=30),
            "base_price": 1300,
            "amazon_price_yen": 1000,
            **fresh(**extra),
        }
        for s in shops
    ]


def test_with_history_a_volatile_asin_goes_before_an_older_calm_one_and_says_why():
    frame = listings_frame(
        listed("B0000CALM1", stock_fetched_at=ago(minutes=80))
        + listed("B0000VOLA1", shops=("a", "b"), stock_fetched_at=ago(minutes=65))
    )
    counts = history(B0000CALM1=(0, 0, 0), B0000VOLA1=(20, 20, 60))
    stale = stale_asins(frame, POLICY, NOW, SyncMode.STOCK, history=counts)
    assert stale["asin"].tolist() == ["B0000VOLA1", "B0000CALM1"]
    assert stale.loc[0, "reason"].startswith("sell-out risk")
    # without its history the same two go oldest first, as before
    assert stale_asins(frame, POLICY, NOW, SyncMode.STOCK)["asin"].tolist() == ["B0000CALM1", "B0000VOLA1"]


def test_fill_puts_fresh_asins_in_the_queue_by_value_after_nothing():
    frame = listings_frame(
        listed("B0000CALM1", stock_fetched_at=ago(minutes=65))
        + listed("B0000VOLA1", stock_fetched_at=ago(minutes=20))
        + listed("B0000JUST1", stock_fetched_at=ago(seconds=1))
    )
    counts = history(B0000CALM1=(0, 0, 0), B0000VOLA1=(30, 30, 90), B0000JUST1=(0, 0, 0))
    stale = stale_asins(frame, POLICY, NOW, SyncMode.STOCK, history=counts, fill=True)
    assert stale["asin"].tolist() == ["B0000VOLA1", "B0000CALM1", "B0000JUST1"]
    assert stale["needs_offers"].all()
    assert stale.set_index("asin")["stale"].to_dict() == {
        "B0000VOLA1": False,
        "B0000CALM1": True,
        "B0000JUST1": False,
    }
    assert stale_asins(frame, POLICY, NOW, SyncMode.STOCK, history=counts)["asin"].tolist() == ["B0000CALM1"]


def test_the_fairness_floor_puts_an_asin_older_than_three_stock_ttls_first():
    frame = listings_frame(
        listed("B0000VOLA1", shops=("a", "b"), stock_fetched_at=ago(minutes=90))
        + listed("B0000OLD01", stock_fetched_at=ago(hours=3, minutes=1), base_visible=False)
    )
    counts = history(B0000VOLA1=(30, 30, 90), B0000OLD01=(0, 0, 0))
    stale = stale_asins(frame, POLICY, NOW, SyncMode.STOCK, history=counts)
    assert stale["asin"].tolist() == ["B0000OLD01", "B0000VOLA1"]
    assert stale.loc[0, "reason"].startswith("older than 3 h")
    looser = SyncPolicy(ttl_slack=timedelta(0), max_stock_age_ttls=5)
    assert stale_asins(frame, looser, NOW, SyncMode.STOCK, history=counts)["asin"].tolist() == [
        "B0000VOLA1",
        "B0000OLD01",
    ]


def test_histories_that_differ_only_by_chance_leave_the_order_to_age():
    # 200 ASINs whose sell-out counts are what one shared rate gives by chance (Poisson, mean
    # 0.5 a week): the three with 3 sell-outs are not likelier than the rest to sell out next, so
    # the oldest answer (a count of 0) still goes first.
    counts = [0] * 121 + [1] * 61 + [2] * 15 + [3] * 3
    asins = [f"B{i:09d}" for i in range(len(counts))]
    oldest = asins[0]  # count 0
    frame = listings_frame(
        [row for a in asins for row in listed(a, stock_fetched_at=ago(minutes=70 if a == oldest else 61))]
    )
    seen = history(**{a: (k, 0, 0) for a, k in zip(asins, counts, strict=True)})
    stale = stale_asins(frame, POLICY, NOW, SyncMode.STOCK, history=seen)
    assert stale["asin"].iloc[0] == oldest
    # ... while rates that do differ (the test above: 20 sell-outs against 0) still lead
