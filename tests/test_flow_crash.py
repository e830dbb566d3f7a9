"""Crash safety end to end: a run dies mid-push, the next one finishes with nothing lost or sent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ecauto_lib.config import SyncMode
from ecauto_lib.db import locks
from ecauto_sandbox import Scenario
from flows.import_listings import import_listings
from flows.sync import Options, run, sync
from tests.marketplace import base_state, calls, db_state, edits_per_change, marketplace, rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

ROOT = Path(__file__).resolve().parent.parent


def test_crash_between_base_confirming_and_the_db_write_is_recovered_without_resending(
    tmp_path, sqlite_url, monkeypatch
):
    from tasks import base as base_tasks

    with marketplace(tmp_path, sqlite_url) as sb:
        import_listings(source="base")
        real = base_tasks.journal.record_confirmed
        seen = {"n": 0}

        def crash_on_third(*args, **kwargs):
            seen["n"] += 1
            if seen["n"] == 3:
                raise RuntimeError("simulated crash after BASE confirmed")
            return real(*args, **kwargs)

        monkeypatch.setattr(base_tasks.journal, "record_confirmed", crash_on_third)
        first = sync()
        assert first["exit_code"] == 1
        pending = rows(sqlite_url, "select base_item_id from push_journal where status = 'sent'")
        assert len(pending) == 1  # BASE has it, the DB does not
        monkeypatch.setattr(base_tasks.journal, "record_confirmed", real)

        sb.clear_requests()
        second = sync()
        assert second["exit_code"] == 0
        assert [r.operation for r in calls(sb, "itemsDetail")] == ["itemsDetail"]  # asked, not re-sent
        item = int(pending[0][0])
        assert not [r for r in calls(sb, "itemsEdit") if int(r.body["item_id"]) == item]
        assert rows(sqlite_url, "select status from push_journal where base_item_id = :i", i=item) == [
            ("recovered",)
        ]
        assert db_state(sqlite_url) == base_state(sb)


def test_a_second_sync_for_a_busy_account_says_so_and_exits(tmp_path, sqlite_url, capsys):
    from ecauto_lib.db import make_engine

    with marketplace(tmp_path, sqlite_url) as sb:
        import_listings(source="base")
        engine = make_engine(sqlite_url)
        with locks.account_locks(engine, ["base_account_2"]):  # this (live) process holds the account
            sb.clear_requests()
            code = run(Options(mode=SyncMode.FULL, dry_run=False, accounts=None, limit=None, demo=False))
        assert code == 3
        assert "already running for account 'base_account_2'" in capsys.readouterr().err
        assert not sb.requests  # nothing was fetched or pushed
        engine.dispose()


@pytest.mark.parametrize("kill_after_edits", [3, 11])
def test_kill_9_mid_push_then_a_clean_rerun(tmp_path, sqlite_url, kill_after_edits):
    """A real ``kill -9`` of ``python flows/sync.py`` once N edits reached BASE, then a rerun."""
    from prefect.settings import PREFECT_API_URL

    scenario = Scenario.generate(n_asins=40, n_shops=2, seed=11, mispriced_share=0.8)
    extra = {"ECAUTO_RECHECK_SELL_OUTS": "false"}
    with marketplace(tmp_path, sqlite_url, scenario, extra_env=extra) as sb:
        import_listings(source="base")
        sb.clear_requests()
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "PREFECT_LOGGING_LEVEL": "ERROR"}
        log = (tmp_path / "child.log").open("w")
        child = subprocess.Popen(
            [sys.executable, str(ROOT / "flows" / "sync.py")],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        try:
            while len(calls(sb, "itemsEdit")) < kill_after_edits:
                if child.poll() is not None:
                    log.close()
                    raise AssertionError(
                        "the run ended before it could be killed:\n"
                        + (tmp_path / "child.log").read_text()[-3000:]
                    )
                assert time.monotonic() < deadline
                time.sleep(0.002)
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL

        sync()  # the rerun: settles the journal, takes over the dead run's locks, finishes the job
        assert sync()["changes"] == 0  # nothing left to do
        assert db_state(sqlite_url) == base_state(sb)  # the DB agrees with BASE item by item
        sent = edits_per_change(sb)
        assert sent and max(sent.values()) == 1, [k for k, v in sent.items() if v > 1]  # nothing sent twice
        assert rows(sqlite_url, "select count(*) from push_journal where status = 'sent'")[0][0] == 0


def test_a_run_whose_shop_lock_was_taken_over_stops_pushing_at_once(tmp_path, sqlite_url, monkeypatch):
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from tasks import base as base_tasks

    scenario = Scenario.generate(n_asins=40, n_shops=1, seed=11, mispriced_share=0.8)
    with marketplace(tmp_path, sqlite_url, scenario, extra_env={"ECAUTO_RECHECK_SELL_OUTS": "false"}) as sb:
        import_listings(source="base")
        shop = sb.shops[0].id
        real = base_tasks.journal.record_sending
        sent = {"n": 0}

        def taken_over_after_two(engine, run_id, update, at):
            sent["n"] += 1
            if sent["n"] == 3:  # another run takes the shop over (say, its heartbeats looked stale)
                with engine.begin() as conn:
                    conn.execute(sa.text("delete from account_locks where account_id = :a"), {"a": shop})
                    conn.execute(
                        sa.text(
                            "insert into account_locks (account_id, holder, acquired_at, heartbeat_at) "
                            "values (:a, 'elsewhere:1', :t, :t)"
                        ),
                        {"a": shop, "t": datetime.now(UTC).replace(tzinfo=None)},
                    )
            return real(engine, run_id, update, at)

        monkeypatch.setattr(base_tasks.journal, "record_sending", taken_over_after_two)
        sb.clear_requests()
        result = sync()
        assert len(calls(sb, "itemsEdit")) == 2  # the two edits sent before the takeover, no more
        assert result["accounts"][shop]["stopped_by"] == "lock_lost"
        assert result["exit_code"] == 1


def test_reconcile_waits_its_turn_a_shop_another_run_holds_is_not_repaired(tmp_path, sqlite_url):
    from ecauto_lib.db import make_engine
    from flows.reconcile import reconcile

    with marketplace(tmp_path, sqlite_url) as sb:
        import_listings(source="base")
        shop = "base_account_1"
        item = sb.items(shop)[0]["item_id"]
        with sb.state.lock:  # drift to repair: the seller changed a price in BASE's admin
            sb.state.live_item(shop, item).price = 3333
            sb.state.touch_shop(shop)
        engine = make_engine(sqlite_url)
        before = rows(sqlite_url, "select base_price from listings where base_item_id = :i", i=item)
        with locks.account_locks(engine, [shop]), pytest.raises(locks.AlreadyRunningError):
            reconcile()  # a sync is pushing this shop: reconcile must not write beside it
        assert rows(sqlite_url, "select base_price from listings where base_item_id = :i", i=item) == before
        assert reconcile()["exit_code"] == 1  # free again: repaired
        assert rows(sqlite_url, "select base_price from listings where base_item_id = :i", i=item) == [
            (3333,)
        ]
        engine.dispose()
