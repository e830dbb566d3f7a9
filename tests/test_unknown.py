"""Unknown forever (issue #11 §3): a listing unknown for longer than ECAUTO_UNKNOWN_HIDE_HOURS is hidden."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ecauto_lib.config import SyncMode, SyncPolicy, load_settings
from ecauto_lib.errors import ConfigError
from ecauto_lib.guards import hold_risky_changes
from ecauto_lib.pricing import plan_changes
from tests.frames import listings_frame

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
POLICY = SyncPolicy(unknown_hide_after=timedelta(hours=24))


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def row(asin, *, outcome="error", answered=None, listed=48, visible=True, state="in_stock", **extra):
    return {
        "asin": asin,
        "stock_state": state,
        "amazon_price_yen": 1000 if state == "in_stock" else None,
        "base_price": 1300,
        "base_visible": visible,
        "last_outcome": outcome,
        "stock_fetched_at": None if answered is None else ago(answered),
        "listed_at": ago(listed),
        **extra,
    }


def visibility(rows, policy=POLICY, mode=SyncMode.FULL):
    plan = plan_changes(listings_frame(rows), policy, {}, mode, now=NOW)
    vis = plan.changes[plan.changes["field"].eq("visible")]
    return dict(zip(vis["asin"], zip(vis["new_value"], vis["reason"], strict=True), strict=True))


def test_unknown_since_the_last_good_answer_for_longer_than_the_limit_hides():
    changes = visibility(
        [
            row("B000000001", answered=25),  # errors for 25 h after an in-stock answer
            row("B000000002", answered=23),  # 23 h: not yet
            row("B000000003", answered=30, visible=False),  # already hidden: nothing to do
            row("B000000004", outcome="in_stock", answered=30),  # a good (if stale) answer: known
            row("B000000005", answered=26.5, state="out_of_stock"),  # hidden anyway, as sold out
        ]
    )
    assert changes == {
        "B000000001": (0, "Amazon stock unknown for 25 h (since the last good answer; limit 24 h)"),
        "B000000005": (0, "amazon out_of_stock"),
    }


def test_never_answered_counts_from_when_it_was_listed():
    changes = visibility(
        [
            row("B000000001", outcome=None, state="unknown", listed=30),
            row("B000000002", outcome="error", state="unknown", listed=30),
            row("B000000003", outcome=None, state="unknown", listed=2),
        ]
    )
    assert changes == {
        "B000000001": (0, "Amazon stock unknown for 30 h (never answered since listed; limit 24 h)"),
        "B000000002": (0, "Amazon stock unknown for 30 h (never answered since listed; limit 24 h)"),
    }


def test_a_good_in_stock_answer_publishes_it_again_and_zero_means_never():
    assert visibility([row("B000000001", outcome="in_stock", answered=0.1, visible=False)]) == {
        "B000000001": (1, "amazon back in stock")
    }
    never = SyncPolicy(unknown_hide_after=None)
    assert visibility([row("B000000001", answered=1000)], policy=never) == {}


def test_fractional_limits_and_price_only_runs_hide_nothing_for_unknown():
    half = SyncPolicy(unknown_hide_after=timedelta(hours=0.5))
    assert visibility([row("B000000001", answered=0.75)], policy=half) == {
        "B000000001": (0, "Amazon stock unknown for 0.8 h (since the last good answer; limit 0.5 h)")
    }
    assert visibility([row("B000000001", answered=25)], mode=SyncMode.PRICE) == {}


def test_the_circuit_breaker_holds_a_shop_wide_unknown():
    rows = [row(f"B00000000{i}", answered=25) for i in range(8)]  # an SP-API outage for a day
    plan = plan_changes(listings_frame(rows), POLICY, {}, SyncMode.STOCK, now=NOW)
    outcome = hold_risky_changes(plan.changes, {"acc1": 8}, {})
    assert outcome.push.empty and len(outcome.held) == 8
    assert outcome.held["reason"].iloc[0].startswith("circuit breaker: this run would hide 8 of 8 listings")


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, timedelta(hours=24)), ("0.5", timedelta(minutes=30)), ("0", None)]
)
def test_the_setting(tmp_path, raw, expected):
    (tmp_path / "a.json").write_text(
        '{"accounts": [{"id": "s", "name": "n", "client_id": "c", "client_secret": "x", '
        '"redirect_uri": "https://x.invalid/cb", "refresh_token": "r"}]}'
    )
    env = {"ECAUTO_ACCOUNTS_FILE": str(tmp_path / "a.json")}
    if raw is not None:
        env["ECAUTO_UNKNOWN_HIDE_HOURS"] = raw
    assert load_settings(env, dotenv_path=None, require_sp_api=False).policy.unknown_hide_after == expected
    for bad in ("-1", "soon", "100000"):
        with pytest.raises(ConfigError, match="ECAUTO_UNKNOWN_HIDE_HOURS"):
            load_settings({**env, "ECAUTO_UNKNOWN_HIDE_HOURS": bad}, dotenv_path=None, require_sp_api=False)
