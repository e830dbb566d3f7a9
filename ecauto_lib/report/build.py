"""Building the run report from what the run did: its plan, the pushes, the fetch failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ecauto_lib.clock import utc_now
from ecauto_lib.domain import ITEM_FIELDS, FieldChange, Observation, Outcome
from ecauto_lib.guards import GuardPolicy, breaker_kind, breaker_not_armed
from ecauto_lib.outcome import RunOutcome, ShopRefusal, run_outcome
from ecauto_lib.pricing import PricingPlan
from ecauto_lib.push import NEEDS_AUTHORISATION, PushResult
from ecauto_lib.report.model import AccountSummary, ChangeRow, Failure, RunReport

DRY_RUN_RESULT, NOT_SENT = "planned (dry run)", "not sent"

_OutcomeKey = tuple[str, int, str, int | None]  # account, item, field, variation


def summarise(
    report: RunReport,
    accounts: Sequence[Any],
    current: pd.DataFrame,
    observations: Sequence[Observation],
    plan: PricingPlan,
    results: Mapping[str, PushResult],
    guards: Mapping[str, GuardPolicy] | None = None,
) -> None:
    """Fill the report's per-account numbers, change table, failures and outcome.

    ``accounts`` are the run's AccountConfig values; ``current`` the listings with this run's
    observations folded in; ``observations`` this run's observations (only the errors are read:
    the flow passes just those); ``results`` the push outcome per account (empty in a dry run);
    ``guards`` each shop's guard limits (the report says when a shop's breaker cannot trip).
    """
    results_of = _results_by_change(results)
    default = DRY_RUN_RESULT if report.dry_run else NOT_SENT

    def row(change: FieldChange, variation_id: int | None = None) -> ChangeRow:
        key = (change.account_id, change.base_item_id, change.field, variation_id)
        return ChangeRow(
            asin=change.asin,
            account_id=change.account_id,
            base_item_id=change.base_item_id,
            variation_id=variation_id,
            field=change.field,
            old_value=change.old_value,
            new_value=change.new_value,
            reason=change.reason,
            result=results_of.get(key, default),
        )

    report.changes = [row(c) for c in plan.planned_changes()]
    report.changes += [row(t.field_change(), t.variation_id) for t in plan.variation_stock]
    report.stock_skipped = list(plan.stock_skipped)
    report.flagged = plan.flagged_prices()
    report.held = plan.held_changes()
    report.below_floor = plan.floor_actions()
    report.failures = [
        Failure(asin=o.asin, account_id="-", error="fetch", message=o.reason or "")
        for o in observations
        if o.outcome == Outcome.ERROR
    ]
    for account in accounts:
        result = results.get(account.id, PushResult(account_id=account.id))
        summary = account_summary(account, current, plan, result)
        policy = (guards or {}).get(account.id, GuardPolicy())
        summary.breaker_not_armed = breaker_not_armed(policy, summary.listings) if summary.listings else None
        report.accounts.append(summary)
        report.failures += [
            Failure(
                asin=f.asin,
                account_id=account.id,
                error=f.error,
                message=f.message,
                base_item_id=f.base_item_id,
                variation_id=f.variation_id,
            )
            for f in result.failed
        ]
    conclude(report)


def conclude(report: RunReport) -> None:
    """The run is over: its outcome (exit code, status, why) and when it finished."""
    report.outcome = outcome_of(report)
    report.finished_at = utc_now()


def outcome_of(report: RunReport) -> RunOutcome:
    """The run's outcome from the report's facts (the rule itself: :mod:`ecauto_lib.outcome`)."""
    blocked = {b.account_id for b in report.blocked}
    refused = [ShopRefusal(b.account_id, b.reauthorise, b.message) for b in report.blocked]
    refused += [
        ShopRefusal(h.account_id, True, h.message() or "")
        for h in report.tokens
        if h.needs_authorisation and h.account_id not in blocked
    ]
    return run_outcome(
        stopped=report.error,
        fetch_failures=report.fetch.failed,
        shops=report.accounts,
        breaker_holds=[(h.account_id, kind) for h in report.held if (kind := breaker_kind(h))],
        refused=refused,
        listings=report.fetch.listings,
    )


def account_summary(
    account: Any, current: pd.DataFrame, plan: PricingPlan, result: PushResult
) -> AccountSummary:
    """One shop's line of the report: its listings' stock, what was planned and what BASE confirmed."""
    mine = current[current["account_id"] == account.id]
    planned = plan.changes[plan.changes["account_id"] == account.id]
    return AccountSummary(
        account_id=account.id,
        name=account.name,
        listings=len(mine),
        in_stock=int(mine["stock_state"].eq("in_stock").sum()),
        out_of_stock=int(mine["stock_state"].isin(["out_of_stock", "filtered_out"]).sum()),
        unknown_stock=int((~mine["stock_state"].isin(["in_stock", "out_of_stock", "filtered_out"])).sum()),
        price_changes=int(planned["field"].eq("price").sum()),
        hides=int((planned["field"].eq("visible") & planned["new_value"].eq(0)).sum()),
        publishes=int((planned["field"].eq("visible") & planned["new_value"].eq(1)).sum()),
        restocks=int(planned["field"].eq("stock").sum())
        + sum(1 for t in plan.variation_stock if t.account_id == account.id),
        flagged=int((plan.flagged["account_id"] == account.id).sum()),
        held=int((plan.held["account_id"] == account.id).sum()),
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


def _results_by_change(results: Mapping[str, PushResult]) -> dict[_OutcomeKey, str]:
    """What became of each change BASE was sent (or not sent), by account, item, field and variation."""
    outcome_of: dict[_OutcomeKey, str] = {}
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
    return outcome_of
