"""Writing results to the master DB (never in a dry run: the flow does not call these then)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import db
from ecauto_lib.domain import CatalogInfo, Observation
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
