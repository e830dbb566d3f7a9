from datetime import UTC, datetime, timedelta

from ecauto_lib.config import SyncMode, SyncPolicy
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
