"""#17 §2: a long run that pushes as it goes (``push_every_minutes``): a served loop whose fetch
never stops for pricing and pushes.

Each round takes what the fetch has answered and confirmed, stores it, prices every listing,
pushes, and gives the fetch a fresher order, on a side thread while the SP-API lanes stay busy.
The rules of a run that pushes once hold over the whole run: a sell-out is re-checked before it
is hidden, each change is pushed once, the circuit breaker and BASE's hourly budget count every
round, and the report covers them all.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pandas as pd
import pytest

from ecauto_lib.domain import CHANGE_COLUMNS, PushedChange
from ecauto_lib.guards import GuardPolicy, hold_risky_changes
from ecauto_lib.pricing import PricingPlan
from ecauto_lib.push import PushResult
from ecauto_lib.rounds import RoundsSoFar
from ecauto_sandbox import Scenario
from flows.import_listings import import_listings
from flows.sync import sync
from tests.marketplace import base_state, marketplace, rows

T0 = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def _hides(account: str, n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "account_id": account,
                "asin": f"B0{i:08d}",
                "base_item_id": i,
                "field": "visible",
                "old_value": 1,
                "new_value": 0,
                "reason": "sold out",
            }
            for i in range(start, start + n)
        ],
        columns=CHANGE_COLUMNS,
    )


def _pushed(account: str, n: int) -> PushResult:
    return PushResult(
        account,
        pushed=[PushedChange(account, f"B0{i:08d}", i, "visible", 1, 0, "sold out", T0) for i in range(n)],
        calls=n,
    )


def test_the_circuit_breaker_counts_what_earlier_rounds_of_the_run_hid():
    policy = {"shop": GuardPolicy(breaker_hide_pct=10, breaker_min_items=5)}
    alone = hold_risky_changes(_hides("shop", 6), {"shop": 100}, policy)
    assert alone.held.empty  # 6 of 100: under 10 %
    so_far = RoundsSoFar()
    so_far.add(PricingPlan(_hides("shop", 6), pd.DataFrame()), {"shop": _pushed("shop", 6)})
    assert so_far.breaker_counts() == {("shop", "hide"): 6}
    later = hold_risky_changes(
        _hides("shop", 6, start=50), {"shop": 100}, policy, earlier=so_far.breaker_counts()
    )
    assert len(later.held) == 6 and later.push.empty  # 12 of 100 over the run: tripped
    assert "would hide 12 of 100" in later.held["reason"].iloc[0]


def test_a_run_of_rounds_reports_each_change_once_and_what_its_rounds_spent():
    so_far = RoundsSoFar()
    failed_then = PushResult("shop", calls=2, failed=[])
    so_far.add(PricingPlan(_hides("shop", 2), pd.DataFrame()), {"shop": failed_then})
    so_far.add(PricingPlan(_hides("shop", 3), pd.DataFrame()), {"shop": _pushed("shop", 3)})
    plan, results = so_far.merged()
    assert sorted(plan.changes["base_item_id"]) == [0, 1, 2]  # planned twice, listed once
    assert results["shop"].calls == 5 and so_far.calls("shop") == 5
    assert [c.base_item_id for c in results["shop"].pushed] == [0, 1, 2]


def test_a_shop_that_lost_its_lock_in_one_round_is_sent_nothing_more_an_outage_is_tried_again():
    so_far = RoundsSoFar()
    lost = PushResult("shop", stopped_by="lock_lost", stop_reason="another run took the shop")
    outage = PushResult("other", stopped_by="base_outage", stop_reason="BASE answered 5 errors")
    so_far.add(PricingPlan(_hides("shop", 1), pd.DataFrame()), {"shop": lost, "other": outage})
    assert list(so_far.stopped()) == ["shop"]  # the outage's shop: the next round tries again
    assert so_far.stopped()["shop"].stop_reason == "another run took the shop"
    so_far.add(PricingPlan(_hides("other", 1), pd.DataFrame()), {"other": _pushed("other", 1)})
    _, results = so_far.merged()
    assert results["other"].stopped_by is None  # got past the outage: not reported as stopped
    assert results["shop"].stopped_by == "lock_lost"


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_a_long_run_hides_a_sell_out_while_its_fetch_goes_on(tmp_path, sqlite_url):
    scenario = Scenario.generate(
        30, 2, seed=5, out_of_stock_share=0, filtered_share=0, mispriced_share=0, hidden_share=0
    )
    with marketplace(tmp_path, sqlite_url, scenario) as sb:
        import_listings(source="base")
        first = sync(mode="stock")
        assert first["exit_code"] == 0 and first["changes"] == 0  # BASE already right
        gone = sorted(scenario.products)[:2]
        items = {(s.id, i.item_id) for s in scenario.shops for i in s.items if i.asin in gone}
        sb.drain_requests()
        timer = threading.Timer(3.0, lambda: [sb.sell_out(a) for a in gone])
        timer.start()
        started = time.monotonic()
        result = sync(mode="stock", budget_minutes=0.25, push_every_minutes=0.03)
        ended = time.monotonic()
        timer.join()
        log = sb.drain_requests()

    assert result["exit_code"] == 0 and ended - started >= 13  # it used its 15 s
    hides = [r for r in log if r.operation == "itemsEdit" and r.status == 200]
    assert {(str(r.shop_id), int(r.response["item"]["item_id"])) for r in hides} == items  # each once
    assert len(hides) == len(items)
    for r in hides:  # pushed by a round, long before the fetch ended...
        assert r.t - started < 11
        asin = next(
            a for (shop, item), a in _asins(scenario).items() if item == int(r.response["item"]["item_id"])
        )
        rechecks = [q for q in log if q.operation == "getItemOffers" and asin in q.asins and q.t < r.t]
        assert rechecks  # ...and only after its sell-out was re-checked
    state = base_state(sb)
    assert all(not state[key][1] for key in items)
    offers = [r for r in log if r.operation in ("getItemOffersBatch", "getItemOffers") and r.status == 200]
    assert sum(len(r.asins) for r in offers) > 2 * len(
        scenario.products
    )  # the fetch went on, round after round
    assert result["changes"] == len(items)  # the report counts every round's changes
    (row,) = rows(sqlite_url, "select exit_code from runs where mode = 'stock' order by id desc limit 1")
    assert row[0] == 0


def test_credentials_refused_mid_run_still_report_what_earlier_rounds_pushed(tmp_path, sqlite_url):
    """A served loop that learns mid-run that the LWA secret was rotated (its hourly token lapsed)
    stops with exit 2, and its report and run record still count the hides its rounds pushed."""
    scenario = Scenario.generate(
        30, 2, seed=5, out_of_stock_share=0, filtered_share=0, mispriced_share=0, hidden_share=0
    )
    with marketplace(tmp_path, sqlite_url, scenario) as sb:
        import_listings(source="base")
        assert sync(mode="stock")["changes"] == 0
        gone = sorted(scenario.products)[:2]
        items = {(s.id, i.item_id) for s in scenario.shops for i in s.items if i.asin in gone}
        sb.clear_requests()
        done = threading.Event()

        def seen(operation: str) -> int:
            return sum(1 for r in sb.requests if r.operation == operation and r.status == 200)

        def market() -> None:  # sell out once the fetch runs; rotate once the hides are on BASE
            while seen("getItemOffersBatch") == 0 and not done.wait(0.02):
                pass
            for asin in gone:
                sb.sell_out(asin)
            while seen("itemsEdit") < len(items) and not done.wait(0.02):
                pass
            sb.rotate_lwa_secret()
            sb.expire_tokens()

        thread = threading.Thread(target=market, daemon=True)
        thread.start()
        try:
            result = sync(mode="stock", budget_minutes=0.5, push_every_minutes=0.03)
        finally:
            done.set()
            thread.join(timeout=10)

    assert result["exit_code"] == 2 and "LWA_CLIENT_SECRET" in result["error"]
    assert result["changes"] == len(items)  # the rounds' hides, not 0
    assert "非公開" in result["report"] and all(str(item) in result["report"] for _, item in items)
    (row,) = rows(
        sqlite_url, "select exit_code, counts from runs where mode = 'stock' order by id desc limit 1"
    )
    assert row[0] == 2 and json.loads(row[1])["changes"] == len(items)


def _asins(scenario: Scenario) -> dict[tuple[str, int], str]:
    return {(s.id, i.item_id): i.asin for s in scenario.shops for i in s.items}


def test_the_interval_comes_from_the_flag_the_parameter_or_the_setting(tmp_path):
    from datetime import timedelta

    from ecauto_lib.config import load_settings
    from ecauto_lib.errors import ConfigError
    from flows.sync import parse_args, with_budget
    from tests.test_config import ACCOUNT, env

    assert parse_args(["--budget-minutes", "58", "--push-every-minutes", "5"]).push_every_minutes == 5
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--push-every-minutes", "-1"])
    assert exit_.value.code == 2
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"accounts": [ACCOUNT]}), encoding="utf-8")
    settings = load_settings(env(accounts, ECAUTO_PUSH_EVERY_MINUTES="7"), dotenv_path=None)
    assert settings.policy.push_every == timedelta(minutes=7)
    assert with_budget(settings, 58, None).policy.push_every == timedelta(minutes=7)  # the setting
    assert with_budget(settings, 58, 5).policy.push_every == timedelta(minutes=5)  # the parameter wins
    with pytest.raises(ConfigError, match="push_every_minutes"):
        with_budget(settings, 58, 2000)


def _confirm_a_held_rise_while_a_sync_holds_the_shops(sb, sqlite_url) -> tuple[int, dict]:
    """Import, raise one Amazon price by 84 % (held for review), then run --confirm while the
    shops are locked as by the hourly loop: the held item's id and what --confirm returned."""
    import sqlalchemy as sa

    from ecauto_lib.db.locks import account_locks
    from tests.marketplace import item_id_of

    import_listings(source="base")
    sb.set_price("B07YV55TNL", 4000)
    item = item_id_of(sb, "base_account_1", "B07YV55TNL")
    assert sync()["held"] == 1
    engine = sa.create_engine(sqlite_url)
    try:
        with account_locks(engine, ["base_account_1", "base_account_2"]):  # an hourly sync runs
            return item, sync(confirm=True)
    finally:
        engine.dispose()


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_a_confirm_that_finds_a_sync_running_asks_it_to_release_the_held_changes(tmp_path, sqlite_url):
    """The hourly loop holds the shops 58 minutes of each hour: --confirm (or sync-once with
    confirm=true) then records a release request, and the sync holding them releases it."""
    with marketplace(tmp_path, sqlite_url) as sb:
        item, asked = _confirm_a_held_rise_while_a_sync_holds_the_shops(sb, sqlite_url)
        assert asked["exit_code"] == 0 and asked["release_requested"]
        assert "next round" in asked["report"] and "保留中の変更" in asked["report"]
        assert sb.item("base_account_1", item)["price"] == 2830  # nothing pushed by the request
        assert rows(sqlite_url, "select account_id from release_requests order by 1") == [
            ("base_account_1",),
            ("base_account_2",),
        ]
        later = sync()  # the sync holding the shops: its next round (here: its push) releases them
        assert later["held"] == 0
        assert (sb.item("base_account_1", item)["price"], sb.item("base_account_1", item)["visible"]) == (
            5200,
            1,
        )
        assert rows(sqlite_url, "select count(*) from release_requests") == [(0,)]  # taken once


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_a_release_request_outlives_a_round_whose_push_failed(tmp_path, sqlite_url):
    """A request is closed only once the changes it released are on BASE: if BASE refuses the
    push (an outage here; a crash before the push alike), the next run releases them again
    rather than holding them for a second --confirm."""
    with marketplace(tmp_path, sqlite_url) as sb:
        item, asked = _confirm_a_held_rise_while_a_sync_holds_the_shops(sb, sqlite_url)
        assert asked["release_requested"]
        sb.set_faults(base_5xx_rate=1.0, base_operations=("itemsEdit",))  # every edit answers 503
        failed = sync()
        assert failed["accounts"]["base_account_1"]["errors"] >= 1
        assert sb.item("base_account_1", item)["price"] == 2830  # BASE has nothing of it
        # base_account_1's released change failed: still asked for; base_account_2 had nothing
        # held, so nothing it asked for is missing: closed
        assert rows(sqlite_url, "select account_id from release_requests") == [("base_account_1",)]
        # and the change is still stored as held (as a crash before the push would leave it)
        assert rows(sqlite_url, "select account_id, field, new_value from held_changes") == [
            ("base_account_1", "price", 5200)
        ]
        sb.set_faults(base_5xx_rate=0.0)
        later = sync()
        assert later["held"] == 0
        assert (sb.item("base_account_1", item)["price"], sb.item("base_account_1", item)["visible"]) == (
            5200,
            1,
        )
        assert rows(sqlite_url, "select count(*) from release_requests") == [(0,)]
