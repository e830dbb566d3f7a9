"""Step 6: the run report as Prefect artifacts (stable keys, so the UI shows their history)."""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from ecauto_lib.db.titles import product_titles
from ecauto_lib.report import RunReport, render_markdown
from ecauto_lib.report.tables import change_table, flagged_and_failed_table, held_table
from ecauto_lib.report.words import CLI_RELEASE_HINT, DEPLOYMENT_RELEASE_HINT
from tasks._common import engine_for

SUMMARY, CHANGES, HELD, FLAGGED_AND_FAILED = (
    "sync-summary",
    "sync-changes",
    "sync-held",
    "sync-flagged-and-failed",
)


def release_hint() -> str:
    """How this run's seller releases held changes: in a deployment run its parameter
    (``confirm=true``), else the command line's ``--confirm``."""
    from prefect.runtime import deployment

    return DEPLOYMENT_RELEASE_HINT if deployment.id else CLI_RELEASE_HINT


def scheduled_start() -> datetime | None:
    """When this deployment run was scheduled to start (Prefect's expected start time, UTC); None
    outside a deployment (a run from the command line starts when it is asked to)."""
    from prefect.runtime import deployment, flow_run

    if not deployment.id:
        return None
    return datetime.fromtimestamp(flow_run.scheduled_start_time.timestamp(), UTC)


@task(name="load-titles", cache_policy=NO_CACHE)
def load_titles(database_url: str, report: RunReport) -> dict[str, str]:
    """The product titles of the run's changed and held items (the master DB's catalog facts)."""
    asins = [c.asin for c in report.changes] + [h.asin for h in report.held]
    return product_titles(engine_for(database_url), asins) if asins else {}


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(report: RunReport) -> str:
    """Store the summary (markdown), the changes, the held changes and the flagged and failed items;
    return the markdown."""
    markdown = render_markdown(report)
    create_markdown_artifact(key=SUMMARY, markdown=markdown, description="EC Auto run summary")
    create_table_artifact(
        key=CHANGES,
        table=change_table(report),
        description="Every price, visibility and stock change of the run",
    )
    create_table_artifact(
        key=HELD,
        table=held_table(report),
        description="Changes held for review (a price move beyond the ±limit, a circuit breaker): "
        "`python flows/sync.py --confirm` releases them (deployments: the parameter confirm=true)",
    )
    if flagged := flagged_and_failed_table(report):
        create_table_artifact(
            key=FLAGGED_AND_FAILED,
            table=flagged,
            description="Prices refused (bounds, margin), items kept off BASE below the floor, "
            "variations not topped up, and items that failed",
        )
    return markdown
