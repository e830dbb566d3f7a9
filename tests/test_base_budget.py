"""When a shop BASE refused with day_api_limit may be called again, and where that is remembered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ecauto_lib.base.budget import JST, blocked_push, next_daily_reset
from ecauto_lib.db import blocks
from ecauto_lib.domain import BudgetBlock, ItemUpdate


@pytest.mark.parametrize(
    ("refused_at", "resume_at"),
    [
        # 20:00 JST: the next JST midnight (15:00 UTC) comes before UTC midnight
        (datetime(2026, 11, 29, 11, 0, tzinfo=UTC), datetime(2026, 11, 29, 15, 0, tzinfo=UTC)),
        # 23:59:59 JST
        (datetime(2026, 11, 29, 14, 59, 59, tzinfo=UTC), datetime(2026, 11, 29, 15, 0, tzinfo=UTC)),
        # 00:00 JST exactly, refused again: JST is then the wrong guess, so UTC midnight (09:00 JST)
        (datetime(2026, 11, 29, 15, 0, tzinfo=UTC), datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),
        # 08:30 JST: UTC midnight (09:00 JST) is the earlier possible reset
        (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),
    ],
)
def test_next_daily_reset_is_the_earliest_of_jst_and_utc_midnight(refused_at, resume_at):
    assert next_daily_reset(refused_at) == resume_at
    # any timezone of the input gives the same instant, returned in UTC
    jst = refused_at.astimezone(JST)
    assert next_daily_reset(jst) == resume_at and next_daily_reset(jst).tzinfo is UTC


def test_next_daily_reset_refuses_naive_times():
    with pytest.raises(ValueError, match="aware"):
        next_daily_reset(datetime(2026, 11, 29, 11, 0))


def test_a_blocked_shop_defers_every_update_without_a_call():
    updates = [
        ItemUpdate("a", f"B0{i:08d}", i, {"price": i}, {"price": None}, {"price": "r"}) for i in (1, 2)
    ]
    block = BudgetBlock("a", "day_api_limit", datetime(2026, 11, 29, 15, 0, tzinfo=UTC))
    result = blocked_push("a", updates, block)
    assert (result.deferred, result.stopped_by, result.calls, result.pushed) == (
        updates,
        "day_api_limit",
        0,
        [],
    )


def test_blocks_are_kept_per_shop_until_they_end(engine):
    at = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
    until = next_daily_reset(at)
    assert blocks.active_block(engine, "a", at) is None
    blocks.record_block(engine, BudgetBlock("a", "day_api_limit", until), at)
    assert blocks.active_block(engine, "a", at) == BudgetBlock("a", "day_api_limit", until)
    assert blocks.active_block(engine, "a", until - timedelta(seconds=1)) is not None
    assert blocks.active_block(engine, "a", until) is None  # the reset has come
    assert blocks.active_block(engine, "b", at) is None  # budgets are per shop
    later = until + timedelta(hours=1)
    blocks.record_block(engine, BudgetBlock("a", "day_api_limit", next_daily_reset(later)), later)
    assert blocks.active_block(engine, "a", later).blocked_until == next_daily_reset(later)  # replaced
    blocks.clear_block(engine, "a")
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from base_budget_blocks")).scalar_one() == 0
