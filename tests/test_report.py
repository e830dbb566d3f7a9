"""The run report: the outcome rule (exit code, status, why), the markdown sections, the artifact tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from ecauto_lib.config import SyncMode, SyncPolicy
from ecauto_lib.domain import FailedItem, Observation, Outcome
from ecauto_lib.guards import GuardPolicy, hold_risky_changes
from ecauto_lib.outcome import Attention, AttentionReason, RunStatus, ShopRefusal, run_outcome
from ecauto_lib.pricing import keep_above_floor, plan_changes
from ecauto_lib.push import PushResult
from ecauto_lib.report import RunReport, conclude, render_markdown, summarise
from ecauto_lib.report.model import AccountSummary
from ecauto_lib.report.tables import change_table, flagged_and_failed_table, held_table
from ecauto_lib.token_health import ShopBlock
from tests.frames import listings_frame

T0 = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
SHOPS = [SimpleNamespace(id="a", name="森のBAZAAR")]


def shop(account_id="a", *, errors=0, deferred=0, held=0, stopped_by=None) -> AccountSummary:
    return AccountSummary(
        account_id, account_id, errors=errors, deferred=deferred, held=held, stopped_by=stopped_by
    )


# -- the outcome rule ---------------------------------------------------------------------------


def test_a_run_with_nothing_to_tell_succeeds():
    outcome = run_outcome(stopped=None, fetch_failures=0, shops=[shop(), shop("b")])
    assert (outcome.exit_code, outcome.status, outcome.reasons) == (0, RunStatus.SUCCEEDED, ())
    assert not outcome.needs_attention


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        ({"fetch_failures": 3}, AttentionReason(Attention.FETCH_FAILED, 3)),
        ({"shops": [shop(errors=2)]}, AttentionReason(Attention.PUSH_FAILED, 2, "a")),
        (
            {"shops": [shop(deferred=4, stopped_by="hour_api_limit")]},
            AttentionReason(Attention.DEFERRED, 4, "a", "hour_api_limit"),
        ),
        ({"shops": [shop(held=1)]}, AttentionReason(Attention.HELD, 1, "a")),
        (
            {"refused": [ShopRefusal("a", True, "run connect_shop")]},
            AttentionReason(Attention.NEEDS_REAUTHORISATION, 1, "a", "run connect_shop"),
        ),
        ({"refused": [ShopRefusal("a", False)]}, AttentionReason(Attention.APP_REFUSED, 1, "a")),
    ],
)
def test_each_kind_of_trouble_makes_the_run_finish_with_failures_and_says_which(facts, reason):
    outcome = run_outcome(**{"stopped": None, "fetch_failures": 0, "shops": [shop()], **facts})
    assert (outcome.exit_code, outcome.status) == (1, RunStatus.FINISHED_WITH_FAILURES)
    assert outcome.reasons == (reason,)


def test_a_stopped_run_fails_with_exit_code_2_whatever_else_happened():
    outcome = run_outcome(stopped="LWA_CLIENT_SECRET: refused", fetch_failures=2, shops=[])
    assert (outcome.exit_code, outcome.status) == (2, RunStatus.FAILED)
    assert outcome.of_kind(Attention.CREDENTIALS_REFUSED)[0].detail == "LWA_CLIENT_SECRET: refused"
    assert [r.kind for r in outcome.reasons] == [Attention.CREDENTIALS_REFUSED, Attention.FETCH_FAILED]


def test_breaker_holds_are_told_apart_from_the_other_holds_per_shop_and_kind():
    outcome = run_outcome(
        stopped=None,
        fetch_failures=0,
        shops=[shop(held=7), shop("b", held=1)],
        breaker_holds=[("a", "hide")] * 6,
    )
    assert outcome.reasons == (
        AttentionReason(Attention.HELD, 7, "a"),
        AttentionReason(Attention.BREAKER_TRIPPED, 6, "a", "hide"),
        AttentionReason(Attention.HELD, 1, "b"),
    )


# -- building it from a plan and the pushes -----------------------------------------------------


def _plan():
    """Six listings of shop a: one held rise (hidden by the floor), five sell-outs (a breaker trip)."""
    rows = [
        {"asin": "B000000001", "stock_state": "in_stock", "amazon_price_yen": 4000, "base_price": 2830},
        *(
            {"asin": f"B00000001{i}", "stock_state": "out_of_stock", "base_price": 1000, "base_visible": True}
            for i in range(5)
        ),
    ]
    listings = listings_frame([{**r, "account_id": "a"} for r in rows])
    policy = SyncPolicy()
    plan = plan_changes(listings, policy, {}, SyncMode.FULL)
    guards = {"a": GuardPolicy(breaker_hide_pct=50, breaker_min_items=5)}
    outcome = hold_risky_changes(plan.changes, {"a": len(listings)}, guards)
    plan = replace(plan, changes=outcome.push, held=outcome.held, released=outcome.released)
    return listings, keep_above_floor(plan, listings, policy)


def _report(results, *, dry_run=False, observations=()):
    listings, plan = _plan()
    report = RunReport(mode="full", dry_run=dry_run, started_at=T0, run_id=None if dry_run else 3)
    report.fetch.listings = report.fetch.asins = len(listings)
    report.fetch.add_outcomes([str(o.outcome) for o in observations], [o.reason for o in observations])
    summarise(report, SHOPS, listings, list(observations), plan, results)
    return report


def test_the_report_holds_typed_rows_and_the_outcome_names_each_reason():
    update = plan_updates()[0]
    failed = FailedItem("a", update.asin, update.base_item_id, dict(update.fields), "validation_error", "no")
    error = Observation("B000000099", Outcome.ERROR, T0, reason="HTTP 500 InternalFailure: down")
    report = _report({"a": PushResult("a", failed=[failed], calls=1)}, observations=[error])
    assert [(c.asin, c.field, c.new_value, c.result) for c in report.changes] == [
        ("B000000001", "visible", 0, "failed: validation_error")
    ]
    assert [(h.asin, h.field) for h in report.held] == [("B000000001", "price")] + [
        (f"B00000001{i}", "visible") for i in range(5)
    ]
    assert [f.error for f in report.failures] == ["fetch", "validation_error"]
    assert report.exit_code == 1 and report.outcome.status is RunStatus.FINISHED_WITH_FAILURES
    assert [(r.kind, r.count, r.account_id, r.detail) for r in report.outcome.reasons] == [
        (Attention.FETCH_FAILED, 1, None, ""),
        (Attention.PUSH_FAILED, 1, "a", ""),
        (Attention.HELD, 6, "a", ""),
        (Attention.BREAKER_TRIPPED, 5, "a", "hide"),
    ]
    assert report.counts()["attention"][3] == {
        "kind": "breaker_tripped",
        "count": 5,
        "account_id": "a",
        "detail": "hide",
    }


def plan_updates():
    return _plan()[1].updates()


def test_a_shop_blocked_by_base_is_a_reason_and_a_notice():
    report = _report({})
    report.blocked = [ShopBlock("a", "a (森のBAZAAR): refused; run connect_shop", reauthorise=True)]
    conclude(report)
    assert report.outcome.of_kind(Attention.NEEDS_REAUTHORISATION)[0].account_id == "a"
    assert "## ⚠️ 要対応 (action needed)" in render_markdown(report)


# -- the markdown -------------------------------------------------------------------------------


def test_the_markdown_has_each_section_in_order_with_the_release_command():
    markdown = render_markdown(_report({}, dry_run=True))
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert headings == [
        "# 実行結果レポート (EC Auto run report)",
        "## 実行サマリー (summary)",
        "## Step 1: キャッシュ検証・差分補完 (TTL diff + SP-API fetch)",
        "## Step 2-3: 価格同期・在庫同期 (price, visibility and stock push, per account)",
        "## 変更一覧 (changes, 1)",
        "## 下限割れ非公開 (below the floor, not public until the price is in place: 1)",
        "## 確認待ち (held for review: 6; release with `python flows/sync.py --confirm`)",
    ]
    assert "DRY RUN" in markdown and "| B000000001 | - | a | 1000 | visible | 公開 | 非公開 |" in markdown
    assert "**完了・一部失敗 ⚠️ (finished with item failures)**" in markdown


def test_a_stopped_run_says_why_and_fails():
    report = RunReport(mode="stock", dry_run=False, started_at=T0, error="LWA_CLIENT_SECRET: refused")
    conclude(report)
    markdown = render_markdown(report)
    assert "**❌ 停止 (stopped)**: LWA_CLIENT_SECRET: refused" in markdown
    assert "**設定エラー ❌ (configuration error)**" in markdown and report.exit_code == 2


# -- the artifact tables ------------------------------------------------------------------------


def test_held_changes_have_a_table_of_their_own_with_the_guard_that_held_each():
    report = _report({})
    rows = held_table(report)
    assert [(r["asin"], r["field"], r["new_value"], r["guard"]) for r in rows] == [
        ("B000000001", "price", 5200, "price move")
    ] + [(f"B00000001{i}", "visible", 0, "circuit breaker") for i in range(5)]
    assert rows[0]["reason"] == "価格変動 84% が ±30% を超えるため確認待ち (price move)"
    kinds = [r["kind"] for r in flagged_and_failed_table(report)]
    assert kinds == ["below floor"]  # the held changes are in sync-held only


def test_the_changes_table_keeps_its_columns():
    rows = change_table(_report({}, dry_run=True))
    assert list(rows[0]) == [
        "asin",
        "account_id",
        "base_item_id",
        "variation_id",
        "field",
        "old_value",
        "new_value",
        "reason",
        "result",
        "title",
    ]
    assert rows[0]["result"] == "予定 (planned, dry run)"


def test_the_readme_names_every_kind_of_attention():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert [kind for kind in Attention if f"`{kind}`" not in readme] == []


# -- what the seller reads: Japan time, titles, Japanese words, 80 columns (#15 §3) -------------


def test_times_are_shown_in_japan_time_while_the_record_stays_utc():
    report = _report({})
    markdown = render_markdown(report)
    assert "| 開始時刻 (started) | 2026-11-29 12:00:00 JST |" in markdown
    assert report.started_at.utcoffset().total_seconds() == 0  # the run record's time: UTC


def test_each_change_shows_its_title_and_reasons_and_results_in_japanese():
    report = _report({})
    report.titles = {"B000000001": "ねこじゃらし 猫用おもちゃ 5本セット"}
    markdown = render_markdown(report)
    assert "ねこじゃらし 猫用おもちゃ 5本セット" in markdown
    assert "在庫切れ (out_of_stock)" in markdown and "amazon out_of_stock" not in markdown
    assert "未送信 (not sent)" in markdown
    rows = change_table(report)
    assert rows[0]["title"] == "ねこじゃらし 猫用おもちゃ 5本セット"
    assert rows[0]["reason"].startswith("下限割れ (below floor: BASE ¥2,830")


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("amazon out_of_stock", "在庫切れ (out_of_stock)"),
        ("amazon filtered_out", "48時間以内に発送できる新品の出品なし (filtered_out)"),
        ("amazon back in stock", "在庫復活 (back in stock)"),
        ("amazon ¥5,980 × 1.3", "Amazon価格 ¥5,980 × 掛け率 1.3 (amazon price × markup)"),
        (
            "circuit breaker: this run would hide 3 of 5 listings (60% > 30%); nothing of the kind was "
            "pushed (run with --confirm to release); planned because: amazon out_of_stock",
            "サーキットブレーカーで確認待ち (circuit breaker: this run would hide 3 of 5 listings "
            "(60% > 30%); planned because: 在庫切れ (out_of_stock))",
        ),
        (
            "Amazon stock unknown for 25 h (since the last good answer; limit 24 h)",
            "Amazonの在庫が不明のまま上限を超えたため非公開 "
            "(Amazon stock unknown for 25 h (since the last good answer; limit 24 h))",
        ),
        (
            "released with --confirm: amazon out_of_stock",
            "確認により解除 (released with --confirm): 在庫切れ (out_of_stock)",
        ),
    ],
)
def test_reasons_read_in_japanese_with_the_english_key_term(reason, words):
    from ecauto_lib.report.words import reason_text

    assert reason_text(reason, max_delivery_hours=48) == words


def test_held_changes_are_in_the_changes_table_marked_held_and_not_left_out():
    report = _report({})
    held = [r for r in change_table(report) if r["result"].startswith("確認待ち")]
    assert [(r["asin"], r["field"]) for r in held] == [("B000000001", "price")] + [
        (f"B00000001{i}", "visible") for i in range(5)
    ]
    assert held[1]["result"] == "確認待ち (held: circuit breaker)"
    assert "確認待ち 6件" in render_markdown(report)  # the changes section says where they are


def test_the_release_hint_names_the_deployment_parameter_in_a_deployment_run():
    report = _report({})
    assert "`python flows/sync.py --confirm`" in render_markdown(report)
    report.release_hint = "confirm=true"
    markdown = render_markdown(report)
    assert "`confirm=true`" in markdown and "--confirm`" not in markdown
    assert "--confirm" not in " ".join(r["reason"] for r in held_table(report))


def test_the_terminal_report_fits_80_columns_counting_wide_characters_as_two():
    from ecauto_lib.report import render_terminal
    from ecauto_lib.report.terminal import display_width

    report = _report({})
    report.titles = {"B000000001": "とても長い商品名" * 10}
    text = render_terminal(report, width=80)
    too_wide = [line for line in text.splitlines() if display_width(line) > 80]
    assert too_wide == []
    assert "とても長い商品名とても" in text and "…" in text  # the title, cut
    assert display_width("森のBAZAAR") == 10
    full = render_markdown(report)
    assert "とても長い商品名" * 10 in full  # the artifact keeps the whole title


def test_no_listings_is_a_reason_that_says_to_import_them_first():
    outcome = run_outcome(stopped=None, fetch_failures=0, shops=[shop()], listings=0)
    assert (outcome.exit_code, outcome.status) == (1, RunStatus.FINISHED_WITH_FAILURES)
    assert outcome.reasons[0].kind is Attention.NO_LISTINGS
    assert "flows/import_listings.py" in outcome.reasons[0].detail


def test_the_report_says_when_a_shops_breaker_was_not_armed_and_why():
    listings, plan = _plan()
    report = RunReport(mode="full", dry_run=True, started_at=T0)
    one = listings.head(1)
    summarise(report, SHOPS, one, [], plan, {}, guards={"a": GuardPolicy()})
    assert report.accounts[0].breaker_not_armed == (
        "1 listing: the circuit breaker needs at least 2 affected items, so it cannot trip in this shop"
    )
    assert "サーキットブレーカー未作動 (breaker not armed)" in render_markdown(report)


def test_the_terminal_keeps_a_cells_leading_ideographic_space():
    from ecauto_lib.report.terminal import fit_table

    lines = fit_table(["| 指標 | 件数 |", "|---|---|", "| 　在庫あり (in stock) | 9 |"], 80)
    assert lines[2].startswith("| 　在庫あり (in stock) |")
