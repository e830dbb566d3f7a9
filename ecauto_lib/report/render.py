"""The run report as markdown, in the format sellers know from the original system's report.

The same text is printed in the terminal and stored as the ``sync-summary`` artifact. Labels are
Japanese, as in the original report, with English glosses. One function per section, in the
order they appear; :func:`render_markdown` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ecauto_lib.base.budget import DAY_LIMIT, JST, next_daily_reset
from ecauto_lib.outcome import RunStatus
from ecauto_lib.pricing import FLOOR_HIDDEN, FLOOR_KEPT_HIDDEN
from ecauto_lib.report.model import AccountSummary, RunReport
from ecauto_lib.report.terminal import WIDTH, fit_to_width
from ecauto_lib.report.words import reason_text, result_text
from ecauto_lib.token_health import health_table

STATUS_TEXT = {
    RunStatus.SUCCEEDED: "完了 ✅ (succeeded)",
    RunStatus.FINISHED_WITH_FAILURES: "完了・一部失敗 ⚠️ (finished with item failures)",
    RunStatus.FAILED: "設定エラー ❌ (configuration error)",
}
MODE_TEXT = {
    "full": "完全同期 (full)",
    "price": "価格のみ (--price-only)",
    "stock": "在庫のみ (--stock-only)",
}
STOPPED_TEXT = {  # why a shop's push stopped early, in words the seller acts on (the daily limit: _budget_notes)
    "hour_api_limit": "BASEの1時間のAPI上限に達しました (hour_api_limit): the rest goes first next run",
    "budget": "この実行のAPI予算を使い切りました (hourly call budget spent): the rest goes first next run",
    "base_outage": "BASEが応答しません (5xx / timeouts in a row: BASE looks down): push stopped, "
    "the rest goes first next run",
    "lock_lost": "別の実行がこのショップのロックを引き継ぎました (another run took over this shop's lock): "
    "push stopped, the rest is that run's",
}
FLOOR_ACTION_TEXT = {FLOOR_HIDDEN: "非公開に変更 (hidden)", FLOOR_KEPT_HIDDEN: "非公開のまま (kept hidden)"}
CHANGES_SHOWN, ROWS_SHOWN = 200, 100  # rows of the changes table, and of the other tables, in the text


def render_markdown(report: RunReport) -> str:
    """The run summary as markdown (terminal and the Prefect ``sync-summary`` artifact)."""
    sections: tuple[Callable[[RunReport], list[str]], ...] = (
        header,
        run_summary,
        stopped,
        action_needed,
        fetch_section,
        accounts_section,
        tokens_section,
        changes_section,
        flagged_section,
        stock_skipped_section,
        below_floor_section,
        held_section,
        failures_section,
    )
    return "\n".join(line for section in sections for line in section(report)) + "\n"


def render_terminal(report: RunReport, width: int = WIDTH) -> str:
    """The run summary for a terminal: the same sections, every line within ``width`` columns
    (long titles and reasons cut with …; the artifacts keep them whole)."""
    return fit_to_width(render_markdown(report), width)


def header(report: RunReport) -> list[str]:
    mode = MODE_TEXT[report.mode]
    if report.dry_run:
        mode += " · DRY RUN (BASE・DBへの書き込みなし / nothing written)"
    if report.confirmed:
        mode += " · --confirm (確認待ちを解除 / held changes released)"
    return [
        "# 実行結果レポート (EC Auto run report)",
        "",
        f"**実行モード (mode)**: {mode}" + (f" · run #{report.run_id}" if report.run_id else ""),
    ]


LATE_START_SECONDS = 60  # a deployment run started this much after its schedule shows it


def run_summary(report: RunReport) -> list[str]:
    f = report.fetch
    scheduled = []  # a deployment run a minute or more late (a worker polls: a few seconds is usual)
    late = (report.started_at - report.scheduled_at).total_seconds() if report.scheduled_at else 0.0
    if late >= LATE_START_SECONDS:
        scheduled = [
            (
                "予定時刻 (scheduled)",
                f"{fmt_time(report.scheduled_at)} ({late / 60:.0f}分遅れ / {late / 60:.0f} min late)",
            )
        ]
    return [
        "",
        "## 実行サマリー (summary)",
        "",
        *table(
            ("項目", "結果"),
            [
                *scheduled,
                ("開始時刻 (started)", fmt_time(report.started_at)),
                ("終了時刻 (finished)", fmt_time(report.finished_at)),
                ("**実行時間 (duration)**", f"**{report.seconds:.1f}秒**"),
                ("処理ASIN数 (ASINs checked)", f.asins),
                ("出品数 (listings)", f.listings),
                ("総エラー数 (item failures)", f"**{report.item_failures}件**"),
                ("最終ステータス (status)", f"**{STATUS_TEXT[report.outcome.status]}**"),
            ],
        ),
    ]


def stopped(report: RunReport) -> list[str]:
    return ["", f"**❌ 停止 (stopped)**: {report.error}"] if report.error else []


def action_needed(report: RunReport) -> list[str]:
    notices = report.notices()
    return ["", "## ⚠️ 要対応 (action needed)", "", *(f"- {n}" for n in notices)] if notices else []


def fetch_section(report: RunReport) -> list[str]:
    f = report.fetch
    rate = f"{f.stale / f.seconds:.2f} ASIN/秒" if f.seconds > 0 and f.stale else "-"
    lines = [
        "",
        "## Step 1: キャッシュ検証・差分補完 (TTL diff + SP-API fetch)",
        "",
        *table(
            ("指標", "件数"),
            [
                ("全ASIN数 (ASINs)", f.asins),
                ("キャッシュOK (fresh)", f.fresh),
                ("更新が必要 (stale offers)", f.stale),
                ("次回以降 (left for later: --limit)", f.left_for_later),
                ("カタログ更新が必要 (stale catalog info)", f.info_stale),
                ("SP-API成功 (fetched)", f"**{f.fetched}**"),
                ("　在庫あり (in stock)", f.in_stock),
                ("　在庫切れ (out of stock)", f.out_of_stock),
                ("　条件外 (filtered out: condition/delivery)", f.filtered_out),
                ("SP-API失敗 (failed)", f.failed),
                ("バッチ数 (batch calls)", f"{f.batches} (cache {f.cached_batches})"),
                ("在庫切れ再確認 (sell-outs re-checked)", f.rechecks),
                ("429 再試行 (throttled, retried)", f.throttled),
                ("カタログ取得 (catalog fetched / failed)", f"{f.catalog_fetched} / {f.catalog_failed}"),
                ("所要時間 (duration)", f"{f.seconds:.1f}秒 · {rate}"),
            ],
        ),
    ]
    if f.errors:
        lines += ["", "**失敗の内訳 (failures by reason)**", ""]
        lines += table(("理由 (reason)", "件数"), sorted(f.errors.items(), key=lambda kv: -kv[1]))
    return lines


def accounts_section(report: RunReport) -> list[str]:
    """Per shop: what was pushed (planned, in a dry run), the budget notes, and the stock states."""
    dry = report.dry_run
    rows = [
        (
            f"{a.account_id} ({a.name})",
            a.listings,
            a.prices_changed if not dry else f"({a.price_changes})",
            a.hidden if not dry else f"({a.hides})",
            a.published if not dry else f"({a.publishes})",
            a.restocked if not dry else f"({a.restocks})",
            a.flagged,
            a.below_floor,
            a.held,
            a.deferred,
            a.delisted,
            a.errors,
            a.calls,
            f"{a.seconds:.1f}秒",
        )
        for a in report.accounts
    ]
    lines = [
        "",
        "## Step 2-3: 価格同期・在庫同期 (price, visibility and stock push, per account)",
        "",
        *table(
            (
                "アカウント",
                "出品",
                "価格更新",
                "非公開に変更",
                "公開に変更",
                "在庫補充",
                "価格保留",
                "下限割れ非公開",
                "確認待ち",
                "延期",
                "削除済",
                "エラー",
                "API呼出",
                "所要時間",
            ),
            rows,
        ),
        "",
        "_(価格更新 = prices changed, 非公開に変更 = hidden, 公開に変更 = published, 在庫補充 = restocked "
        "(BASE stock 0 after a sale, Amazon in stock: back to the shop's stock_quantity), "
        "価格保留 = price outside bounds "
        "(flagged, not pushed), 下限割れ非公開 = not public below the floor (Amazon × (1 + min margin) + yen: "
        "hidden, or kept hidden, until its price is in place), "
        f"確認待ち = held for review (big move / circuit breaker; `{report.release_hint}` releases), "
        "延期 = not sent: the BASE hourly or daily limit or a BASE outage (first when BASE takes calls again), "
        "or the shop needs re-authorising, 削除済 = gone from BASE (delisted). In a dry run the planned counts are shown "
        "in brackets.)_",
    ]
    lines += budget_notes(report)
    lines += [stopped_line(a) for a in report.accounts if a.stopped_by in STOPPED_TEXT]
    lines += [
        f"\nℹ️ {a.account_id}: サーキットブレーカー未作動 (breaker not armed): {a.breaker_not_armed}"
        for a in report.accounts
        if a.breaker_not_armed
    ]
    stock_rows = [(a.account_id, a.in_stock, a.out_of_stock, a.unknown_stock) for a in report.accounts]
    lines += ["", *table(("アカウント", "在庫あり", "在庫切れ・条件外", "不明 (unknown)"), stock_rows)]
    return lines


def budget_notes(report: RunReport) -> list[str]:
    """One line per shop BASE refused for its daily budget: when it will be called again."""
    resume = next_daily_reset(report.started_at).astimezone(JST).strftime("%Y-%m-%d %H:%M JST")
    return [
        f"\n**{a.account_id}: BASE の1日のAPI上限 ({DAY_LIMIT})** — {a.deferred}件を延期、{resume} まで"
        f"このショップには呼び出しません / {a.deferred} items deferred; no call to this shop before {resume} "
        "(BASE does not say in which timezone its day ends: 00:00 JST assumed, UTC midnight if sooner)."
        for a in report.accounts
        if a.stopped_by == DAY_LIMIT
    ]


def stopped_line(account: AccountSummary) -> str:
    return f"\n⚠️ {account.account_id}: {STOPPED_TEXT[account.stopped_by or '']} ({account.deferred} 延期)"


def tokens_section(report: RunReport) -> list[str]:
    if not report.tokens:
        return []
    return [
        "",
        "## BASEトークン (BASE token health)",
        "",
        *health_table(report.tokens),
        "",
        "_(失効見込み = 30 days after the refresh token was issued; BASE does not document whether a "
        "refresh restarts that clock. `python flows/connect_shop.py --status` shows the same table.)_",
    ]


def changes_section(report: RunReport) -> list[str]:
    if not report.changes and not report.held:
        return []
    lines = titled_table(
        f"## 変更一覧 (changes, {len(report.changes)})",
        (
            "ASIN",
            "商品名 (title)",
            "アカウント",
            "item",
            "項目",
            "変更前",
            "変更後",
            "理由 (reason)",
            "結果 (result)",
        ),
        [
            (
                c.asin,
                report.titles.get(c.asin, "-"),
                c.account_id,
                item_text(c.base_item_id, c.variation_id),
                c.field,
                value_text(c.field, c.old_value),
                value_text(c.field, c.new_value),
                words(report, c.reason),
                result_text(c.result),
            )
            for c in report.changes[:CHANGES_SHOWN]
        ],
    )
    if len(report.changes) > CHANGES_SHOWN:
        more = len(report.changes) - CHANGES_SHOWN
        lines.append(f"… and {more} more (see the `sync-changes` table artifact)")
    if report.held:
        lines += [
            "",
            f"_確認待ち {len(report.held)}件は送信していません (held for review, not sent): "
            "下の「確認待ち」と `sync-held` にあります; `sync-changes` lists them as 確認待ち (held)._",
        ]
    return lines


def words(report: RunReport, reason: str) -> str:
    """A reason as the seller reads it (:mod:`ecauto_lib.report.words`)."""
    return reason_text(reason, max_delivery_hours=report.max_delivery_hours)


def flagged_section(report: RunReport) -> list[str]:
    if not report.flagged:
        return []
    return titled_table(
        f"## 価格保留 (prices flagged, not pushed: {len(report.flagged)})",
        ("ASIN", "アカウント", "Amazon価格", "計算価格", "理由"),
        [
            (
                r.asin,
                r.account_id,
                f"¥{r.amazon_price_yen:,}",
                f"¥{r.computed_price:,}",
                words(report, r.reason),
            )
            for r in report.flagged[:ROWS_SHOWN]
        ],
    )


def stock_skipped_section(report: RunReport) -> list[str]:
    if not report.stock_skipped:
        return []
    return titled_table(
        f"## 在庫補充できず (stock not topped up: {len(report.stock_skipped)})",
        ("ASIN", "アカウント", "item", "理由"),
        [
            (r.asin, r.account_id, item_text(r.base_item_id, r.variation_id), r.reason)
            for r in report.stock_skipped[:ROWS_SHOWN]
        ],
    )


def below_floor_section(report: RunReport) -> list[str]:
    if not report.below_floor:
        return []
    return titled_table(
        f"## 下限割れ非公開 (below the floor, not public until the price is in place: {len(report.below_floor)})",
        ("ASIN", "アカウント", "item", "BASE価格", "下限価格 (floor)", "対応", "理由"),
        [
            (
                r.asin,
                r.account_id,
                r.base_item_id,
                value_text("price", r.base_price),
                value_text("price", r.floor_price),
                FLOOR_ACTION_TEXT.get(r.action, r.action),
                words(report, r.reason),
            )
            for r in report.below_floor[:ROWS_SHOWN]
        ],
    )


def held_section(report: RunReport) -> list[str]:
    if not report.held:
        return []
    return titled_table(
        f"## 確認待ち (held for review: {len(report.held)}; release with `{report.release_hint}`)",
        ("ASIN", "商品名 (title)", "アカウント", "item", "項目", "変更前", "変更後", "理由 (reason)"),
        [
            (
                r.asin,
                report.titles.get(r.asin, "-"),
                r.account_id,
                r.base_item_id,
                r.field,
                value_text(r.field, r.old_value),
                value_text(r.field, r.new_value),
                words(report, r.reason),
            )
            for r in report.held[:ROWS_SHOWN]
        ],
    )


def failures_section(report: RunReport) -> list[str]:
    if not report.failures:
        return []
    return titled_table(
        f"## エラー (failures: {len(report.failures)})",
        ("ASIN", "アカウント", "item", "エラー", "詳細"),
        [
            (r.asin, r.account_id, "-" if r.base_item_id is None else r.base_item_id, r.error, r.message)
            for r in report.failures[:ROWS_SHOWN]
        ],
    )


# -- cells --------------------------------------------------------------------------------------


def titled_table(heading: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    """A section: a blank line, its heading, a blank line, its table."""
    return ["", heading, "", *table(header, rows)]


def table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return lines


def fmt_time(value: datetime | None) -> str:
    """A time as the seller reads it: Japan time (the run record keeps UTC)."""
    return value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST") if value else "-"


def item_text(base_item_id: int, variation_id: int | None) -> str:
    return f"{base_item_id}" + (f" / variation {variation_id}" if variation_id is not None else "")


def value_text(field_name: str, value: int | None) -> str:
    if value is None:
        return "?"
    if field_name == "visible":
        return "公開" if value else "非公開"
    if field_name == "stock":
        return f"{int(value):,}"
    return f"¥{int(value):,}"
