"""One scheduled run of the day benchmark, in a fresh process: ``python -m benchmarks.day_worker CONFIG OUT``.

A process worker starts a fresh process per flow run; so does the day benchmark. To keep the
import time (real seconds, which the time scale would multiply) out of the schedule, the process
is started ahead of its slot: it imports the flow, then waits for one line on stdin, ``go`` (run
the flow now) or ``cancel`` (the deployment's previous run is still busy: CANCEL_NEW). ``CONFIG``
is a JSON file: ``entrypoint`` (``flows/sync.py:sync``, as in prefect.yaml), ``parameters`` (the
deployment's) and ``env`` (set before anything is imported). ``OUT`` receives what the run did.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/day_worker.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.probes import peak_rss_mb, process_cpu_seconds
from benchmarks.worker import serve_one

_KEPT = ("exit_code", "changes", "held", "item_failures")
_FETCH_KEPT = ("stale", "info_stale", "fetched", "failed", "throttled", "seconds")


def run(config: dict[str, Any]) -> dict[str, Any]:
    import importlib

    path, name = config["entrypoint"].rsplit(":", 1)
    flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
    from ecauto_lib.db.locks import AlreadyRunningError

    ready = time.monotonic()
    cpu_ready = process_cpu_seconds()
    print("ready", flush=True)
    decision = sys.stdin.readline().strip()
    started = time.monotonic()
    out: dict[str, Any] = {
        "ready_monotonic": ready,
        "start_monotonic": started,
        "import_cpu_seconds": cpu_ready,
        "decision": decision,
    }
    if decision != "go":
        out.update(status="cancelled", end_monotonic=started, cpu_seconds=process_cpu_seconds())
        return out
    try:
        result = flow(**config["parameters"])
        status = "completed"
        counts = _counts(result)
    except AlreadyRunningError as exc:
        status, counts = "refused", {"exit_code": 3, "message": str(exc)[:300]}
    except Exception as exc:  # a crashed run is a figure too; Prefect has logged its traceback
        status, counts = "crashed", {"exit_code": 1, "message": f"{type(exc).__name__}: {exc}"[:500]}
    out.update(
        status=status,
        end_monotonic=time.monotonic(),
        cpu_seconds=process_cpu_seconds(),
        flow_cpu_seconds=process_cpu_seconds() - cpu_ready,
        peak_rss_mb=peak_rss_mb(),
        **counts,
    )
    return out


def _counts(result: Any) -> dict[str, Any]:
    """The flow's result, small: its exit code and counts, the shops' counts added up."""
    if not isinstance(result, dict):
        return {}
    counts: dict[str, Any] = {k: result[k] for k in _KEPT if k in result}
    fetch = result.get("fetch")
    if isinstance(fetch, dict):
        counts["fetch"] = {k: fetch[k] for k in _FETCH_KEPT if k in fetch}
    totals: dict[str, int] = {}
    for shop in (result.get("accounts") or {}).values():
        for key, value in (shop if isinstance(shop, dict) else {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    counts["shops"] = totals
    return counts


def main(argv: list[str]) -> int:
    return serve_one(argv, __doc__ or "", run)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
