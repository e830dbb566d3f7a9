"""The master DB from the flow: observations, run records, held changes (no write in a dry run)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import db
from ecauto_lib.config import SyncMode
from ecauto_lib.db import held
from ecauto_lib.domain import CatalogInfo, HeldChange, Observation
from ecauto_lib.pricing import PricingPlan, fields_decided
from ecauto_lib.push import PushResult, released_on_base, settled_release_requests
from tasks._common import engine_for


@task(name="write-observations", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def write_observations(database_url: str, observations: list[Observation], infos: list[CatalogInfo]) -> int:
    """Upsert what SP-API said, column-wise: an error never changes the stored stock state."""
    engine = engine_for(database_url)
    written = db.upsert_observations(engine, observations)
    db.upsert_catalog(engine, infos)
    return written


@task(name="start-run-record", cache_policy=NO_CACHE)
def start_run_record(database_url: str, mode: str, accounts: list[str], started_at: datetime) -> int:
    """The run's row in ``runs`` (status running until finished)."""
    return db.start_run(engine_for(database_url), mode=mode, accounts=accounts, started_at=started_at)


@task(name="finish-run-record", cache_policy=NO_CACHE)
def finish_run_record(
    database_url: str, run_id: int, status: str, exit_code: int, counts: dict[str, Any], finished_at: datetime
) -> None:
    """Close the run's row with its counts."""
    db.finish_run(
        engine_for(database_url),
        run_id,
        status=status,
        exit_code=exit_code,
        counts=counts,
        finished_at=finished_at,
    )


@task(name="load-held-changes", cache_policy=NO_CACHE)
def load_held_changes(database_url: str, account_ids: list[str]) -> list[HeldChange]:
    """What earlier runs held for review (``--confirm`` releases those it would hold again)."""
    return held.load_held(engine_for(database_url), account_ids)


@task(name="read-release-requests", cache_policy=NO_CACHE)
def pending_release_requests(database_url: str, account_ids: list[str]) -> dict[str, datetime]:
    """The shops whose held changes a seller asked to release while a sync held them (``--confirm``
    that found them busy), and when: read, closed only once the round has pushed them."""
    return held.pending_release_requests(engine_for(database_url), account_ids)


@task(name="settle-released-changes", cache_policy=NO_CACHE)
def settle_released_changes(
    database_url: str, requests: dict[str, datetime], plan: PricingPlan, results: dict[str, PushResult]
) -> None:
    """Drop the holds of released changes now on BASE and close the release requests done."""
    released = plan.released_changes()
    done = settled_release_requests(requests, released, results)
    held.settle_released(engine_for(database_url), released_on_base(released, results), done)


@task(name="request-release", cache_policy=NO_CACHE)
def request_release(database_url: str, account_ids: list[str]) -> None:
    """Ask the sync holding these shops to release their held changes in its next round."""
    held.request_release(engine_for(database_url), account_ids, datetime.now(UTC))


@task(name="record-held-changes", cache_policy=NO_CACHE)
def record_held_changes(
    database_url: str, plan: PricingPlan, mode: SyncMode, account_ids: list[str], run_id: int | None
) -> None:
    """Store this run's holds in place of those it decided on (see ecauto_lib.db.held)."""
    touched = [
        (account_id, int(item_id), field)
        for frame in (plan.changes, plan.held, plan.released)
        for account_id, item_id, field in frame[["account_id", "base_item_id", "field"]].itertuples(
            index=False, name=None
        )
    ]
    held.record_held(
        engine_for(database_url),
        account_ids,
        fields_decided(mode),
        touched,
        # a released change stays stored as held until it is on BASE (settle_released_changes)
        plan.held_changes() + plan.released_holds(),
        run_id=run_id,
        at=datetime.now(UTC),
    )
