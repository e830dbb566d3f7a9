"""Emit a run's alert events to Prefect (the events and their text: :mod:`ecauto_lib.alerts`).

``emit_event`` hands each event to Prefect's events worker, which adds the run's own resources
(the flow run, its flow and deployment) as related and sends it to the server; the automations in
``automations.yaml`` do the rest. Fire-and-forget, so a plain function rather than a task: an
unreachable events endpoint never fails the run.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger
from prefect.events import emit_event
from prefect.runtime import deployment

from ecauto_lib.alerts import AlertEvent, run_events
from ecauto_lib.config import Settings
from ecauto_lib.report.model import RunReport


def current_deployment() -> str | None:
    """The deployment this flow run belongs to (None for a CLI run)."""
    name = deployment.name
    return str(name) if name else None


def emit_alerts(events: Sequence[AlertEvent]) -> int:
    """Emit each event; returns how many were handed to Prefect."""
    sent = 0
    for e in events:
        if emit_event(event=e.event, resource=e.resource, related=list(e.related), payload=e.payload):
            sent += 1
    return sent


def announce(report: RunReport, settings: Settings) -> list[AlertEvent]:
    """The run's events (``ecauto.sync.finished`` and one per thing the seller must act on), emitted."""
    events = run_events(
        report, fetch_failed_pct=settings.alert_fetch_failed_pct, deployment=current_deployment()
    )
    emit_alerts(events)
    get_run_logger().info("events: %s", ", ".join(e.event for e in events))
    return events
