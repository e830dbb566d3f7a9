from datetime import UTC, datetime

from ecauto_lib.base.auth import NeedsAuthorisationError
from ecauto_lib.base.client import BadItemIdError, BaseValidationError, HourLimitError
from ecauto_lib.domain import ItemUpdate
from ecauto_lib.errors import TransientError
from ecauto_lib.push import push_updates

AT = datetime(2026, 11, 29, tzinfo=UTC)


class FakeShop:
    """Records edit calls; raises the error scripted for an item id."""

    def __init__(self, errors=None, gone=()):
        self.calls = 0
        self.edits = []
        self.errors = errors or {}
        self.gone = set(gone)

    def edit_item(self, item_id, *, price=None, visible=None, **fields):
        self.calls += 1
        if item_id in self.errors:
            raise self.errors[item_id]
        self.edits.append((item_id, price, visible))
        return {"item_id": item_id}

    def item_detail(self, item_id):
        self.calls += 1
        return None if item_id in self.gone else {"item_id": item_id}


def update(item_id, **fields):
    return ItemUpdate(
        "a", f"B0{item_id:08d}", item_id, fields, dict.fromkeys(fields), dict.fromkeys(fields, "why")
    )


def push(updates, shop, budget=5000, **options):
    pushed, delisted = [], []
    result = push_updates(
        "a",
        updates,
        shop,
        call_budget=budget,
        on_pushed=lambda token, changes: pushed.extend(changes),
        on_delisted=lambda i, r: delisted.append(i),
        clock=lambda: AT,
        **options,
    )
    return result, pushed, delisted


def test_one_edit_per_item_with_only_changed_fields_and_each_confirmed_change_recorded():
    shop = FakeShop()
    result, pushed, _ = push(
        [update(1, price=1300, visible=1), update(2, visible=0), update(3, price=990)], shop
    )
    assert shop.edits == [(1, 1300, True), (2, None, False), (3, 990, None)]
    assert [(c.base_item_id, c.field, c.new_value) for c in pushed] == [
        (1, "price", 1300),
        (1, "visible", 1),
        (2, "visible", 0),
        (3, "price", 990),
    ]
    assert result.calls == 3 and result.items_pushed == 3 and not result.failed
    assert result.count("visible", 0) == 1 and result.count("price") == 2


def test_hour_limit_defers_the_rest_in_order():
    shop = FakeShop(
        errors={
            2: HourLimitError(
                "1時間のAPIの利用上限を超えました。", service="base", status=400, code="hour_api_limit"
            )
        }
    )
    result, pushed, _ = push([update(1, price=1), update(2, price=2), update(3, price=3)], shop)
    assert [c.base_item_id for c in pushed] == [1]
    assert [u.base_item_id for u in result.deferred] == [2, 3]
    assert result.stopped_by == "hour_api_limit"


def test_call_budget_stops_before_the_limit():
    shop = FakeShop()
    result, pushed, _ = push([update(i, price=i) for i in range(1, 6)], shop, budget=3)
    assert len(shop.edits) == 3 and [u.base_item_id for u in result.deferred] == [4, 5]
    assert result.stopped_by == "budget"


def test_bad_item_id_checked_with_detail_then_delisted_or_failed():
    bad = BadItemIdError("不正なitem_idです。", service="base", status=400, code="bad_item_id")
    shop = FakeShop(errors={1: bad, 2: bad}, gone={1})
    result, pushed, delisted = push([update(1, visible=0), update(2, visible=0), update(3, visible=0)], shop)
    assert delisted == [1]
    assert [f.base_item_id for f in result.failed] == [2]
    assert [c.base_item_id for c in pushed] == [3]


def test_other_errors_fail_only_that_item():
    shop = FakeShop(
        errors={
            1: BaseValidationError(
                "バリデーションエラーです。", service="base", status=400, code="validation_error"
            ),
            2: TransientError("HTTP 503", service="base", status=503),
        }
    )
    result, pushed, _ = push([update(1, price=5), update(2, price=6), update(3, price=7)], shop)
    assert [(f.base_item_id, f.error) for f in result.failed] == [
        (1, "validation_error"),
        (2, "TransientError"),
    ]
    assert [c.base_item_id for c in pushed] == [3]


def test_a_shop_whose_token_is_refused_stops_and_defers_the_rest():
    refused = NeedsAuthorisationError("a", "BASE refused the token refresh (HTTP 400, invalid_request)")
    shop = FakeShop(errors={2: refused, 3: refused})
    result, pushed, _ = push([update(1, price=1300), update(2, visible=0), update(3, price=990)], shop)
    assert shop.calls == 2  # item 3 is not tried: the token is dead for every item
    assert [c.base_item_id for c in pushed] == [1]
    assert [u.base_item_id for u in result.deferred] == [2, 3] and result.failed == []
    assert result.stopped_by == "needs_authorisation"
    assert "python flows/connect_shop.py --account a" in result.stop_reason


# ---------------------------------------------------------------------------------------------
# A BASE outage (#12 §2)


def down(item_id=None):
    return TransientError("base items/edit: HTTP 503 (no error body)", service="base", status=503)


class DownShop(FakeShop):
    """Every edit answers 503 (BASE is down)."""

    def edit_item(self, item_id, *, price=None, visible=None, **fields):
        self.calls += 1
        raise down()


def test_a_run_of_server_errors_stops_the_push_and_defers_the_rest():
    shop = DownShop()
    result, _, _ = push([update(i, price=i) for i in range(1, 21)], shop, outage_after=5)
    assert shop.calls == 5 and result.calls == 5
    assert [f.base_item_id for f in result.failed] == [1, 2, 3, 4, 5]
    assert [u.base_item_id for u in result.deferred] == list(range(6, 21))
    assert result.stopped_by == "base_outage"


def test_server_errors_between_answers_do_not_stop_the_push():
    shop = FakeShop(errors={i: down() for i in (1, 2, 4, 5, 7, 8)})  # never 3 in a row
    result, _, _ = push([update(i, price=i) for i in range(1, 10)], shop, outage_after=3)
    assert result.stopped_by is None and shop.calls == 9 and len(result.failed) == 6


def test_updates_of_items_with_an_unsettled_edit_are_deferred_not_sent_again():
    shop = FakeShop()
    result, _, _ = push([update(1, price=1), update(2, price=2), update(3, price=3)], shop, unsettled={2})
    assert [e[0] for e in shop.edits] == [1, 3]
    assert [u.base_item_id for u in result.deferred] == [2]


def test_a_push_that_lost_its_lock_stops_before_the_next_edit():
    shop = FakeShop()
    checks = iter([True, True, False])  # taken over after the second edit
    result, _, _ = push([update(i, price=i) for i in range(1, 6)], shop, still_held=lambda: next(checks))
    assert [e[0] for e in shop.edits] == [1, 2]
    assert result.stopped_by == "lock_lost" and [u.base_item_id for u in result.deferred] == [3, 4, 5]
