"""Step 5: push one shop's changes to BASE (shops run in parallel, each within its budget)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import db
from ecauto_lib.config import AccountConfig, Settings
from ecauto_lib.connect import base_client
from ecauto_lib.push import PushResult, push_updates
from tasks._common import engine_for


@task(name="push-account", cache_policy=NO_CACHE, task_run_name="push-{account.id}")
def push_account(
    settings: Settings, account: AccountConfig, updates: list[dict[str, Any]], run_id: int
) -> PushResult:
    """Send one shop's updates; every confirmed change is written to the DB as BASE confirms it."""
    logger = get_run_logger()
    engine = engine_for(settings.database_url)
    client = base_client(settings, account, db.DbTokenStore(engine))

    def on_pushed(changes) -> None:  # noqa: ANN001
        db.apply_pushed_changes(engine, run_id, changes)

    def on_delisted(item_id: int, reason: str) -> None:
        db.mark_delisted(engine, account.id, item_id, reason, datetime.now(UTC))
        logger.warning("%s: item %s is gone from BASE, listing marked delisted", account.id, item_id)

    result = push_updates(
        account.id,
        updates,
        client,
        call_budget=settings.policy.base_calls_per_hour,
        on_pushed=on_pushed,
        on_delisted=on_delisted,
    )
    if result.deferred:
        db.mark_deferred(engine, account.id, [u["base_item_id"] for u in result.deferred], datetime.now(UTC))
        logger.warning(
            "%s: %s — %d items deferred to the next run", account.id, result.stopped_by, len(result.deferred)
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
