"""What a run tells the seller: the alert events of one sync run, as plain values.

The flow emits each :class:`AlertEvent` as a Prefect event (``tasks/alerts.py``); the automations
in ``automations.yaml`` turn the ones that need the seller into one notification each. The text a
seller reads is built here, in Japanese with the English key terms, so it is typed and tested like
the rest (the automation's template only adds the link to the flow run).

Names (``EVENTS``) and payloads are documented in the README ("Alerts"). Nothing here ever holds a
secret: shop ids and names, counts, BASE's error codes and commands to run.

* ``ecauto.sync.finished``: every run (resource ``ecauto.sync.<mode>``; the shops related);
* ``ecauto.breaker.tripped``: a shop's circuit breaker held its hides or price cuts;
* ``ecauto.changes.held``: other changes held for review (a price move beyond the ±limit);
  both only when the run holds something no earlier run held (a hold made again is not news);
* ``ecauto.shop.unauthorised``: BASE refused a shop's token (or its app): ``connect_shop``;
* ``ecauto.token.expiring``: a shop's refresh token lapses within 7 days (``days_left``; full
  syncs only, the nightly one on the schedule, so it is one reminder a day);
* ``ecauto.sp-api.failing``: the share of ASINs with no usable SP-API answer reached
  ``ECAUTO_ALERT_FETCH_FAILED_PCT`` (resource ``ecauto.sp-api``);
* ``ecauto.base.deferred``: BASE's hourly or daily budget (or an outage) stopped a shop's push.

Per-shop events have the resource ``ecauto.shop.<account_id>`` with the shop's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecauto_lib.base.auth import connect_command
from ecauto_lib.outcome import Attention
from ecauto_lib.push import NEEDS_AUTHORISATION
from ecauto_lib.report.model import RunReport
from ecauto_lib.token_health import TokenState

SYNC_FINISHED = "ecauto.sync.finished"
BREAKER_TRIPPED = "ecauto.breaker.tripped"
CHANGES_HELD = "ecauto.changes.held"
SHOP_UNAUTHORISED = "ecauto.shop.unauthorised"
TOKEN_EXPIRING = "ecauto.token.expiring"
SP_API_FAILING = "ecauto.sp-api.failing"
BASE_DEFERRED = "ecauto.base.deferred"
EVENTS = (
    SYNC_FINISHED,
    BREAKER_TRIPPED,
    CHANGES_HELD,
    SHOP_UNAUTHORISED,
    TOKEN_EXPIRING,
    SP_API_FAILING,
    BASE_DEFERRED,
)

CLI_CONFIRM = "python flows/sync.py --confirm"
# The deployment a seller runs by hand to release held changes (prefect.yaml): a run of the
# hourly sync's own deployment would be cancelled while it runs (CANCEL_NEW); this one starts, and
# if the hourly sync holds the shops it asks that sync to release them in its next round.
RELEASE_DEPLOYMENT = "sync-once"
BREAKER_TEXT = {"hide": "非公開 (hide)", "cut": "値下げ (price cut)"}
DEFERRED_TEXT = {
    "hour_api_limit": "BASE の1時間あたりの API 上限 (hour_api_limit)",
    "day_api_limit": "BASE の1日あたりの API 上限 (day_api_limit)",
    "budget": "この実行の BASE 呼び出し枠 (ECAUTO_BASE_CALLS_PER_HOUR)",
    "base_outage": "BASE の障害 (outage: 5xx / timeouts)",
    "lock_lost": "ショップのロック喪失 (lock lost)",
}


@dataclass(frozen=True)
class AlertEvent:
    """One Prefect event: its name, resource (id, name, labels), related resources and payload.

    ``payload["message"]`` is what the seller reads (``automations.yaml`` sends it as is)."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any]
    related: tuple[dict[str, str], ...] = field(default=())

    @property
    def message(self) -> str:
        return str(self.payload.get("message", ""))


def confirm_command(deployment: str | None, flow_name: str = "ecauto-sync") -> str:
    """How held changes are released: the CLI flag, or (a run of a deployment) a run of
    :data:`RELEASE_DEPLOYMENT` with the ``confirm`` parameter."""
    if deployment:
        return f"prefect deployment run '{flow_name}/{RELEASE_DEPLOYMENT}' --param confirm=true"
    return CLI_CONFIRM


def shop_resource(account_id: str, name: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"ecauto.shop.{account_id}",
        "prefect.resource.name": name,
        "ecauto.account_id": account_id,
    }


def run_events(
    report: RunReport,
    *,
    fetch_failed_pct: float,
    deployment: str | None = None,
    shop_names: dict[str, str] | None = None,
) -> list[AlertEvent]:
    """The events of a finished run: ``ecauto.sync.finished`` always, then one per thing that
    needs the seller (per shop where it is a shop's). A dry run only says it finished."""
    names = {a.account_id: a.name for a in report.accounts}
    names |= {t.account_id: t.name for t in report.tokens}
    names |= shop_names or {}
    events = [sync_finished(report, names, deployment)]
    if report.dry_run:
        return events
    events += breaker_and_held(report, names, confirm_command(deployment))
    events += unauthorised(report, names)
    if report.mode == "full":  # once a night on the schedule, not with every hourly run
        events += expiring(report, names)
    events += sp_api_failing(report, fetch_failed_pct)
    events += deferred(report, names)
    return events


def sync_finished(report: RunReport, names: dict[str, str], deployment: str | None) -> AlertEvent:
    shops = [a.account_id for a in report.accounts] or sorted(names)
    payload = {
        "mode": report.mode,
        "dry_run": report.dry_run,
        "deployment": deployment or "",
        "exit_code": report.exit_code,
        "status": str(report.outcome.status),
        "checked": report.fetch.asins,
        "fetched": report.fetch.fetched,
        "changed": len(report.changes),
        "failures": report.item_failures,
        "held": len(report.held),
        "deferred": sum(a.deferred for a in report.accounts),
        "duration": round(report.seconds, 1),
        "attention": sorted({str(r.kind) for r in report.outcome.reasons}),
        "shops": shops,
    }
    status = "✅ 完了 (succeeded)" if not report.outcome.needs_attention else "⚠️ 要確認 (needs attention)"
    payload["message"] = (
        f"【EC Auto】同期 (sync, {report.mode}) {status}: 確認 (checked) {payload['checked']} ASIN, "
        f"取得 (fetched) {payload['fetched']}, 変更 (changed) {payload['changed']}, "
        f"失敗 (failures) {payload['failures']}, {payload['duration']} 秒"
    )
    resource = {
        "prefect.resource.id": f"ecauto.sync.{report.mode}",
        "prefect.resource.name": f"ecauto-sync {report.mode}",
        "ecauto.mode": report.mode,
        "ecauto.deployment": deployment or "",
    }
    related = tuple({**shop_resource(s, names.get(s, s)), "prefect.resource.role": "shop"} for s in shops)
    return AlertEvent(SYNC_FINISHED, resource, payload, related)


def _shop(account_id: str, names: dict[str, str]) -> str:
    name = names.get(account_id)
    return f"{name} ({account_id})" if name and name != account_id else account_id


def breaker_and_held(report: RunReport, names: dict[str, str], confirm: str) -> list[AlertEvent]:
    """Per shop: a tripped breaker (naming the total held, which one release pushes), else the
    changes held for their price move."""
    events = []
    held = {a.account_id: a.held for a in report.accounts}
    trips: dict[str, dict[str, int]] = {}
    for reason in report.outcome.of_kind(Attention.BREAKER_TRIPPED):
        if reason.account_id is not None:
            trips.setdefault(reason.account_id, {})[reason.detail] = reason.count
    for account_id, total in held.items():
        new = report.newly_held(account_id)
        if not total or new == 0:  # nothing held, or only what an earlier run held and told
            continue
        shop = _shop(account_id, names)
        resource = shop_resource(account_id, names.get(account_id, account_id))
        kinds = trips.get(account_id, {})
        if kinds:
            tripped = sum(kinds.values())
            what = "・".join(f"{BREAKER_TEXT.get(k, k)} {n}件" for k, n in sorted(kinds.items()))
            message = (
                f"【EC Auto】{shop}: 一斉変更の安全装置が作動しました (circuit breaker tripped)。"
                f"{what} を保留しました (held)、保留中の変更 (held changes) は計 {total} 件です。"
                f"Amazon の状況を確認し、正しければ `{confirm}` で保留中の {total} 件を反映します "
                f"(releases {total} held changes)。"
            )
            payload = {
                "account_id": account_id,
                "shop": names.get(account_id, account_id),
                "kinds": dict(sorted(kinds.items())),
                "tripped": tripped,
                "held": total,
                "new": total if new is None else new,
                "command": confirm,
                "message": message,
            }
            events.append(AlertEvent(BREAKER_TRIPPED, resource, payload))
            continue
        message = (
            f"【EC Auto】{shop}: 価格変動が大きい {total} 件の変更を保留しました (held for review)。"
            f"内容を Prefect の sync-held アーティファクトで確認し、正しければ `{confirm}` で反映します "
            f"(releases {total} held changes)。"
        )
        payload = {
            "account_id": account_id,
            "shop": names.get(account_id, account_id),
            "held": total,
            "new": total if new is None else new,
            "command": confirm,
            "message": message,
        }
        events.append(AlertEvent(CHANGES_HELD, resource, payload))
    return events


def unauthorised(report: RunReport, names: dict[str, str]) -> list[AlertEvent]:
    """One per shop BASE refused: re-connect it (or fix its app in the accounts file)."""
    events = []
    reasons = report.outcome.of_kind(Attention.NEEDS_REAUTHORISATION) + report.outcome.of_kind(
        Attention.APP_REFUSED
    )
    deferred = {a.account_id: a.deferred for a in report.accounts}
    for reason in reasons:
        account_id = reason.account_id or "-"
        shop = _shop(account_id, names)
        reauthorise = reason.kind is Attention.NEEDS_REAUTHORISATION
        if reauthorise:
            command = connect_command(account_id)
            todo = f"`{command}` でショップを再認可してください (re-authorise the shop)。"
        else:
            command = f"ECAUTO_ACCOUNTS_FILE: {account_id} の client_id / client_secret"
            todo = "アカウントファイルの client_id / client_secret を確認してください (accounts file)。"
        waiting = deferred.get(account_id, 0)
        message = (
            f"【EC Auto】{shop}: BASE がトークンを拒否しました (token refused / unauthorised)。"
            f"このショップへの反映は止まっています (pushes stopped; {waiting} 件の変更が未送信 deferred)。"
            f"{todo}"
        )
        shop_name = names.get(account_id, account_id)
        payload = {
            "account_id": account_id,
            "shop": shop_name,
            "reason": str(reason.kind),
            "deferred": waiting,
            "command": command,
            "message": message,
        }
        events.append(AlertEvent(SHOP_UNAUTHORISED, shop_resource(account_id, shop_name), payload))
    return events


def expiring(report: RunReport, names: dict[str, str]) -> list[AlertEvent]:
    """One per shop whose refresh token lapses within the warning window (7 days)."""
    events = []
    for health in report.tokens:
        if health.state is not TokenState.EXPIRING:
            continue
        shop = _shop(health.account_id, names)
        command = connect_command(health.account_id)
        lapse = health.lapses_at.date().isoformat() if health.lapses_at else "-"
        message = (
            f"【EC Auto】{shop}: BASE のリフレッシュトークン (refresh token) はあと {health.days_left} 日で"
            f"失効する見込みです ({lapse})。それまでに `{command}` で再認可してください (re-authorise)。"
        )
        payload = {
            "account_id": health.account_id,
            "shop": health.name,
            "days_left": health.days_left,
            "lapses_on": lapse,
            "command": command,
            "message": message,
        }
        events.append(AlertEvent(TOKEN_EXPIRING, shop_resource(health.account_id, health.name), payload))
    return events


def sp_api_failing(report: RunReport, threshold_pct: float) -> list[AlertEvent]:
    """The run's share of ASINs with no usable SP-API answer, when it reaches the threshold."""
    failed, fetched = report.fetch.failed, report.fetch.fetched
    asked = failed + fetched
    if not asked or not failed or 100 * failed / asked < threshold_pct:
        return []
    pct = round(100 * failed / asked, 1)
    reasons = dict(sorted(report.fetch.errors.items(), key=lambda kv: -kv[1])[:5])
    top = ", ".join(f"{k} × {n}" for k, n in reasons.items())
    message = (
        f"【EC Auto】SP-API の取得失敗が多すぎます (SP-API failing): {asked} ASIN 中 {failed} 件 ({pct} %) "
        f"が取得できませんでした ({top})。在庫は不明 (unknown) のままで、非公開にはしていません。"
        f"`python flows/doctor.py` で Amazon の接続を確認してください。"
    )
    payload = {
        "asked": asked,
        "failed": failed,
        "failed_pct": pct,
        "threshold_pct": threshold_pct,
        "reasons": reasons,
        "command": "python flows/doctor.py",
        "message": message,
    }
    resource = {"prefect.resource.id": "ecauto.sp-api", "prefect.resource.name": "Amazon SP-API"}
    return [AlertEvent(SP_API_FAILING, resource, payload)]


def deferred(report: RunReport, names: dict[str, str]) -> list[AlertEvent]:
    """One per shop whose push stopped on BASE's budget or an outage (a refused token is
    ``ecauto.shop.unauthorised``'s)."""
    events = []
    for account in report.accounts:
        why = account.stopped_by
        if not account.deferred or why in (None, NEEDS_AUTHORISATION):
            continue
        shop = _shop(account.account_id, names)
        message = (
            f"【EC Auto】{shop}: {DEFERRED_TEXT.get(why, why)} のため {account.deferred} 件の変更を"
            f"次回に回しました (deferred)。次の実行で自動的に送信します。毎回起きる場合は実行間隔"
            f"または ECAUTO_BASE_CALLS_PER_HOUR を見直してください。"
        )
        payload = {
            "account_id": account.account_id,
            "shop": account.name,
            "deferred": account.deferred,
            "stopped_by": why,
            "message": message,
        }
        events.append(AlertEvent(BASE_DEFERRED, shop_resource(account.account_id, account.name), payload))
    return events


ATTENTION_TEXT = {
    "credentials_refused": "認証拒否 (credentials refused)",
    "fetch_failed": "取得失敗 (fetch failed)",
    "push_failed": "反映失敗 (push failed)",
    "deferred": "未送信 (deferred)",
    "held": "保留 (held)",
    "breaker_tripped": "安全装置 (breaker tripped)",
    "needs_reauthorisation": "再認可が必要 (needs re-authorisation)",
    "app_refused": "アプリ拒否 (app refused)",
    "no_listings": "出品0件 (no listings: run flows/import_listings.py first)",
}


def attention_text(result: dict[str, Any], limit: int = 400) -> str:
    """A run's reasons for needing attention in one line (a flow run state's message), from its
    result's ``attention`` entries (``ecauto_lib.outcome.AttentionReason`` as dicts); a result
    without them (reconcile, import) gives its report's first lines."""
    reasons = result.get("attention")
    if reasons:
        parts = []
        for r in reasons:
            text = f"{ATTENTION_TEXT.get(r['kind'], r['kind'])} {r['count']}"
            if r.get("kind") in ("breaker_tripped", "deferred") and r.get("detail"):
                text += f" {r['detail']}"
            if r.get("account_id"):
                text += f" [{r['account_id']}]"
            parts.append(text)
        text = "; ".join(parts)
    else:
        text = " / ".join(str(result.get("report") or "see the run's output").splitlines()[:3])
    text = f"要確認 (needs attention): {text}"
    return text if len(text) <= limit else text[: limit - 1] + "…"
