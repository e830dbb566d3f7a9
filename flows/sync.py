"""EC Auto inventory sync: keep every BASE listing's price and visibility in step with Amazon.

    python flows/sync.py [--dry-run] [--price-only | --stock-only] [--account ID ...] [--limit N] [--demo]

The flow reads as the pipeline's table of contents; each step is a task in ``tasks/`` wrapping
plain code in ``ecauto_lib/``. Exit codes: 0 every item succeeded, 1 finished with item failures
(or deferred items), 2 usage or configuration error, 3 another run holds a shop; the flow run's
final Prefect state follows them (Completed, Failed "NeedsAttention", Failed "ConfigError",
Cancelled "Skipped": ``tasks/states.py``), and each run emits its alert events (``tasks/alerts.py``).
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # `python flows/sync.py` from a checkout: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd
from prefect import get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from ecauto_lib.clock import utc_now
from ecauto_lib.config import AccountConfig, Settings, SyncMode, load_settings
from ecauto_lib.connect import sp_api_client
from ecauto_lib.db.locks import AlreadyRunningError, LockHolder, account_locks
from ecauto_lib.db.runs import last_tail
from ecauto_lib.domain import CatalogInfo, HeldChange, ItemUpdate, Observation, Outcome
from ecauto_lib.errors import ConfigError, CredentialsRefusedError
from ecauto_lib.fetching import budget_start, fetch_deadline
from ecauto_lib.observations import apply_catalog, apply_observations
from ecauto_lib.pricing import PricingPlan, item_updates
from ecauto_lib.push import NEEDS_AUTHORISATION, PushResult, Settlement, failed_push
from ecauto_lib.report import FetchSummary, RunReport, conclude, summarise
from ecauto_lib.report.terminal import fit_to_width
from ecauto_lib.rounds import RoundsSoFar, SideRounds
from ecauto_lib.token_health import LwaSecretHealth, ShopBlock, lwa_secret_health
from tasks._common import as_is, describe, engine_for, quiet_prefect
from tasks.alerts import announce
from tasks.amazon import cache_ttls, prune_fetch_cache
from tasks.base import check_base_token, push_account, settle_journal, token_health
from tasks.fetching import fetch_offers_and_catalog
from tasks.freshness import diff_ttls
from tasks.listings import check_secrets, load_listings, load_variations, prepare_database
from tasks.pricing import compute_changes, hold_risky, keep_above_floor, top_up_stock
from tasks.report import load_titles, publish_report, release_hint, scheduled_start
from tasks.states import exit_code_flow
from tasks.store import (
    finish_run_record,
    load_held_changes,
    pending_release_requests,
    record_held_changes,
    request_release,
    settle_released_changes,
    start_run_record,
    write_observations,
)


@exit_code_flow(name="ecauto-sync", log_prints=True, task_runner=ThreadPoolTaskRunner(max_workers=4))
def sync(
    mode: str = "full",
    dry_run: bool = False,
    accounts: list[str] | None = None,
    limit: int | None = None,
    confirm: bool = False,
    budget_minutes: float | None = None,
    push_every_minutes: float | None = None,
) -> dict:
    """Load listings → diff TTLs → fetch stale ASINs → compute changes → push to BASE → record and report."""
    settings = with_budget(load_settings(), budget_minutes, push_every_minutes)
    sync_mode = SyncMode(mode)
    selected = settings.select_accounts(accounts)
    report = RunReport(
        mode=sync_mode.value,
        dry_run=dry_run,
        started_at=utc_now(),
        scheduled_at=scheduled_start(),
        confirmed=confirm,
        release_hint=release_hint(),
        max_delivery_hours=settings.policy.max_delivery_hours,
    )

    prepare_database(settings.database_url, dry_run=dry_run)
    check_secrets(settings, [a.id for a in selected])
    if dry_run:
        return _pipeline(settings, sync_mode, selected, report, limit)
    try:
        return _locked_run(settings, sync_mode, selected, report, limit)
    except AlreadyRunningError as exc:
        if not confirm:
            raise
        return release_in_running_sync(settings, selected, exc)


def _locked_run(
    settings: Settings,
    sync_mode: SyncMode,
    selected: tuple[AccountConfig, ...],
    report: RunReport,
    limit: int | None,
) -> dict:
    """The run with its shops locked: record → token checks → settle the journal → the pipeline."""
    with account_locks(engine_for(settings.database_url), [a.id for a in selected]) as holder:
        report.run_id = start_run_record(
            settings.database_url, sync_mode.value, [a.id for a in selected], report.started_at
        )
        report.blocked = check_base_tokens(settings, selected)
        blocked = {b.account_id for b in report.blocked}
        settled = settle_interrupted_pushes(settings, tuple(a for a in selected if a.id not in blocked))
        prune_fetch_cache(
            {prefix: ttl.total_seconds() for prefix, ttl in cache_ttls(settings.policy).items()}
        )
        result = _pipeline(settings, sync_mode, selected, report, limit, settled, holder)
        finish_run_record(
            settings.database_url,
            report.run_id,
            str(report.outcome.status),
            report.exit_code,
            report.counts(),
            report.finished_at or utc_now(),
        )
        return result


def release_in_running_sync(
    settings: Settings, selected: tuple[AccountConfig, ...], busy: AlreadyRunningError
) -> dict:
    """``--confirm`` found another sync holding the shops (the hourly loop holds them 58 minutes
    of each hour): ask it to release the held changes in its next round, and say so (exit 0)."""
    request_release(settings.database_url, [a.id for a in selected])
    every = settings.policy.push_every
    when = (
        f"{every.total_seconds() / 60:g} 分以内 / within {every.total_seconds() / 60:g} min"
        if every
        else "次回 / next run"
    )
    message = (
        f"同期の実行中です ({busy.holder}, {busy.since.isoformat(timespec='seconds')} から)。"
        f"保留中の変更は実行中の同期の次のラウンドで反映されます ({when})。\n"
        f"A sync is running for {busy.account_id}: its next round (or the next run) releases the "
        "held changes this --confirm asked for."
    )
    get_run_logger().info("%s", message)
    return {"exit_code": 0, "run_id": None, "report": message, "release_requested": True}


def with_budget(
    settings: Settings, budget_minutes: float | None, push_every_minutes: float | None = None
) -> Settings:
    """``settings`` with the run's time budget and how often it pushes as it goes (a deployment's
    ``budget_minutes`` and ``push_every_minutes``; None: the settings ECAUTO_RUN_BUDGET_MINUTES
    and ECAUTO_PUSH_EVERY_MINUTES)."""
    policy = settings.policy
    for name, value in (("budget_minutes", budget_minutes), ("push_every_minutes", push_every_minutes)):
        if value is not None and not 0 <= value <= 24 * 60:
            raise ConfigError(name, f"must be between 0 and 1440, got {value}")
    if budget_minutes is not None:
        policy = replace(policy, run_budget=timedelta(minutes=budget_minutes))
    if push_every_minutes is not None:
        policy = replace(policy, push_every=timedelta(minutes=push_every_minutes))
    return replace(settings, policy=policy)


def _pipeline(
    settings: Settings,
    sync_mode: SyncMode,
    selected: tuple[AccountConfig, ...],
    report: RunReport,
    limit: int | None,
    settled: dict[str, Settlement] | None = None,
    holder: LockHolder | None = None,
) -> dict:
    """The steps of one run (a dry run computes everything and writes nothing)."""
    dry_run = report.dry_run
    held_before = load_held_changes(settings.database_url, [a.id for a in selected])
    report.already_held = frozenset(h.key for h in held_before)  # a hold made again is not news
    so_far = RoundsSoFar()

    def plan_and_push(current: pd.DataFrame, now: datetime) -> None:
        push_round(
            settings, sync_mode, selected, report, current, now, held_before, settled or {}, holder, so_far
        )

    try:
        current, fetch_failures, queue = observe(settings, sync_mode, selected, report, limit, plan_and_push)
    except CredentialsRefusedError as exc:
        return stop_run(settings, selected, report, exc, so_far)
    plan_and_push(current, report.started_at if not so_far.plans else utc_now())
    plan, results = so_far.merged()

    report.tokens = token_health(settings.database_url, selected, [b.account_id for b in report.blocked])
    report.lwa_secret = check_lwa_secret(settings)
    summarise(report, selected, current, fetch_failures, plan, results, settings.guard_policies())
    report.titles = load_titles(settings.database_url, report)
    markdown = publish_report(report)
    announce(report, settings)
    get_run_logger().info(
        "run finished: exit code %d, %d changes, %d item failures",
        report.exit_code,
        len(report.changes),
        report.item_failures,
    )
    result = {"exit_code": report.exit_code, "run_id": report.run_id, "report": markdown, **report.counts()}
    if dry_run:
        result["refresh_order"] = refresh_order_lines(queue)
    return result


def push_round(
    settings: Settings,
    sync_mode: SyncMode,
    selected: tuple[AccountConfig, ...],
    report: RunReport,
    current: pd.DataFrame,
    now: datetime,
    held_before: list[HeldChange],
    settled: dict[str, Settlement],
    holder: LockHolder | None,
    so_far: RoundsSoFar,
) -> None:
    """Compute changes → top up stock → hold risky ones → keep above the floor → record holds →
    push to BASE. A run's last step, or one of its rounds (the guards and BASE's hourly budget
    count what earlier rounds pushed; a shop stopped in one is sent nothing more)."""
    account_ids = [a.id for a in selected]
    variations, variation_states = load_variations(settings.database_url, account_ids, current)
    markups = {a.id: a.markup for a in selected}
    plan = compute_changes(current, settings.policy, markups, sync_mode, now)
    quantities = {a.id: a.stock_quantity for a in selected}
    plan = top_up_stock(plan, current, quantities, variations, variation_states, sync_mode)
    releasable = list(held_before) if report.confirmed else []
    pushing = [
        a for a in account_ids if a not in {b.account_id for b in report.blocked} | set(so_far.stopped())
    ]
    requests = (
        pending_release_requests(settings.database_url, pushing) if not report.dry_run and pushing else {}
    )
    if requests:  # a --confirm that found the shops busy asked for this
        releasable += load_held_changes(settings.database_url, sorted(requests))
    plan = hold_risky(
        plan,
        current,
        settings.guard_policies(),
        releasable=releasable or None,
        earlier=so_far.breaker_counts(),
    )
    plan = keep_above_floor(plan, current, settings.policy)
    if report.dry_run:
        so_far.add(plan, {})
        return
    record_held_changes(settings.database_url, plan, sync_mode, account_ids, report.run_id)
    budgets = {a: replace(s, calls=s.calls + so_far.calls(a)) for a, s in settled.items()}
    results = push_changes(
        settings, selected, plan, report.run_id, report.blocked, budgets, holder, so_far.stopped()
    )
    so_far.add(plan, results)
    if requests or not plan.released.empty:
        settle_released_changes(settings.database_url, requests, plan, results)


def refresh_order_lines(queue: pd.DataFrame) -> list[str]:
    """The queue of this run, one line per ASIN: its place, ASIN, and why it is there."""
    return [
        f"{i:>6} {asin} {'offers' if offers else 'catalog'}: {reason}"
        for i, (asin, offers, reason) in enumerate(
            zip(queue["asin"], queue["needs_offers"], queue["reason"], strict=True), start=1
        )
    ]


def stop_run(
    settings: Settings,
    selected: tuple[AccountConfig, ...],
    report: RunReport,
    exc: CredentialsRefusedError,
    so_far: RoundsSoFar,
) -> dict:
    """LWA or SP-API refused the seller's credentials: nothing more is fetched or pushed; the run
    ends with exit code 2 and one message naming the setting (no item is counted as failed by
    the fetch). What earlier rounds of the run pushed is in its report and run record."""
    report.error = f"{exc.setting}: {exc}"
    get_run_logger().error("%s", report.error)
    if so_far.plans:
        plan, results = so_far.merged()
        listings = load_listings(settings.database_url, [a.id for a in selected])
        summarise(report, selected, listings, [], plan, results, settings.guard_policies())
    report.tokens = token_health(settings.database_url, selected, [b.account_id for b in report.blocked])
    report.lwa_secret = check_lwa_secret(settings)
    conclude(report)
    markdown = publish_report(report)
    announce(report, settings)
    return {
        "exit_code": report.exit_code,
        "run_id": report.run_id,
        "report": markdown,
        "error": report.error,
        **report.counts(),
    }


def observe(
    settings: Settings,
    sync_mode: SyncMode,
    selected: tuple[AccountConfig, ...],
    report: RunReport,
    limit: int | None,
    plan_and_push: Callable[[pd.DataFrame, datetime], None] | None = None,
) -> tuple[pd.DataFrame, list[Observation], pd.DataFrame]:
    """Load listings → diff TTLs → fetch what is stale → store it; returns the listings as now
    observed, the observations that failed (for the report) and the run's queue (its order and
    reasons). A budgeted run with ``push_every`` hands ``plan_and_push`` a round of what it has
    confirmed as it goes (:func:`fetch_rounds`). (A function of its own so the
    loaded frame, the observations and the catalog facts are freed once folded in: ~60 MB at 100k
    listings.)"""
    account_ids = [a.id for a in selected]
    listings = load_listings(settings.database_url, account_ids)
    budget = settings.policy.run_budget
    candidates = diff_ttls(
        listings,
        settings.policy,
        report.started_at,
        sync_mode,
        settings.database_url,
        fill=budget > timedelta(0),
    )
    stale = report.fetch.count_stale(listings, candidates, limit)  # beyond the limit: left for later

    rounds = None
    if plan_and_push is not None and not report.dry_run and budget > timedelta(0) and limit is None:
        rounds = fetch_rounds(settings, account_ids, sync_mode, report.fetch, plan_and_push)
    observations, infos = fetch_stale(
        settings,
        listings,
        stale,
        report.fetch,
        dry_run=report.dry_run,
        started_at=report.started_at,
        budget_from=budget_start(report.started_at, report.scheduled_at, budget),
        mode=sync_mode,
        rounds=rounds,
    )
    if not report.dry_run:
        # as_is(): Prefect would otherwise walk every element looking for futures (19 s at 100k).
        write_observations(settings.database_url, as_is(observations), as_is(infos))
    failures = [o for o in observations if o.outcome == Outcome.ERROR]
    queue = stale[["asin", "needs_offers", "reason"]]
    if rounds is not None and rounds.count:  # BASE and the DB have moved on since the load
        return load_listings(settings.database_url, account_ids), rounds.failures + failures, queue
    return apply_catalog(apply_observations(listings, observations), infos), failures, queue


class FetchRounds(SideRounds):
    """The rounds of a run that pushes as it goes, the failed observations they saw, and the
    stock states the fetch compares its answers with (each round updates them)."""

    failures: list[Observation]
    stored_states: dict[str, str]


def fetch_rounds(
    settings: Settings,
    account_ids: list[str],
    mode: SyncMode,
    summary: FetchSummary,
    plan_and_push: Callable[[pd.DataFrame, datetime], None],
) -> FetchRounds | None:
    """Every ``push_every`` (None: not set), a round on a side thread: store what is confirmed →
    load listings → plan and push → diff TTLs again, for the fetch's fresher order."""
    every = settings.policy.push_every
    if every <= timedelta(0):
        return None

    def round_of(observations: list[Observation], infos: list[CatalogInfo]) -> tuple[list[str], list[str]]:
        write_observations(settings.database_url, as_is(observations), as_is(infos))
        summary.add_outcomes([str(o.outcome) for o in observations], [o.reason for o in observations])
        summary.catalog_fetched += len(infos)
        rounds.failures += [o for o in observations if o.outcome == Outcome.ERROR]
        now = utc_now()
        current = load_listings(settings.database_url, account_ids)
        # what is now stored decides which later answers are new sell-outs (to re-check)
        rounds.stored_states.update(zip(current["asin"], current["stock_state"], strict=True))
        plan_and_push(current, now)
        fresh = diff_ttls(current, settings.policy, now, mode, settings.database_url, fill=True)
        return fresh.loc[fresh["needs_offers"], "asin"].tolist(), fresh.loc[
            fresh["needs_info"], "asin"
        ].tolist()

    rounds = FetchRounds(every, round_of)
    rounds.failures, rounds.stored_states = [], {}
    return rounds


def check_base_tokens(settings: Settings, accounts: tuple[AccountConfig, ...]) -> list[ShopBlock]:
    """Before anything else: each shop's BASE token (refreshed when stale, in parallel); the shops
    BASE refuses are named, and their pushes stop for this run while every other shop goes on."""
    futures = [check_base_token.submit(settings, account) for account in accounts]
    return [block for future in futures if (block := future.result()) is not None]


def check_lwa_secret(settings: Settings) -> LwaSecretHealth:
    """The LWA client secret's age (LWA_SECRET_ROTATED_AT): warns from 14 days before Amazon retires it."""
    health = lwa_secret_health(settings.lwa_secret_rotated_at, datetime.now(UTC).date())
    if (message := health.message()) is not None:
        get_run_logger().warning("%s", message)
    return health


def settle_interrupted_pushes(
    settings: Settings, accounts: tuple[AccountConfig, ...]
) -> dict[str, Settlement]:
    """Before planning: finish what an earlier run left in the push journal (per shop, in parallel)."""
    futures = {account.id: settle_journal.submit(settings, account) for account in accounts}
    return {account_id: future.result() for account_id, future in futures.items()}


def fetch_stale(
    settings: Settings,
    listings: pd.DataFrame,
    stale: pd.DataFrame,
    summary: FetchSummary,
    *,
    dry_run: bool,
    started_at: datetime | None = None,
    budget_from: datetime | None = None,
    mode: SyncMode = SyncMode.FULL,
    rounds: SideRounds | None = None,
) -> tuple[list[Observation], list[CatalogInfo]]:
    """One task run per batch of 20: offers for stale price/stock, catalog for stale info (``summary``
    has counted them: ``FetchSummary.count_stale``).

    Most valuable first; catalog batches interleaved on their own quota; new sell-outs re-checked
    on getItemOffers as they appear, which refreshes the queue's head when it is idle; no call
    starts after the run's time budget (from ``budget_from``, else ``started_at``) is spent, less what followed the
    fetch in the last run of ``mode`` (the policy: :mod:`ecauto_lib.fetching`). With ``rounds``,
    what is confirmed goes to a round every ``push_every`` while the fetch goes on; returns what
    no round took.
    """
    if not summary.stale and not summary.info_stale:
        return [], []

    logger = get_run_logger()
    started_at = started_at or utc_now()
    budget_from = budget_from or started_at
    budget = settings.policy.run_budget
    reserve = last_tail(engine_for(settings.database_url), mode.value) if budget > timedelta(0) else None
    deadline = fetch_deadline(budget_from, budget, reserve)
    if deadline is not None:
        kept = (budget_from + budget - deadline).total_seconds()
        logger.info(
            "time budget %.1f min: no SP-API call after %s (%.0f s kept for pricing, pushes and the"
            " record, as the last %s run needed)",
            budget.total_seconds() / 60,
            deadline.isoformat(timespec="seconds"),
            kept,
            mode.value,
        )
        if budget_from < started_at:
            logger.info(
                "started %.0f s after its scheduled start: its budget counts from %s, so it ends on schedule",
                (started_at - budget_from).total_seconds(),
                budget_from.isoformat(timespec="seconds"),
            )
    started = datetime.now(UTC)
    client = sp_api_client(settings, engine=None if dry_run else engine_for(settings.database_url))
    client.auth.access_token()  # the seller's LWA credentials, before any task (a refusal stops the run)
    stored_states = dict(zip(listings["asin"], listings["stock_state"], strict=True))
    if isinstance(rounds, FetchRounds):
        rounds.stored_states = stored_states  # the same dict: a round's update is the fetch's
    # What is loaded now lives through the fetch: keep the collector from re-scanning it (a full
    # collection mid-fetch is a pause that can push a paced call past its slot). No collection
    # first: it costs a pause as long as the one it avoids (0.4 s in a long-lived process such as
    # the test suite's), and the few cycles frozen with the rest are collected after the fetch.
    gc.freeze()
    try:
        fetched = fetch_offers_and_catalog(settings, client, stale, stored_states, deadline, rounds)
    except BaseException:
        if rounds is not None:
            rounds.stop()  # the round in progress ends; the fetch's error is the run's
        raise
    finally:
        gc.unfreeze()
        summary.ended_after_seconds = (utc_now() - started_at).total_seconds()
    if rounds is not None:
        rounds.wait()  # the round in progress ends before the last one starts
    observations, infos = fetched.observations, fetched.infos
    summary.add_fetch(fetched)
    summary.throttled = sum(int(s.get("throttled", 0)) for s in client.stats.values())
    summary.seconds = (datetime.now(UTC) - started).total_seconds()
    if rounds is not None and rounds.count:
        logger.info(
            "%d rounds priced and pushed %d ASINs' answers as the fetch went on",
            rounds.count,
            fetched.handed_over,
        )
    logger.info(
        "fetched %d ASINs in %.1f s (%d errors; %d 429s, each retried or its re-check left to a batch)",
        len(observations) + fetched.handed_over,
        summary.seconds,
        summary.failed,
        summary.throttled,
    )
    return observations, infos


def push_changes(
    settings: Settings,
    accounts: tuple[AccountConfig, ...],
    plan: PricingPlan,
    run_id: int | None,
    blocked: list[ShopBlock],
    settled: dict[str, Settlement],
    holder: LockHolder | None = None,
    stopped: Mapping[str, PushResult] | None = None,
) -> dict[str, PushResult]:
    """One task per shop, in parallel; each shop's updates in plan order (deferred ones first),
    within what settling its journal left of the hourly budget, then its variations' top-ups. A
    ``blocked`` shop sends nothing: its updates are reported as not sent (deferred); nor does a
    shop whose push ``stopped`` in an earlier round of the run (for the same reason)."""
    by_account: dict[str, list[ItemUpdate]] = {}
    for update in item_updates(plan.changes):
        by_account.setdefault(update.account_id, []).append(update)
    topups = {a.id: tuple(t for t in plan.variation_stock if t.account_id == a.id) for a in accounts}
    results: dict[str, PushResult] = {}
    for block in blocked:
        if block.account_id in by_account or topups.get(block.account_id):
            results[block.account_id] = PushResult(
                block.account_id,
                deferred=by_account.pop(block.account_id, []),
                stopped_by=NEEDS_AUTHORISATION,
                stop_reason=block.message,
                deferred_stock=list(topups.pop(block.account_id, ())),
            )
    for account_id, earlier in (stopped or {}).items():
        if account_id not in results and (account_id in by_account or topups.get(account_id)):
            results[account_id] = PushResult(
                account_id,
                deferred=by_account.pop(account_id, []),
                stopped_by=earlier.stopped_by,
                stop_reason=earlier.stop_reason,
                deferred_stock=list(topups.pop(account_id, ())),
            )
    futures = {
        account.id: push_account.submit(
            settings,
            account,
            as_is(by_account.get(account.id, [])),
            run_id,
            as_is(topups.get(account.id, ())),
            settled.get(account.id),
            holder,
        )
        for account in accounts
        if account.id not in results and (account.id in by_account or topups.get(account.id))
    }
    for account_id, future in futures.items():
        result = future.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            result = failed_push(account_id, by_account.get(account_id, []), result, describe(result))
        results[account_id] = result
    return results


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    mode: SyncMode
    dry_run: bool
    accounts: list[str] | None
    limit: int | None
    demo: bool
    confirm: bool = False
    serve: bool = False
    budget_minutes: float | None = None
    push_every_minutes: float | None = None


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python flows/sync.py", description="Sync BASE listings' prices and visibility with Amazon."
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--price-only", action="store_true", help="refresh stale prices and push price changes only"
    )
    only.add_argument(
        "--stock-only", action="store_true", help="refresh stale stock and push visibility changes only"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="compute and report every change; write nothing"
    )
    parser.add_argument(
        "--confirm",
        "--release-held",
        dest="confirm",
        action="store_true",
        help="push the changes the guards hold for review (big price moves, circuit breaker)",
    )
    parser.add_argument("--account", action="append", metavar="ID", help="only this account (repeatable)")
    parser.add_argument(
        "--limit", type=int, metavar="N", help="fetch at most N stale ASINs (most urgent first)"
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        metavar="M",
        help="start no SP-API call after M minutes and spend them on the most valuable ASINs "
        "(default: ECAUTO_RUN_BUDGET_MINUTES; 0: fetch only what is stale)",
    )
    parser.add_argument(
        "--push-every-minutes",
        type=float,
        metavar="P",
        help="with a time budget: price and push what is confirmed every P minutes while the fetch "
        "goes on (default: ECAUTO_PUSH_EVERY_MINUTES; 0: once, after the fetch)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run against the local simulated marketplace (no credentials needed)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="serve every deployment of prefect.yaml on its schedule (needs `prefect server start` and PREFECT_API_URL)",
    )
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        parser.error("--limit must be 0 or more")
    if args.budget_minutes is not None and not 0 <= args.budget_minutes <= 24 * 60:
        parser.error("--budget-minutes must be between 0 and 1440")
    if args.push_every_minutes is not None and not 0 <= args.push_every_minutes <= 24 * 60:
        parser.error("--push-every-minutes must be between 0 and 1440")
    mode = SyncMode.PRICE if args.price_only else SyncMode.STOCK if args.stock_only else SyncMode.FULL
    return Options(
        mode,
        args.dry_run,
        args.account,
        args.limit,
        args.demo,
        args.confirm,
        args.serve,
        args.budget_minutes,
        args.push_every_minutes,
    )


def preflight(options: Options) -> None:
    """Validate settings, accounts and the database before any API call or DB write."""
    from ecauto_lib.db import check_database
    from ecauto_lib.db.tokens import TokenCipher

    settings = load_settings()
    settings.select_accounts(options.accounts)
    TokenCipher.of(settings.secret_key)  # the key the BASE tokens are encrypted with is set
    check_database(settings.database_url, create=not options.dry_run)


def run(options: Options) -> int:
    """Run the flow once; map its outcome to the exit code."""
    try:
        preflight(options)
    except ConfigError as exc:
        print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        result = sync(
            mode=options.mode.value,
            dry_run=options.dry_run,
            accounts=options.accounts,
            limit=options.limit,
            confirm=options.confirm,
            budget_minutes=options.budget_minutes,
            push_every_minutes=options.push_every_minutes,
        )
    except ConfigError as exc:
        print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
        return 2
    except AlreadyRunningError as exc:
        print(f"実行中 / already running: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # the flow crashed: Prefect has logged the traceback
        print(f"実行エラー / the run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if result.get("error"):  # LWA / SP-API refused the credentials: the one message, no report
        print(f"設定エラー / configuration error: {result['error']}", file=sys.stderr)
        return int(result["exit_code"])
    print()
    print(fit_to_width(result["report"]))  # the terminal's 80 columns; the artifact keeps it whole
    if options.dry_run:
        order = result.get("refresh_order") or []
        print()
        print(f"次回の取得順 / refresh order ({len(order)} ASINs in this run's queue: place, ASIN, why)")
        for line in order:
            print(line)
    return int(result["exit_code"])


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    quiet_prefect()
    if options.demo:
        from flows.demo import run_demo

        return run_demo(options, run)
    if options.serve:
        from flows.serve import serve_deployments

        try:
            serve_deployments(Path(__file__).resolve().parent.parent / "prefect.yaml")
        except ConfigError as exc:
            print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
            return 2
        return 0
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
