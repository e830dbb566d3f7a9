"""Master DB: held changes (issue #10) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ecauto_lib.db.held import (
    load_held,
    pending_release_requests,
    record_held,
    request_release,
    settle_released,
)
from ecauto_lib.domain import FieldChange, HeldChange, PushedChange
from ecauto_lib.push import PushResult, settled_release_requests

T1 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def held(account, item, field, value, reason="price move 84% exceeds ±30%"):
    return HeldChange(account, f"B0{item:08d}", item, field, 100 if field == "price" else 1, value, reason)


def stored(engine):
    return sorted((h.account_id, h.base_item_id, h.field, h.new_value) for h in load_held(engine, ["a", "b"]))


def test_a_run_replaces_the_holds_of_the_fields_it_decides_for_its_shops_only(engine):
    record_held(
        engine,
        ["a", "b"],
        ["price", "visible"],
        [],
        [held("a", 1, "price", 200), held("a", 2, "visible", 0), held("b", 3, "price", 300)],
        run_id=None,
        at=T1,
    )
    assert stored(engine) == [("a", 1, "price", 200), ("a", 2, "visible", 0), ("b", 3, "price", 300)]
    # a full run of shop a that holds only item 4: a's old holds go, b's stay
    record_held(engine, ["a"], ["price", "visible"], [], [held("a", 4, "price", 400)], run_id=None, at=T1)
    assert stored(engine) == [("a", 4, "price", 400), ("b", 3, "price", 300)]


def test_a_stock_run_keeps_price_holds_except_for_the_items_it_priced(engine):
    record_held(
        engine,
        ["a"],
        ["price", "visible"],
        [],
        [held("a", 1, "price", 200), held("a", 2, "price", 250)],
        run_id=None,
        at=T1,
    )
    # --stock-only: decides visibility; re-priced item 2 (pushed) and re-held item 1 at a new value
    record_held(
        engine,
        ["a"],
        ["visible"],
        [("a", 2, "price")],
        [held("a", 1, "price", 210), held("a", 5, "visible", 0)],
        run_id=None,
        at=T1,
    )
    assert stored(engine) == [("a", 1, "price", 210), ("a", 5, "visible", 0)]
    assert load_held(engine, ["a"]) == [held("a", 1, "price", 210), held("a", 5, "visible", 0)]


def test_only_prices_and_hides_can_be_held(engine):
    with pytest.raises(ValueError, match="held change must be one of"):
        record_held(engine, ["a"], ["price"], [], [held("a", 1, "stock", 1)], run_id=None, at=T1)
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(
            sa.text(
                "insert into held_changes (account_id, asin, base_item_id, field, new_value, reason, held_at) "
                "values ('a', 'B000000001', 1, 'title', 1, 'r', :t)"
            ),
            {"t": T1},
        )


def test_a_release_request_is_read_until_settled_and_asking_again_keeps_it_open(engine):
    t2 = T1.replace(hour=4)
    request_release(engine, ["a", "b"], T1)
    assert pending_release_requests(engine, ["a", "b", "c"]) == {"a": T1, "b": T1}
    assert pending_release_requests(engine, ["a"]) == {"a": T1}  # reading takes nothing
    request_release(engine, ["b"], t2)  # asked again while a round works on the first
    settle_released(engine, [], {"a": T1, "b": T1})  # the round closes what it read
    assert pending_release_requests(engine, ["a", "b"]) == {"b": t2}
    settle_released(engine, [], {})
    settle_released(engine, [], {"b": t2})
    assert pending_release_requests(engine, ["a", "b"]) == {}


def test_settling_drops_the_holds_of_released_changes_on_base_and_keeps_the_rest(engine):
    holds = [held("a", 1, "price", 200), held("a", 1, "visible", 1), held("b", 3, "price", 300)]
    record_held(engine, ["a", "b"], ["price", "visible"], [], holds, run_id=None, at=T1)
    settle_released(engine, [("a", 1, "price")], {})
    assert stored(engine) == [("a", 1, "visible", 1), ("b", 3, "price", 300)]


def test_a_request_is_settled_once_every_change_it_released_for_the_shop_is_on_base():
    released = [
        FieldChange("a", "B000000001", 1, "price", 100, 200, "released with --confirm: move"),
        FieldChange("a", "B000000001", 1, "visible", 0, 1, "released with --confirm: move"),
    ]
    price = PushedChange("a", "B000000001", 1, "price", 100, 200, "r", T1)
    shown = PushedChange("a", "B000000001", 1, "visible", 0, 1, "r", T1)
    asked = {"a": T1, "b": T1}
    # b released nothing (nothing of it held): done; a's visibility edit failed: a stays asked for
    assert settled_release_requests(asked, released, {"a": PushResult("a", pushed=[price])}) == {"b": T1}
    assert settled_release_requests(asked, released, {}) == {"b": T1}  # a sent nothing (blocked)
    done = settled_release_requests(asked, released, {"a": PushResult("a", pushed=[price, shown])})
    assert done == asked
