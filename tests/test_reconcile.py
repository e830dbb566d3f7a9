from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ecauto_lib.base.client import HourLimitError
from ecauto_lib.errors import TransientError
from ecauto_lib.reconcile import ScanMiss, find_drift
from ecauto_sandbox import Scenario
from tests.frames import listings_frame
from tests.marketplace import calls, marketplace, rows

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
    drift = find_drift("a", listings, items, AT, FakeShop({3: None}))
    assert drift.checked == 4
    assert [(c.base_item_id, c.field, c.old_value, c.new_value) for c in drift.corrections] == [
        (2, "price", 2000, 1800),
        (2, "visible", 1, 0),
        (5, "price", None, 990),
        (5, "visible", None, 1),
    ]
    assert drift.deleted == [ScanMiss("B000000003", 3)]
    assert drift.count == 5


class FakeShop:
    """items/detail answers: an item, None (no_item), or an error to raise."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def item_detail(self, item_id):
        self.asked.append(item_id)
        answer = self.answers[item_id]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _listed(*item_ids):
    return listings_frame(
        [
            {
                "account_id": "a",
                "asin": f"B00000000{i}",
                "base_item_id": i,
                "base_price": 1000,
                "base_visible": True,
            }
            for i in item_ids
        ]
    )


def test_an_item_missing_from_the_scan_is_checked_with_items_detail_before_it_is_called_gone():
    """/1/items has no total and no documented stable order: a scan can skip an item. Only BASE's
    not-found answer (no_item) delists it; an item detail shows is compared like a scanned one."""
    shop = FakeShop(
        {
            2: None,  # no_item: really gone
            3: {"item_id": 3, "price": 1200, "visible": 1},  # skipped by the scan, still there
            4: TransientError("HTTP 503", service="base", status=503),  # could not be asked
        }
    )
    drift = find_drift("a", _listed(1, 2, 3, 4), [{"item_id": 1, "price": 1000, "visible": 1}], AT, shop)
    assert shop.asked == [2, 3, 4]  # the scanned item is not looked up
    assert drift.deleted == [ScanMiss("B000000002", 2)]
    assert [(c.base_item_id, c.field, c.old_value, c.new_value) for c in drift.corrections] == [
        (3, "price", 1000, 1200)
    ]
    assert drift.still_there == [ScanMiss("B000000003", 3)]
    assert [(u.base_item_id, u.error, u.message) for u in drift.unchecked] == [
        (4, "TransientError", "HTTP 503")
    ]
    assert (drift.checked, drift.missing, drift.detail_checked) == (4, 3, 2)


def test_a_budget_refusal_stops_the_detail_checks_and_leaves_the_rest_unchecked():
    limit = HourLimitError(
        "1時間のAPIの利用上限を超えました。", service="base", status=400, code="hour_api_limit"
    )
    shop = FakeShop({2: None, 3: limit, 4: None})
    drift = find_drift("a", _listed(2, 3, 4), [], AT, shop)
    assert shop.asked == [2, 3]  # not one more call after the refusal
    assert drift.deleted == [ScanMiss("B000000002", 2)]
    assert [u.base_item_id for u in drift.unchecked] == [3, 4]
    assert drift.count == 1


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_reconcile_checks_what_a_shifting_scan_missed_and_delists_only_what_base_no_longer_has(
    tmp_path, db_url
):
    from flows.import_listings import import_listings
    from flows.reconcile import reconcile

    scenario = Scenario.generate(250, 1, seed=13)
    with marketplace(tmp_path, db_url, scenario) as sb:
        import_listings(source="base")
        shop = sb.shops[0].id
        deleted = sb.items(shop)[5]["item_id"]
        sb.delete_item(shop, deleted)  # really gone: the pages after it shift by one
        sb.set_faults(base_page_shift_rate=1.0)  # and the scan runs while the shop is being edited
        sb.clear_requests()
        result = reconcile()

        scanned = {i["item_id"] for r in calls(sb, "items") for i in r.response["items"]}
        live = {i["item_id"] for i in sb.items(shop)}
        skipped = live - scanned
        assert len(skipped) == 1  # an item the scan missed although BASE still has it
        looked_up = sorted(int(r.path.rsplit("/", 1)[1]) for r in calls(sb, "itemsDetail"))
        assert looked_up == sorted([deleted, *skipped])
        summary = result["accounts"][shop]
        assert summary == {
            "checked": 250,
            "corrected": 0,
            "deleted": 1,
            "missing": 2,
            "detail_checked": 2,
            "still_there": 1,
            "unchecked": 0,
        }
        delisted = rows(db_url, "select base_item_id from listings where status = 'delisted'")
        assert delisted == [(deleted,)]  # the starting code also delisted the skipped item
        assert result["exit_code"] == 1
        assert "2 missing from the scan, checked with items/detail" in result["report"]


def test_a_dry_run_says_what_it_would_correct_and_drift_alone_needs_no_attention():
    """#15 §6: reconcile --dry-run reports the drift as what it *would* repair; finding drift is
    its job, so it exits 0 unless a listing could not be checked (or a shop was skipped)."""
    from ecauto_lib.domain import PushedChange
    from ecauto_lib.reconcile import Drift, ShopReconciliation

    change = PushedChange(
        "a", "B000000001", 1, "price", 1000, 1200, "drift", datetime(2026, 1, 1, tzinfo=UTC)
    )
    drift = Drift("a", corrections=[change], deleted=[ScanMiss("B000000002", 2)], checked=2)
    dry = ShopReconciliation("a", "森のBAZAAR", scanned=1, drift=drift, dry_run=True)
    assert not dry.needs_attention
    assert "1 values would be corrected" in dry.describe() and "1 would be delisted" in dry.describe()
    real = replace(dry, dry_run=False)
    assert real.needs_attention and "1 values corrected" in real.describe()
    unchecked = replace(dry, drift=replace(drift, unchecked=[ScanMiss("B000000003", 3, "timeout")]))
    assert unchecked.needs_attention
