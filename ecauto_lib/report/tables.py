"""The run report's tables as rows for Prefect's table artifacts (one dict per row, one key per column).

``sync-changes``: every change and its result; ``sync-held``: the changes held for review (the
±move guard, circuit breakers); ``sync-flagged-and-failed``: prices refused, items kept off BASE
below the floor, variations not topped up, and items that failed.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ecauto_lib.guards import breaker_kind
from ecauto_lib.report.model import RunReport

Rows = list[dict[str, Any]]


def change_table(report: RunReport) -> Rows:
    """Every change of the run, in ``ChangeRow``'s column order."""
    return [asdict(c) for c in report.changes]


def held_table(report: RunReport) -> Rows:
    """Every change held for review: what, the value held, which guard held it and why."""
    return [
        {
            "asin": h.asin,
            "account_id": h.account_id,
            "base_item_id": h.base_item_id,
            "field": h.field,
            "old_value": h.old_value,
            "new_value": h.new_value,
            "guard": "circuit breaker" if breaker_kind(h) else "price move",
            "reason": h.reason,
        }
        for h in report.held
    ]


def flagged_and_failed_table(report: RunReport) -> Rows:
    """Refused prices, floor hides, variations not topped up and failures, each row with its kind."""
    kinds = (
        ("flagged", report.flagged),
        ("below floor", report.below_floor),
        ("stock not topped up", report.stock_skipped),
        ("failed", report.failures),
    )
    return [{"kind": kind, **asdict(row)} for kind, rows in kinds for row in rows]
