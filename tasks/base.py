"""Step 5: push one shop's changes to BASE (shops run in parallel, each within its budget).

Every edit goes through the push journal: recorded before it is sent, confirmed in the same
transaction that updates the listing. ``settle_journal`` runs first in every run and finishes
what a crashed run left unconfirmed, without sending anything twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import db
from ecauto_lib.base.budget import DAY_LIMIT, blocked_push, next_daily_reset
from ecauto_lib.config import AccountConfig, Settings
from ecauto_lib.connect import base_client, token_store
from ecauto_lib.db import blocks, journal, locks
from ecauto_lib.domain import BudgetBlock, ItemUpdate, StockTopUp
from ecauto_lib.errors import AuthError, TransientError
from ecauto_lib.push import PushResult, Settlement, push_updates, push_variation_stock, settle_unconfirmed
from ecauto_lib.token_health import ShopBlock, ShopTokenHealth, shop_block, shops_token_health
from tasks._common import describe, engine_for


def _now() -> datetime:
    return datetime.now(UTC)


@task(name="check-base-token", cache_policy=NO_CACHE, task_run_name="token-{account.id}")
def check_base_token(settings: Settings, account: AccountConfig) -> ShopBlock | None:
    """A usable access token for the shop (refreshed when stale); the block when BASE refuses it.
    A shop BASE refused for the day (``day_api_limit``) is not called at all."""
    engine = engine_for(settings.database_url)
    if blocks.active_block(engine, account.id, _now()):
        return None
    client = base_client(settings, account, token_store(settings, engine))
    try:
        client.auth.access_token()
    except AuthError as exc:
        block = shop_block(account, exc)
        get_run_logger().warning("%s", block.message)
        return block
    except TransientError as exc:  # not a refusal: the pushes try again (with their own refresh)
        get_run_logger().warning("%s: BASE token check not answered (%s)", account.id, describe(exc))
    return None


@task(name="token-health", cache_policy=NO_CACHE)
def token_health(
    database_url: str, accounts: tuple[AccountConfig, ...], already_told: list[str]
) -> list[ShopTokenHealth]:
    """Each shop's token health from the master DB; warns (naming the shop and the connect_shop
    command) for those that need it, except ``already_told`` (their block was logged)."""
    records = db.DbTokenStore(engine_for(database_url)).records([a.id for a in accounts])
    healths = shops_token_health(accounts, records, _now())
    for health in healths:
        message = health.message()
        if message and health.account_id not in already_told:
            get_run_logger().warning("%s", message)
    return healths


@task(name="settle-journal", cache_policy=NO_CACHE, task_run_name="settle-{account.id}")
def settle_journal(settings: Settings, account: AccountConfig) -> Settlement:
    """Edits a crashed run left unconfirmed: record those BASE has, abandon the others."""
    engine = engine_for(settings.database_url)
    entries = journal.unconfirmed(engine, account.id)
    if not entries:
        return Settlement()
    if block := blocks.active_block(engine, account.id, _now()):
        get_run_logger().warning(
            "%s: %d unconfirmed edits left for after %s (BASE %s)",
            account.id,
            len(entries),
            block.blocked_until.isoformat(timespec="minutes"),
            block.code,
        )
        return Settlement(failed=len(entries), unsettled=frozenset(e.base_item_id for e in entries))
    client = base_client(settings, account, token_store(settings, engine))
    settlement = settle_unconfirmed(
        entries,
        client,
        on_recovered=lambda entry, changes: journal.record_confirmed(
            engine, entry.id, entry.run_id, changes, status="recovered"
        ),
        on_abandoned=lambda entry: journal.record_outcome(engine, entry.id, "abandoned", _now()),
        outage_after=settings.policy.base_outage_errors,
    )
    get_run_logger().warning(
        "%s: %d unconfirmed edits from an earlier run: %d already in BASE (recorded), %d not (re-planned), "
        "%d could not be checked (their items wait for the next run); %d BASE calls",
        account.id,
        len(entries),
        len({c.base_item_id for c in settlement.recovered}),
        settlement.abandoned,
        settlement.failed,
        settlement.calls,
    )
    return settlement


@task(name="push-account", cache_policy=NO_CACHE, task_run_name="push-{account.id}")
def push_account(
    settings: Settings,
    account: AccountConfig,
    updates: list[ItemUpdate],
    run_id: int | None,
    variation_stock: tuple[StockTopUp, ...] = (),
    settled: Settlement | None = None,
    holder: locks.LockHolder | None = None,
) -> PushResult:
    """Send one shop's updates, then its variations' top-ups; every confirmed change is written to
    the DB as BASE confirms it, and the stock BASE answered with after the push.

    ``settled`` is what settling the journal did this run: its calls come out of the hourly
    budget, and items it could not settle are deferred (never sent twice). The shop's lock
    (``holder``'s) is re-read before every edit: a run that was taken over stops at once."""
    settled = settled or Settlement()
    logger = get_run_logger()
    engine = engine_for(settings.database_url)
    if block := blocks.active_block(engine, account.id, _now()):
        # BASE refused the shop for the day: no call at all (not even a token refresh) until then
        result = blocked_push(account.id, updates, block)
        result.deferred_stock.extend(variation_stock)
        deferred = [u.base_item_id for u in result.deferred] + [t.base_item_id for t in variation_stock]
        db.mark_deferred(engine, account.id, deferred, _now())
        logger.warning(
            "%s: BASE %s until %s — %d items deferred, no call made",
            account.id,
            block.code,
            block.blocked_until.isoformat(timespec="minutes"),
            len(result.deferred),
        )
        return result
    client = base_client(settings, account, token_store(settings, engine))

    def on_delisted(item_id: int, reason: str) -> None:
        db.mark_delisted(engine, account.id, item_id, reason, _now())
        logger.warning("%s: item %s is gone from BASE, listing marked delisted", account.id, item_id)

    result = push_updates(
        account.id,
        updates,
        client,
        call_budget=max(0, settings.policy.base_calls_per_hour - settled.calls),
        outage_after=settings.policy.base_outage_errors,
        unsettled=settled.unsettled,
        still_held=(lambda: True) if holder is None else (lambda: locks.holds(engine, account.id, holder)),
        on_sending=lambda update: journal.record_sending(engine, run_id, update, _now()),
        on_pushed=lambda entry_id, changes: journal.record_confirmed(engine, entry_id, run_id, changes),
        on_failed=lambda entry_id: journal.record_outcome(engine, entry_id, "failed", _now()),
        on_delisted=on_delisted,
    )
    if variation_stock and result.stopped_by is None:
        push_variation_stock(
            account.id,
            variation_stock,
            client,
            call_budget=max(0, settings.policy.base_calls_per_hour - settled.calls - result.calls),
            on_pushed=lambda changes: db.apply_pushed_changes(engine, run_id, changes),
            result=result,
        )
    elif variation_stock:
        result.deferred_stock.extend(variation_stock)
    db.record_item_stock(engine, account.id, result.seen_stock)
    if result.deferred_stock:
        db.mark_deferred(engine, account.id, [t.base_item_id for t in result.deferred_stock], _now())
    if result.stopped_by == DAY_LIMIT:
        blocks.record_block(engine, BudgetBlock(account.id, DAY_LIMIT, next_daily_reset(_now())), _now())
    elif result.calls:
        blocks.clear_block(engine, account.id)  # BASE answered again: an ended block is forgotten
    if result.stopped_by == "lock_lost":
        logger.warning(
            "%s: the shop's lock was taken over by another run: %d updates left to it",
            account.id,
            len(result.deferred),
        )
    elif result.deferred:
        db.mark_deferred(engine, account.id, [u.base_item_id for u in result.deferred], _now())
        logger.warning(
            "%s: %s — %d items deferred to the next run",
            account.id,
            result.stop_reason or result.stopped_by,
            len(result.deferred),
        )
    logger.info(
        "%s: %d items updated, %d failed, %d calls in %.1f s",
        account.id,
        result.items_pushed,
        len(result.failed),
        result.calls,
        result.seconds,
    )
    return result
