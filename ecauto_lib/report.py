"""The run report: per step and per account, in the format sellers know from the original system.

The same numbers are printed in the terminal and stored as Prefect artifacts (a markdown summary
and a table of every change). Labels are Japanese, as in the original report, with English glosses.
Nothing here ever receives a secret: only counts, ASINs, item ids, prices and error codes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from ecauto_lib.base.budget import DAY_LIMIT, JST, next_daily_reset
from ecauto_lib.clock import utc_now
from ecauto_lib.domain import ITEM_FIELDS, Observation
from ecauto_lib.pricing import PricingPlan
from ecauto_lib.push import NEEDS_AUTHORISATION, PushResult
from ecauto_lib.token_health import LwaSecretHealth, ShopBlock, ShopTokenHealth, health_table

STATUS_TEXT = {
    0: "完了 ✅ (succeeded)",
    1: "完了・一部失敗 ⚠️ (finished with item failures)",
    2: "設定エラー ❌ (configuration error)",
}


@dataclass
class FetchSummary:
    """Step 1: TTL diff and SP-API fetches."""

    listings: int = 0  # listings loaded (all accounts)
    asins: int = 0  # unique ASINs among them
    fresh: int = 0  # nothing to fetch (キャッシュOK)
    stale: int = 0  # offers needed
    info_stale: int = 0  # catalog info needed
    batches: int = 0
    cached_batches: int = 0  # answered from Prefect's task cache (a rerun after a crash)
    confirmations: int = 0  # new sell-outs re-fetched before anything is hidden
    in_stock: int = 0
    out_of_stock: int = 0
    filtered_out: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # reason → ASIN count
    catalog_fetched: int = 0
    catalog_failed: int = 0
    throttled: int = 0  # 429s received (each retried)
    seconds: float = 0.0

    @property
    def fetched(self) -> int:
        return self.in_stock + self.out_of_stock + self.filtered_out

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def add_outcomes(self, outcomes: list[str], reasons: list[str | None]) -> None:
        counts = Counter(outcomes)
        self.in_stock += counts.get("in_stock", 0)
        self.out_of_stock += counts.get("out_of_stock", 0)
        self.filtered_out += counts.get("filtered_out", 0)
        for outcome, reason in zip(outcomes, reasons, strict=True):
            if outcome == "error":
                key = _reason_key(reason)
                self.errors[key] = self.errors.get(key, 0) + 1


@dataclass
class AccountSummary:
    """Steps 2-3 for one shop: what was planned and what BASE confirmed."""

    account_id: str
    name: str
    listings: int = 0
    in_stock: int = 0
    out_of_stock: int = 0
    unknown_stock: int = 0
    price_changes: int = 0  # planned
    hides: int = 0  # planned
    publishes: int = 0  # planned
    restocks: int = 0  # planned stock top-ups (items and variations)
    flagged: int = 0  # prices refused (out of bounds, below the minimum margin)
    held: int = 0  # changes held for review (big move, circuit breaker)
    released: int = 0  # held changes released by --confirm
    below_floor: int = 0  # items hidden, or kept hidden, because their price is below the floor
    prices_changed: int = 0  # confirmed by BASE
    hidden: int = 0
    published: int = 0
    restocked: int = 0  # stock top-ups BASE confirmed
    stock_skipped: int = 0  # variations at stock 0 that could not be topped up
    deferred: int = 0  # items held back by the hourly or daily budget
    delisted: int = 0  # items gone from BASE
    errors: int = 0  # items that failed
    calls: int = 0  # BASE API calls
    stopped_by: str | None = None
    seconds: float = 0.0


@dataclass
class RunReport:
    """Everything one run did."""

    mode: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    run_id: int | None = None
    fetch: FetchSummary = field(default_factory=FetchSummary)
    accounts: list[AccountSummary] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)  # every change planned/pushed
    flagged: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    below_floor: list[dict[str, Any]] = field(default_factory=list)  # pricing.FLOOR_COLUMNS rows
    stock_skipped: list[dict[str, Any]] = field(default_factory=list)  # variations not topped up
    failures: list[dict[str, Any]] = field(default_factory=list)
    exit_code: int = 0
    confirmed: bool = False  # --confirm: held changes released
    tokens: list[ShopTokenHealth] = field(default_factory=list)  # each shop's BASE token health
    blocked: list[ShopBlock] = field(default_factory=list)  # shops whose pushes stopped: BASE refused
    lwa_secret: LwaSecretHealth | None = None
    error: str | None = None  # the run stopped (exit 2): why, naming the setting

    def needs_reauthorisation(self) -> list[str]:
        """Shops that need ``flows/connect_shop.py`` before BASE accepts them (again)."""
        ids = {b.account_id for b in self.blocked if b.reauthorise}
        ids |= {h.account_id for h in self.tokens if h.needs_authorisation}
        return sorted(ids)

    def notices(self) -> list[str]:
        """What the seller must act on, one sentence each (blocked shops, tokens, LWA secret)."""
        blocked = {b.account_id for b in self.blocked}
        notes = [b.message for b in self.blocked]
        notes += [m for h in self.tokens if h.account_id not in blocked and (m := h.message())]
        if self.lwa_secret is not None and (m := self.lwa_secret.message()):
            notes.append(m)
        return notes

    @property
    def seconds(self) -> float:
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds()

    @property
    def item_failures(self) -> int:
        return self.fetch.failed + sum(a.errors for a in self.accounts)

    def counts(self) -> dict[str, Any]:
        """Flat counts for the run record in the master DB."""
        return {
            "fetch": {**asdict(self.fetch), "fetched": self.fetch.fetched, "failed": self.fetch.failed},
            "accounts": {a.account_id: asdict(a) for a in self.accounts},
            "changes": len(self.changes),
            "flagged": len(self.flagged),
            "held": len(self.held),
            "released": sum(a.released for a in self.accounts),
            "below_floor": len(self.below_floor),
            "restocked": sum(a.restocked for a in self.accounts),
            "stock_skipped": len(self.stock_skipped),
            "item_failures": self.item_failures,
            "needs_reauthorisation": self.needs_reauthorisation(),
            "blocked_shops": {b.account_id: b.message for b in self.blocked},
            "token_health": {
                h.account_id: {"state": str(h.state), "days_left": h.days_left} for h in self.tokens
            },
            "error": self.error,
        }


STOPPED_TEXT = {  # why a shop's push stopped early, in words the seller acts on (the daily limit: _budget_notes)
    "hour_api_limit": "BASEの1時間のAPI上限に達しました (hour_api_limit): the rest goes first next run",
    "budget": "この実行のAPI予算を使い切りました (hourly call budget spent): the rest goes first next run",
    "base_outage": "BASEが応答しません (5xx / timeouts in a row: BASE looks down): push stopped, "
    "the rest goes first next run",
    "lock_lost": "別の実行がこのショップのロックを引き継ぎました (another run took over this shop's lock): "
    "push stopped, the rest is that run's",
}


def _stopped_line(account: AccountSummary) -> str:
    return f"\n⚠️ {account.account_id}: {STOPPED_TEXT[account.stopped_by or '']} ({account.deferred} 延期)"


def _reason_key(reason: str | None) -> str:
    """Group error reasons by their kind (``HTTP 500 InternalFailure: ...`` → ``HTTP 500 InternalFailure``)."""
    if not reason:
        return "unknown error"
    return reason.split(":", 1)[0].strip()[:80]


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(report: RunReport) -> str:
    """The run summary as markdown (terminal and the Prefect ``sync-summary`` artifact)."""
    f = report.fetch
    mode = {
        "full": "完全同期 (full)",
        "price": "価格のみ (--price-only)",
        "stock": "在庫のみ (--stock-only)",
    }[report.mode]
    if report.dry_run:
        mode += " · DRY RUN (BASE・DBへの書き込みなし / nothing written)"
    if report.confirmed:
        mode += " · --confirm (確認待ちを解除 / held changes released)"
    total = report.seconds
    rate = f"{f.stale / f.seconds:.2f} ASIN/秒" if f.seconds > 0 and f.stale else "-"
    lines = [
        "# 実行結果レポート (EC Auto run report)",
        "",
        f"**実行モード (mode)**: {mode}" + (f" · run #{report.run_id}" if report.run_id else ""),
        "",
        "## 実行サマリー (summary)",
        "",
        *_table(
            ("項目", "結果"),
            [
                ("開始時刻 (started)", _fmt_time(report.started_at)),
                ("終了時刻 (finished)", _fmt_time(report.finished_at)),
                ("**実行時間 (duration)**", f"**{total:.1f}秒**"),
                ("処理ASIN数 (ASINs checked)", f.asins),
                ("出品数 (listings)", f.listings),
                ("総エラー数 (item failures)", f"**{report.item_failures}件**"),
                ("最終ステータス (status)", f"**{STATUS_TEXT.get(report.exit_code, report.exit_code)}**"),
            ],
        ),
    ]
    if report.error:
        lines += ["", f"**❌ 停止 (stopped)**: {report.error}"]
    notices = report.notices()
    if notices:
        lines += ["", "## ⚠️ 要対応 (action needed)", "", *(f"- {n}" for n in notices)]
    lines += [
        "",
        "## Step 1: キャッシュ検証・差分補完 (TTL diff + SP-API fetch)",
        "",
        *_table(
            ("指標", "件数"),
            [
                ("全ASIN数 (ASINs)", f.asins),
                ("キャッシュOK (fresh)", f.fresh),
                ("更新が必要 (stale offers)", f.stale),
                ("カタログ更新が必要 (stale catalog info)", f.info_stale),
                ("SP-API成功 (fetched)", f"**{f.fetched}**"),
                ("　在庫あり (in stock)", f.in_stock),
                ("　在庫切れ (out of stock)", f.out_of_stock),
                ("　条件外 (filtered out: condition/delivery)", f.filtered_out),
                ("SP-API失敗 (failed)", f.failed),
                ("バッチ数 (batch calls)", f"{f.batches} (cache {f.cached_batches})"),
                ("在庫切れ再確認 (sell-outs re-checked)", f.confirmations),
                ("429 再試行 (throttled, retried)", f.throttled),
                ("カタログ取得 (catalog fetched / failed)", f"{f.catalog_fetched} / {f.catalog_failed}"),
                ("所要時間 (duration)", f"{f.seconds:.1f}秒 · {rate}"),
            ],
        ),
    ]
    if f.errors:
        lines += ["", "**失敗の内訳 (failures by reason)**", ""]
        lines += _table(("理由 (reason)", "件数"), sorted(f.errors.items(), key=lambda kv: -kv[1]))
    acc_rows = [
        (
            f"{a.account_id} ({a.name})",
            a.listings,
            a.prices_changed if not report.dry_run else f"({a.price_changes})",
            a.hidden if not report.dry_run else f"({a.hides})",
            a.published if not report.dry_run else f"({a.publishes})",
            a.restocked if not report.dry_run else f"({a.restocks})",
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
    lines += [
        "",
        "## Step 2-3: 価格同期・在庫同期 (price, visibility and stock push, per account)",
        "",
        *_table(
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
            acc_rows,
        ),
        "",
        "_(価格更新 = prices changed, 非公開に変更 = hidden, 公開に変更 = published, 在庫補充 = restocked "
        "(BASE stock 0 after a sale, Amazon in stock: back to the shop's stock_quantity), "
        "価格保留 = price outside bounds "
        "(flagged, not pushed), 下限割れ非公開 = not public below the floor (Amazon × (1 + min margin) + yen: "
        "hidden, or kept hidden, until its price is in place), "
        "確認待ち = held for review (big move / circuit breaker; `--confirm` releases), "
        "延期 = not sent: the BASE hourly or daily limit or a BASE outage (first when BASE takes calls again), "
        "or the shop needs re-authorising, 削除済 = gone from BASE (delisted). In a dry run the planned counts are shown "
        "in brackets.)_",
    ]
    lines += _budget_notes(report)
    lines += [_stopped_line(a) for a in report.accounts if a.stopped_by in STOPPED_TEXT]
    stock_rows = [(a.account_id, a.in_stock, a.out_of_stock, a.unknown_stock) for a in report.accounts]
    lines += ["", *_table(("アカウント", "在庫あり", "在庫切れ・条件外", "不明 (unknown)"), stock_rows)]
    if report.tokens:
        lines += ["", "## BASEトークン (BASE token health)", "", *health_table(report.tokens)]
        lines += [
            "",
            "_(失効見込み = 30 days after the refresh token was issued; BASE does not document whether a "
            "refresh restarts that clock. `python flows/connect_shop.py --status` shows the same table.)_",
        ]
    if report.changes:
        lines += ["", f"## 変更一覧 (changes, {len(report.changes)})", ""]
        lines += _table(
            ("ASIN", "アカウント", "item", "項目", "変更前", "変更後", "理由", "結果"),
            [
                (
                    c["asin"],
                    c["account_id"],
                    _item_text(c),
                    c["field"],
                    _value(c["field"], c["old_value"]),
                    _value(c["field"], c["new_value"]),
                    c["reason"],
                    c["result"],
                )
                for c in report.changes[:200]
            ],
        )
        if len(report.changes) > 200:
            lines.append(f"… and {len(report.changes) - 200} more (see the `sync-changes` table artifact)")
    if report.flagged:
        lines += ["", f"## 価格保留 (prices flagged, not pushed: {len(report.flagged)})", ""]
        lines += _table(
            ("ASIN", "アカウント", "Amazon価格", "計算価格", "理由"),
            [
                (
                    r["asin"],
                    r["account_id"],
                    f"¥{r['amazon_price_yen']:,}",
                    f"¥{r['computed_price']:,}",
                    r["reason"],
                )
                for r in report.flagged[:100]
            ],
        )
    if report.stock_skipped:
        lines += ["", f"## 在庫補充できず (stock not topped up: {len(report.stock_skipped)})", ""]
        lines += _table(
            ("ASIN", "アカウント", "item", "理由"),
            [(r["asin"], r["account_id"], _item_text(r), r["reason"]) for r in report.stock_skipped[:100]],
        )
    if report.below_floor:
        lines += [
            "",
            f"## 下限割れ非公開 (below the floor, not public until the price is in place: {len(report.below_floor)})",
            "",
        ]
        lines += _table(
            ("ASIN", "アカウント", "item", "BASE価格", "下限価格 (floor)", "対応", "理由"),
            [
                (
                    r["asin"],
                    r["account_id"],
                    r["base_item_id"],
                    _value("price", r["base_price"]),
                    _value("price", r["floor_price"]),
                    _FLOOR_ACTION_TEXT.get(r["action"], r["action"]),
                    r["reason"],
                )
                for r in report.below_floor[:100]
            ],
        )
    if report.held:
        lines += [
            "",
            f"## 確認待ち (held for review: {len(report.held)}; release with `python flows/sync.py --confirm`)",
            "",
        ]
        lines += _table(
            ("ASIN", "アカウント", "item", "項目", "変更前", "変更後", "理由"),
            [
                (
                    r["asin"],
                    r["account_id"],
                    r["base_item_id"],
                    r["field"],
                    _value(r["field"], r["old_value"]),
                    _value(r["field"], r["new_value"]),
                    r["reason"],
                )
                for r in report.held[:100]
            ],
        )
    if report.failures:
        lines += ["", f"## エラー (failures: {len(report.failures)})", ""]
        lines += _table(
            ("ASIN", "アカウント", "item", "エラー", "詳細"),
            [
                (
                    r.get("asin", "-"),
                    r.get("account_id", "-"),
                    r.get("base_item_id", "-"),
                    r["error"],
                    r.get("message", ""),
                )
                for r in report.failures[:100]
            ],
        )
    return "\n".join(lines) + "\n"


def _budget_notes(report: RunReport) -> list[str]:
    """One line per shop BASE refused for its daily budget: when it will be called again."""
    resume = next_daily_reset(report.started_at).astimezone(JST).strftime("%Y-%m-%d %H:%M JST")
    return [
        f"\n**{a.account_id}: BASE の1日のAPI上限 ({DAY_LIMIT})** — {a.deferred}件を延期、{resume} まで"
        f"このショップには呼び出しません / {a.deferred} items deferred; no call to this shop before {resume} "
        "(BASE does not say in which timezone its day ends: 00:00 JST assumed, UTC midnight if sooner)."
        for a in report.accounts
        if a.stopped_by == DAY_LIMIT
    ]


_FLOOR_ACTION_TEXT = {"hidden": "非公開に変更 (hidden)", "kept hidden": "非公開のまま (kept hidden)"}


def _item_text(row: Mapping[str, Any]) -> str:
    variation = row.get("variation_id")
    return f"{row['base_item_id']}" + (f" / variation {variation}" if variation is not None else "")


def _value(field_name: str, value: Any) -> str:
    if value is None or value is pd.NA:
        return "?"
    if field_name == "visible":
        return "公開" if value else "非公開"
    if field_name == "stock":
        return f"{int(value):,}"
    return f"¥{int(value):,}"


def summarise(
    report: RunReport,
    accounts: Sequence[Any],
    current: pd.DataFrame,
    observations: Sequence[Observation],
    plan: PricingPlan,
    results: Mapping[str, PushResult],
) -> None:
    """Fill the report's per-account numbers, change table, failures and exit code.

    ``accounts`` are the run's AccountConfig values; ``current`` the listings with this run's
    observations folded in; ``observations`` this run's observations (only the errors are read:
    the flow passes just those); ``results`` the push outcome per account (empty in a dry run).
    """
    outcome_of: dict[tuple[str, int, str, int | None], str] = {}
    for result in results.values():
        for c in result.pushed:
            outcome_of[(c.account_id, c.base_item_id, c.field, c.variation_id)] = "pushed"
        for f in result.failed:
            for name in f.fields:
                outcome_of[(result.account_id, f.base_item_id, name, f.variation_id)] = f"failed: {f.error}"
        not_sent = (
            "not sent: re-authorise the shop" if result.stopped_by == NEEDS_AUTHORISATION else "deferred"
        )
        for d in result.deferred:
            for name in d.fields:
                outcome_of[(result.account_id, d.base_item_id, name, None)] = not_sent
        for t in result.deferred_stock:
            outcome_of[(result.account_id, t.base_item_id, "stock", t.variation_id)] = not_sent
        for gone in result.delisted:
            for name in ITEM_FIELDS:
                outcome_of[(result.account_id, gone.base_item_id, name, None)] = "delisted"
    default = "planned (dry run)" if report.dry_run else "not sent"
    rows = [
        {
            **row,
            "old_value": None if pd.isna(row["old_value"]) else int(row["old_value"]),
            "variation_id": None,
        }
        for row in plan.changes.to_dict("records")
    ] + [
        {
            "account_id": t.account_id,
            "asin": t.asin,
            "base_item_id": t.base_item_id,
            "field": "stock",
            "old_value": t.old_stock,
            "new_value": t.new_stock,
            "reason": t.reason,
            "variation_id": t.variation_id,
        }
        for t in plan.variation_stock
    ]
    report.changes = [
        {
            **row,
            "result": outcome_of.get(
                (row["account_id"], int(row["base_item_id"]), row["field"], row["variation_id"]), default
            ),
        }
        for row in rows
    ]
    report.stock_skipped = [asdict(s) for s in plan.stock_skipped]
    report.flagged = plan.flagged.to_dict("records")
    held = plan.held
    report.held = [
        {**row, "old_value": None if pd.isna(row["old_value"]) else int(row["old_value"])}
        for row in held.to_dict("records")
    ]
    report.below_floor = [
        {**row, "base_price": None if pd.isna(row["base_price"]) else int(row["base_price"])}
        for row in plan.below_floor.to_dict("records")
    ]
    report.failures = [
        {"asin": o.asin, "account_id": "-", "error": "fetch", "message": o.reason or ""}
        for o in observations
        if o.outcome == "error"
    ]
    changes = plan.changes
    for account in accounts:
        mine = current[current["account_id"] == account.id]
        planned = changes[changes["account_id"] == account.id]
        result = results.get(account.id, PushResult(account_id=account.id))
        report.accounts.append(
            AccountSummary(
                account_id=account.id,
                name=account.name,
                listings=len(mine),
                in_stock=int(mine["stock_state"].eq("in_stock").sum()),
                out_of_stock=int(mine["stock_state"].isin(["out_of_stock", "filtered_out"]).sum()),
                unknown_stock=int(
                    (~mine["stock_state"].isin(["in_stock", "out_of_stock", "filtered_out"])).sum()
                ),
                price_changes=int(planned["field"].eq("price").sum()),
                hides=int((planned["field"].eq("visible") & planned["new_value"].eq(0)).sum()),
                publishes=int((planned["field"].eq("visible") & planned["new_value"].eq(1)).sum()),
                restocks=int(planned["field"].eq("stock").sum())
                + sum(1 for t in plan.variation_stock if t.account_id == account.id),
                flagged=int((plan.flagged["account_id"] == account.id).sum()),
                held=int((held["account_id"] == account.id).sum()),
                released=int((plan.released["account_id"] == account.id).sum()),
                below_floor=int((plan.below_floor["account_id"] == account.id).sum()),
                prices_changed=result.count("price"),
                hidden=result.count("visible", 0),
                published=result.count("visible", 1),
                restocked=result.count("stock"),
                stock_skipped=sum(1 for t in plan.stock_skipped if t.account_id == account.id),
                deferred=len(result.deferred) + len(result.deferred_stock),
                delisted=len(result.delisted),
                errors=len(result.failed),
                calls=result.calls,
                stopped_by=result.stopped_by,
                seconds=result.seconds,
            )
        )
        report.failures += [{**asdict(f), "account_id": account.id} for f in result.failed]
    deferred = sum(a.deferred for a in report.accounts)
    blocked = report.blocked or report.needs_reauthorisation()
    report.exit_code = 1 if report.item_failures or deferred or report.held or blocked else 0
    report.finished_at = utc_now()
