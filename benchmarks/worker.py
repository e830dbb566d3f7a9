"""One measured pipeline run in a fresh process: ``python -m benchmarks.worker CONFIG OUT``.

A fresh process per run keeps the peak RSS and the CPU counters of one run apart from the
others. ``CONFIG`` is a JSON file: ``mode`` (``import``, ``sync`` or ``sync-instant``) and
``env`` (the settings and Prefect variables, set before anything is imported); ``OUT`` receives
the measurements as JSON.

- ``import``: register the listings from the simulator's BASE shops (setup, timed apart);
- ``sync``: the sync flow against the simulator, with phase probes;
- ``sync-instant``: the sync flow with :mod:`benchmarks.instant` APIs (local cost only).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/worker.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.probes import GcPauses, PhaseClock, Probe, installed, peak_rss_mb, process_cpu_seconds


def _account_of(client: Any) -> str:
    return str(getattr(getattr(client, "auth", None), "account_id", "?"))


# Flow-level names (the task call as the flow sees it, Prefect overhead included) and the
# library functions inside them (the work itself). Phase names: "step:*" and "lib:*".
PIPELINE_PROBES: tuple[Probe, ...] = (
    Probe("flows.sync", "load_settings", "step:settings"),
    Probe("flows.sync", "prepare_database", "step:prepare_database"),
    Probe("flows.sync", "start_run_record", "step:run_record"),
    Probe("flows.sync", "finish_run_record", "step:run_record"),
    Probe("flows.sync", "settle_interrupted_pushes", "step:settle_journal"),
    Probe("flows.sync", "load_listings", "step:load_listings"),
    Probe("flows.sync", "diff_ttls", "step:diff_ttls"),
    Probe("flows.sync", "fetch_stale", "step:fetch"),
    Probe("flows.sync", "write_observations", "step:write_observations"),
    Probe("flows.sync", "apply_observations", "step:apply_observations"),
    Probe("flows.sync", "apply_catalog", "step:apply_observations"),
    Probe("flows.sync", "compute_changes", "step:compute_changes"),
    Probe("flows.sync", "push_changes", "step:push"),
    Probe("flows.sync", "summarise", "step:report"),
    Probe("flows.sync", "publish_report", "step:report"),
    Probe("ecauto_lib.db", "upgrade", "lib:db.upgrade"),
    Probe("ecauto_lib.db", "load_listings", "lib:db.load_listings"),
    Probe("ecauto_lib.freshness", "stale_asins", "lib:stale_asins"),
    Probe("ecauto_lib.db", "upsert_observations", "lib:db.upsert_observations"),
    Probe("ecauto_lib.db", "upsert_catalog", "lib:db.upsert_catalog"),
    Probe("tasks.pricing", "plan_changes", "lib:plan_changes"),
    Probe("flows.sync", "item_updates", "lib:item_updates"),
    Probe("ecauto_lib.db", "apply_pushed_changes", "lib:db.apply_pushed_changes"),
    Probe("ecauto_lib.db.journal", "record_sending", "lib:db.journal"),
    Probe("ecauto_lib.db.journal", "record_confirmed", "lib:db.journal"),
    Probe("ecauto_lib.db.journal", "record_outcome", "lib:db.journal"),
    Probe("ecauto_lib.db", "mark_deferred", "lib:db.mark_deferred"),
    Probe("tasks.report", "render_markdown", "lib:render_markdown"),
    Probe("ecauto_lib.amazon.client", "SpApiClient.item_offers_batch", "api:sp.item_offers_batch"),
    Probe("ecauto_lib.amazon.client", "SpApiClient.item_offers", "api:sp.item_offers"),
    Probe("ecauto_lib.amazon.client", "SpApiClient.search_catalog_items", "api:sp.search_catalog_items"),
    Probe("ecauto_lib.base.client", "BaseClient.edit_item", "api:base.edit_item", label=_account_of),
    # Every task run starts with one of these two (retries stay within the same task run).
    Probe("prefect.tasks", "Task.submit", "prefect:task_runs"),
    Probe("prefect.tasks", "Task.__call__", "prefect:task_runs"),
)


class SendTimes:
    """When the SP-API client handed each call to ``requests`` (monotonic), by URL path.

    Set beside the simulator's arrival times, it shows where a too-short gap opened: already
    at the client (the pacer or the threads) or on the way (transport, the server's threads).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.times: dict[str, list[float]] = {}

    def wrap(self, send: Any) -> Any:
        def timed_send(session: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            stamp = time.monotonic()
            with self._lock:
                self.times.setdefault(url.split("?", 1)[0].rsplit("/", 1)[-1], []).append(stamp)
            return send(session, method, url, *args, **kwargs)

        return timed_send


def run_import() -> dict[str, Any]:
    """Register the listings of every shop from the simulator (setup for the live sync)."""
    from flows.import_listings import import_listings

    started = time.perf_counter()
    result = import_listings(source="base")
    return {"seconds": time.perf_counter() - started, "inserted": result["inserted"]}


def run_sync(instant: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sync flow with phase probes; with ``instant``, against the instant fake APIs."""
    import flows.sync
    import tasks.base
    from ecauto_lib.amazon import client as sp_client

    sends = SendTimes()
    patches: list[tuple[Any, str, Any]] = [(sp_client, "send", sends.wrap(sp_client.send))]
    fakes: dict[str, Any] = {}
    if instant is not None:
        from benchmarks.instant import InstantBase, InstantSpApi, build_templates

        templates = build_templates(instant["templates"], instant["template_seed"])
        fakes["sp"] = InstantSpApi(templates)
        patches += [
            (flows.sync, "sp_api_client", lambda *args, **kwargs: fakes["sp"]),
            (tasks.base, "base_client", lambda settings, account, *args, **kwargs: InstantBase(account.id)),
        ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)
    clock = PhaseClock()
    try:
        with installed(clock, PIPELINE_PROBES) as missing, GcPauses() as gc_pauses:
            rss_before = peak_rss_mb()
            cpu0, wall0, mono0 = process_cpu_seconds(), time.perf_counter(), time.monotonic()
            state = flows.sync.sync(return_state=True)
            wall, cpu, mono1 = time.perf_counter() - wall0, process_cpu_seconds() - cpu0, time.monotonic()
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
    # a run that needs attention ends Failed "NeedsAttention" with its result (tasks/states.py)
    result = state.result(raise_on_failure=False)
    if isinstance(result, BaseException):
        raise result
    return {
        "flow_run_id": str(state.state_details.flow_run_id),
        "wall": wall,
        "process_cpu": cpu,
        "monotonic_start": mono0,
        "monotonic_end": mono1,
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_before_flow_mb": rss_before,
        "phases": clock.as_dict(),
        "missing_probes": missing,
        "gc_pauses": gc_pauses.as_dict(),
        "send_times": sends.times,
        "exit_code": result.get("exit_code"),
        "fetch": result.get("fetch"),
        "accounts": result.get("accounts"),
        "changes": result.get("changes"),
        "fake_calls": {k: v["calls"] for k, v in fakes["sp"].stats.items()} if fakes else None,
    }


def serve_one(argv: list[str], usage: str, run: Callable[[dict[str, Any]], dict[str, Any] | None]) -> int:
    """A measured process's life: ``CONFIG OUT`` → ``config["env"]`` set → ``run(config)`` → JSON in ``OUT``.

    ``run`` returns None for a config it cannot carry out (exit 2)."""
    if len(argv) != 2:
        print(usage, file=sys.stderr)
        return 2
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    os.environ.update(config["env"])
    result = run(config)
    if result is None:
        return 2
    Path(argv[1]).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return 0


def _run_mode(config: dict[str, Any]) -> dict[str, Any] | None:
    if config.get("switch_interval"):
        sys.setswitchinterval(config["switch_interval"])
    mode = config["mode"]
    if mode == "import":
        return run_import()
    if mode == "sync":
        return run_sync()
    if mode == "sync-instant":
        return run_sync(instant=config["instant"])
    print(f"unknown mode {mode!r}", file=sys.stderr)
    return None


def main(argv: list[str]) -> int:
    return serve_one(argv, __doc__ or "", _run_mode)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
