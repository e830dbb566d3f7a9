"""#17: a run's time budget is the whole run's, so the next scheduled run is never cancelled by it.

The day benchmark (10,000 ASINs, the 15-minute grid with 12-minute budgets) found every other
stock run cancelled: each stopped fetching at 12 minutes, then spent 3-4 more on pricing, pushes
and its record, and was still running at the next slot (CANCEL_NEW). The fetch now stops early
enough to leave what followed the last run's fetch.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ecauto_lib.db import finish_run, start_run
from ecauto_lib.db.runs import last_tail
from ecauto_lib.fetching import MAX_LATE_SHARE, MIN_FETCH_SHARE, budget_start, fetch_deadline
from flows.import_listings import import_listings
from flows.sync import sync
from tests.marketplace import marketplace, rows

T0 = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
BUDGET = timedelta(minutes=12)


def test_the_fetch_leaves_the_time_the_last_run_needed_after_its_fetch():
    assert fetch_deadline(T0, BUDGET, timedelta(minutes=3)) == T0 + timedelta(minutes=9)


def test_with_no_earlier_run_the_fetch_gets_the_whole_budget():
    assert fetch_deadline(T0, BUDGET, None) == T0 + BUDGET


def test_a_long_tail_never_takes_more_than_half_the_budget_from_the_fetch():
    assert MIN_FETCH_SHARE == 0.5
    assert fetch_deadline(T0, BUDGET, timedelta(minutes=40)) == T0 + timedelta(minutes=6)


def test_no_budget_no_deadline():
    assert fetch_deadline(T0, timedelta(0), timedelta(minutes=3)) is None


HOURLY = timedelta(minutes=58)


def test_a_run_started_late_counts_its_budget_from_its_scheduled_start():
    # ENQUEUE started it 7 minutes late, when the run before it ended: it ends on the hour anyway.
    assert budget_start(T0 + timedelta(minutes=7), T0, HOURLY) == T0


def test_a_very_late_run_gives_back_at_most_a_quarter_of_its_budget():
    assert MAX_LATE_SHARE == 0.25
    started = T0 + timedelta(hours=3)  # a worker that was down
    assert budget_start(started, T0, HOURLY) == started - timedelta(minutes=14.5)


def test_a_run_on_time_or_not_from_a_schedule_counts_from_its_start():
    assert budget_start(T0, None, HOURLY) == T0
    assert budget_start(T0, T0 + timedelta(seconds=2), HOURLY) == T0  # expected a moment later
    assert budget_start(T0 + timedelta(minutes=7), T0, timedelta(0)) == T0 + timedelta(minutes=7)


def _run(engine, mode, started, length_s, fetch_ended_after_s, *, finished=True):
    run_id = start_run(engine, mode=mode, accounts=["shop_a"], started_at=started)
    if finished:
        counts = {"fetch": {"stale": 10, "ended_after_seconds": fetch_ended_after_s}}
        finish_run(
            engine,
            run_id,
            status="completed",
            exit_code=0,
            counts=counts,
            finished_at=started + timedelta(seconds=length_s),
        )
    return run_id


def test_the_tail_is_read_from_the_last_finished_run_of_the_same_mode(engine):
    assert last_tail(engine, "stock") is None
    _run(engine, "stock", T0, 900, 700)  # 200 s after its fetch
    _run(engine, "price", T0 + timedelta(minutes=15), 1300, 700)  # another mode: 600 s
    _run(engine, "stock", T0 + timedelta(minutes=30), 0, None, finished=False)  # still running
    assert last_tail(engine, "stock") == timedelta(seconds=200)
    assert last_tail(engine, "price") == timedelta(seconds=600)
    _run(engine, "stock", T0 + timedelta(minutes=45), 800, 680)
    assert last_tail(engine, "stock") == timedelta(seconds=120)


def test_a_run_that_fetched_nothing_gives_no_tail(engine):
    run_id = start_run(engine, mode="stock", accounts=["shop_a"], started_at=T0)
    finish_run(
        engine,
        run_id,
        status="completed",
        exit_code=0,
        counts={"fetch": {"stale": 0, "ended_after_seconds": None}},
        finished_at=T0 + timedelta(seconds=30),
    )
    assert last_tail(engine, "stock") is None


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_a_budgeted_run_records_when_its_fetch_ended_and_the_next_run_completes_with_that_tail(
    tmp_path, sqlite_url
):
    with marketplace(tmp_path, sqlite_url, extra_env={"ECAUTO_STOCK_TTL_HOURS": "0"}):
        import_listings(source="base")
        sync(mode="stock", budget_minutes=1)
        (first,) = rows(sqlite_url, "select started_at, finished_at, counts from runs where mode = 'stock'")
        counts = first[2] if isinstance(first[2], dict) else json.loads(first[2])
        ended_after = counts["fetch"]["ended_after_seconds"]
        assert counts["fetch"]["stale"] == 11 and 0 < ended_after < 60
        engine = sa.create_engine(sqlite_url)
        tail = last_tail(engine, "stock")
        engine.dispose()
        assert tail is not None and timedelta(0) <= tail < timedelta(seconds=60)
        sync(mode="stock", budget_minutes=1)  # fetches again within what is left of its minute
        assert len(rows(sqlite_url, "select id from runs where mode = 'stock' and exit_code = 0")) == 2


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_a_deployment_run_started_late_stops_fetching_on_its_schedule(tmp_path, sqlite_url, monkeypatch):
    """The wiring: the flow reads the run's scheduled start (Prefect's, for a deployment run) and
    the fetch's deadline is that plus the budget, not the real start plus the budget."""
    import flows.sync as sync_flow

    scheduled: list[datetime] = []

    def two_minutes_ago() -> datetime:  # a quarter of the budget is what a late start gives back
        scheduled.append(datetime.now(UTC) - timedelta(minutes=2))
        return scheduled[-1]

    deadlines: list[datetime | None] = []
    real_fetch = sync_flow.fetch_offers_and_catalog

    def spy(settings, client, stale, stored_states, deadline, rounds):
        deadlines.append(deadline)
        return real_fetch(settings, client, stale, stored_states, deadline, rounds)

    monkeypatch.setattr(sync_flow, "scheduled_start", two_minutes_ago)
    monkeypatch.setattr(sync_flow, "fetch_offers_and_catalog", spy)
    with marketplace(tmp_path, sqlite_url, extra_env={"ECAUTO_STOCK_TTL_HOURS": "0"}):
        import_listings(source="base")
        result = sync(mode="stock", budget_minutes=10)
    assert result["exit_code"] == 0
    assert deadlines == [scheduled[0] + timedelta(minutes=10)]  # no earlier stock run: no tail kept
    assert "予定時刻 (scheduled)" in result["report"] and "(2分遅れ / 2 min late)" in result["report"]
