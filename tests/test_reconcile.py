from datetime import UTC, datetime

from ecauto_lib.reconcile import find_drift
from tests.frames import listings_frame

AT = datetime(2026, 11, 29, tzinfo=UTC)


def test_find_drift_price_visibility_and_deleted_items():
    listings = listings_frame(
        [
            {
                "account_id": "a",
                "asin": "B000000001",
                "base_item_id": 1,
                "base_price": 1300,
                "base_visible": True,
            },
            {
                "account_id": "a",
                "asin": "B000000002",
                "base_item_id": 2,
                "base_price": 2000,
                "base_visible": True,
            },
            {
                "account_id": "a",
                "asin": "B000000003",
                "base_item_id": 3,
                "base_price": 500,
                "base_visible": False,
            },
            {
                "account_id": "b",
                "asin": "B000000004",
                "base_item_id": 4,
                "base_price": 500,
                "base_visible": False,
            },
            {
                "account_id": "a",
                "asin": "B000000005",
                "base_item_id": 5,
                "base_price": None,
                "base_visible": None,
            },
        ]
    )
    items = [
        {"item_id": 1, "price": 1300, "visible": 1},  # agrees
        {"item_id": 2, "price": 1800, "visible": 0},  # both drifted
        {"item_id": 5, "price": 990, "visible": 1},  # DB did not know
        {"item_id": 99, "price": 1, "visible": 1},  # not a listing of ours
    ]
    drift = find_drift("a", listings, items, AT)
    assert drift.checked == 4
    assert [(c.base_item_id, c.field, c.old_value, c.new_value) for c in drift.corrections] == [
        (2, "price", 2000, 1800),
        (2, "visible", 1, 0),
        (5, "price", None, 990),
        (5, "visible", None, 1),
    ]
    assert drift.deleted == [{"asin": "B000000003", "base_item_id": 3}]
    assert drift.count == 5
