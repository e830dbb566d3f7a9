"""The run report's tables as rows for Prefect's table artifacts (one dict per row, one key per column).

``sync-changes``: every change and its result; ``sync-held``: the changes held for review (the
±move guard, circuit breakers); ``sync-flagged-and-failed``: prices refused, items kept off BASE
below the floor, variations not topped up, and items that failed.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ecauto_lib.domain import HeldChange
from ecauto_lib.guards import breaker_kind
from ecauto_lib.report.model import RunReport
from ecauto_lib.report.words import GUARD_TEXT, reason_text, result_text

Rows = list[dict[str, Any]]


def change_table(report: RunReport) -> Rows:
    """Every change of the run, in ``ChangeRow``'s column order, reasons and results in words
    (:mod:`.words`), the product title last (long: the UI shows the rest first); then the held
    ones, as 確認待ち (held)."""
    rows = [
        {
            **asdict(c),
            "reason": _words(report, c.reason),
            "result": result_text(c.result),
            "title": report.titles.get(c.asin, ""),
        }
        for c in report.changes
    ]
    rows += [
        {
            "asin": h.asin,
            "account_id": h.account_id,
            "base_item_id": h.base_item_id,
            "variation_id": None,
            "field": h.field,
            "old_value": h.old_value,
            "new_value": h.new_value,
            "reason": _words(report, h.reason),
            "result": GUARD_TEXT[_guard(h)],
            "title": report.titles.get(h.asin, ""),
        }
        for h in report.held
    ]
    return rows


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
            "guard": _guard(h),
            "reason": _words(report, h.reason),
            "title": report.titles.get(h.asin, ""),
        }
        for h in report.held
    ]


def _guard(held: HeldChange) -> str:
    return "circuit breaker" if breaker_kind(held) else "price move"


def _words(report: RunReport, reason: str) -> str:
    return reason_text(reason, max_delivery_hours=report.max_delivery_hours)


def flagged_and_failed_table(report: RunReport) -> Rows:
    """Refused prices, floor hides, variations not topped up and failures, each row with its kind."""
    kinds = (
        ("flagged", report.flagged),
        ("below floor", report.below_floor),
        ("stock not topped up", report.stock_skipped),
        ("failed", report.failures),
    )
    rows = [{"kind": kind, **asdict(row)} for kind, rows in kinds for row in rows]
    for row in rows:
        if row["kind"] != "failed":
            row["reason"] = _words(report, row["reason"])
    return rows
