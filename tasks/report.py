"""Step 6: the run report as Prefect artifacts (stable keys, so the UI shows their history)."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from ecauto_lib.report import RunReport, render_markdown

CHANGE_TABLE_COLUMNS = [
    "asin",
    "account_id",
    "base_item_id",
    "variation_id",
    "field",
    "old_value",
    "new_value",
    "reason",
    "result",
]


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(report: RunReport) -> str:
    """Store the summary (markdown) and the change, flagged and failure tables; return the markdown."""
    markdown = render_markdown(report)
    create_markdown_artifact(key="sync-summary", markdown=markdown, description="EC Auto run summary")
    create_table_artifact(
        key="sync-changes",
        table=[{k: c.get(k) for k in CHANGE_TABLE_COLUMNS} for c in report.changes],
        description="Every price, visibility and stock change of the run",
    )
    if report.flagged or report.held or report.below_floor or report.stock_skipped or report.failures:
        create_table_artifact(
            key="sync-held-and-failed",
            table=[{"kind": "flagged", **r} for r in report.flagged]
            + [{"kind": "held", **r} for r in report.held]
            + [{"kind": "below floor", **r} for r in report.below_floor]
            + [{"kind": "stock not topped up", **r} for r in report.stock_skipped]
            + [{"kind": "failed", **r} for r in report.failures],
            description="Prices refused (bounds, margin), changes held for review, items kept off "
            "BASE below the floor, and items that failed",
        )
    return markdown
