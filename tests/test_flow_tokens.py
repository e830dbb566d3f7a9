"""Token health in sync runs: a dead shop stops alone and is revived by connect_shop; warnings before
a refresh token or the LWA secret is expected to lapse, on the simulator's virtual clock."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from ecauto_lib import db
from ecauto_lib.base.authorize import RedirectAnswer
from ecauto_lib.config import load_settings
from ecauto_lib.shop_connect import finish
from ecauto_sandbox import VirtualClock
from ecauto_sandbox.probe import SandboxProbe
from flows.connect_shop import main as connect_shop
from flows.import_listings import import_listings
from flows.sync import sync
from tests.marketplace import base_state, calls, db_state, last_run, marketplace
from tests.test_sandbox_auth import FakeMonotonic

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

DEAD, ALIVE = "base_account_1", "base_account_2"
COMMAND = "python flows/connect_shop.py --account base_account_1"


def token_calls(sb, shop_id: str, since: int = 0) -> list:
    return [r for r in calls(sb, "baseToken", since) if r.shop_id == shop_id]


def edited(sb, shop_id: str, since: int = 0) -> int:
    return sum(1 for r in calls(sb, "itemsEdit", since) if r.shop_id == shop_id and r.status == 200)


def test_a_dead_shop_stops_alone_is_named_and_is_revived_by_connect_shop(
    tmp_path, sqlite_url, caplog, capsys
):
    caplog.set_level(logging.WARNING)
    with marketplace(tmp_path, sqlite_url) as sb:
        import_listings(source="base")
        sb.expire_refresh_tokens(DEAD)  # BASE lets shop 1's refresh token lapse
        sb.expire_tokens()
        start = len(sb.requests)

        first = sync()
        assert first["exit_code"] == 1
        assert len(token_calls(sb, DEAD, start)) == 1  # refused once, never asked again
        assert edited(sb, DEAD, start) == 0 and edited(sb, ALIVE, start) == 4  # the other shop's work goes on
        report = first["report"]
        assert "base_account_1 (森のBAZAAR)" in report and COMMAND in report
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "base_account_1 (森のBAZAAR)" in logged and COMMAND in logged
        status, exit_code, counts = last_run(sqlite_url)
        assert (status, exit_code, counts["needs_reauthorisation"]) == ("finished_with_failures", 1, [DEAD])

        again_start = len(sb.requests)
        again = sync()  # still dead: no retry storm, in this run or the next
        assert again["exit_code"] == 1 and token_calls(sb, DEAD, again_start) == []
        assert COMMAND in again["report"]

        # The seller re-authorises: one command, no DB surgery.
        assert connect_shop(["--account", DEAD, "--code=" + sb.authorize(DEAD)]) == 0
        assert "BASE shop '森のBAZAAR'" in capsys.readouterr().out
        revived = sync()
        assert revived["exit_code"] == 0, revived["report"]
        assert COMMAND not in revived["report"]
        assert db_state(sqlite_url) == base_state(sb)  # shop 1's changes went through at last
        assert last_run(sqlite_url)[2]["needs_reauthorisation"] == []


@pytest.mark.parametrize("rotate", [False, True])
def test_runs_warn_seven_days_before_the_refresh_token_is_expected_to_lapse(
    tmp_path, sqlite_url, caplog, rotate
):
    """The simulator's clock starts 24 days ago; the shops are connected then, the clock moves to now."""
    caplog.set_level(logging.WARNING)
    fake = FakeMonotonic()
    clock = VirtualClock(1.0, datetime.now(UTC) - timedelta(days=24), monotonic=fake)
    rotated = (date.today() - timedelta(days=170)).isoformat()  # LWA secret: 10 days left
    with marketplace(
        tmp_path,
        sqlite_url,
        speed=1.0,
        clock=clock,
        enforce_quotas=False,  # a frozen virtual clock refills no bucket
        rotate_refresh_tokens=rotate,
        extra_env={"LWA_SECRET_ROTATED_AT": rotated},
    ) as sb:
        settings = load_settings(require_sp_api=False)
        engine = db.make_engine(sqlite_url)
        db.upgrade(engine)
        store = db.DbTokenStore(engine)
        for account in settings.accounts:
            code = sb.authorize(account.id)
            finish(settings, account, store, RedirectAnswer(code=code), clock=lambda: sb.now().timestamp())
        fake.advance(24 * 86400)  # virtual now = real now
        import_listings(source="base")
        result = sync()

        warning = "the BASE refresh token is expected to lapse in 6 days"
        lwa = "LWA_CLIENT_SECRET: Amazon retires it on"
        assert lwa in result["report"] and "LWA_SECRET_ROTATED_AT" in result["report"]
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert lwa in logged
        if rotate:  # every refresh handed back a new refresh token: 30 days from today
            assert warning not in result["report"] and warning not in logged
            assert result["exit_code"] == 0
            return
        for account in settings.accounts:  # the same token came back: its 30 days run from the connect
            message = f"{account.id} ({account.name}): {warning}"
            assert message in result["report"] and message in logged
            assert f"python flows/connect_shop.py --account {account.id}" in result["report"]
        assert result["exit_code"] == 0  # a warning, not a failure
        # and the simulated BASE does refuse that token six days later
        fake.advance(6 * 86400)
        current = sb.current_refresh_token(DEAD)
        assert SandboxProbe(sb).base_token(DEAD, refresh_token=current).json()["error_description"] == (
            "リフレッシュトークンの有効期限が切れています。"
        )
