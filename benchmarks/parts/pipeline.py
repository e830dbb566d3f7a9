"""The ``pipeline`` part: the sync flow against the simulator (a fresh process, a local Prefect server).

SP-API utilisation per operation, 429s, ASINs per real-time-equivalent second, BASE edits per shop
per hour-equivalent, local CPU/wall/RSS, Prefect task runs. :func:`start` runs the flow;
:func:`finish` waits for the server to ingest its task runs (the driver runs the baseline meanwhile).
"""

from __future__ import annotations

import os
from typing import Any

from benchmarks import metrics
from benchmarks.parts.common import (
    Bench,
    BenchConfig,
    Workspace,
    account_api_wall,
    postgres_database,
    quiet_simulator_gc,
    say,
    settle,
    task_run_counts,
)


def run(config: BenchConfig, bench: Bench) -> dict[str, Any]:
    """The flow run and its figures, in one go."""
    return finish(config, bench, start(config, bench))


def start(config: BenchConfig, bench: Bench) -> dict[str, Any]:
    """The sync flow against the simulator; the server's ingestion is settled later."""
    if config.postgres_url:
        with postgres_database(config.postgres_url) as database_url:
            return _run(config, bench.space, bench.scenario, database_url)
    return _run(config, bench.space, bench.scenario, None)


def _run(config: BenchConfig, space: Workspace, scenario: Any, database_url: str | None) -> dict[str, Any]:
    from ecauto_sandbox import Sandbox
    from ecauto_sandbox.quotas import client_rates
    from flows.demo import demo_environment

    directory = space.root / "pipeline"
    directory.mkdir(parents=True, exist_ok=True)
    with Sandbox(scenario, speed=config.speed, seed=config.seed) as sandbox:
        quiet_simulator_gc()
        env = {
            **demo_environment(sandbox, directory),
            # Retry delays are real seconds: scale them like everything else.
            "ECAUTO_RETRY_BASE_DELAY_SECONDS": f"{2.0 / config.speed:.6f}",
            **({"DATABASE_URL": database_url} if database_url else {}),
            **({"ECAUTO_SP_API_RATES": client_rates(config.speed)} if config.scale_client_defaults else {}),
            **dict(config.extra_env),
        }
        say("pipeline: registering listings from BASE (setup)")
        imported = space.worker("pipeline-import", "import", {**env, **space.prefect_env("pipeline-import")})
        sandbox.clear_requests()
        server_cpu0 = space.server.cpu_seconds()
        say(f"pipeline: sync of {imported['inserted']} listings at speed {config.speed:g}")
        run = space.worker(
            "pipeline-sync",
            "sync",
            {**env, **space.prefect_env("pipeline-sync")},
        )
        records = sandbox.requests
    settings = {k: v for k, v in env.items() if k.startswith("ECAUTO_") and "SECRET" not in k}
    settings["database"] = env["DATABASE_URL"].split(":", 1)[0]
    run["settings"] = settings
    # Other work on the machine shows here (the measured run itself adds about 2).
    run["load_average_after"] = os.getloadavg()
    return {"run": run, "records": records, "imported": imported, "server_cpu0": server_cpu0}


def finish(config: BenchConfig, bench: Bench, pending: dict[str, Any]) -> dict[str, Any]:
    """Once the server has ingested the run's task runs: its CPU and the pipeline's figures."""
    settled = settle(bench.space, pending["run"]["flow_run_id"])
    server_cpu = bench.space.server.cpu_seconds() - pending["server_cpu0"]
    return summarise_pipeline(
        config, pending["run"], pending["records"], pending["imported"], settled, server_cpu
    )


def _gc_summary(run: dict[str, Any], records: list[Any]) -> dict[str, Any] | None:
    """The flow process's GC pauses, and how many 429s came right after a long one.

    A pause delays the call in flight; the next call, paced from its token rather than from the
    late send, then reaches the server too soon (a 429 within a few spacings of the pause's end).
    """
    pauses = run.get("gc_pauses")
    if not pauses:
        return None
    ends = [start + seconds for start, _generation, seconds in pauses["long_pauses"]]
    throttled = [r.t for r in records if r.service == "sp-api" and r.status == 429]
    after = sum(1 for t in throttled if any(0.0 <= t - end <= 0.5 for end in ends))
    return {
        "collections": pauses["collections"],
        "total_seconds": pauses["total_seconds"],
        "longest_seconds": pauses["longest_seconds"],
        "long_pauses": len(pauses["long_pauses"]),
        "throttled_within_half_a_second_after_one": after,
    }


def summarise_pipeline(
    config: BenchConfig,
    run: dict[str, Any],
    records: list[Any],
    imported: dict[str, Any],
    settled: dict[str, Any],
    server_cpu: float,
) -> dict[str, Any]:
    """Quota use from the simulator's log; local cost = the run's wall minus its API-bound time."""
    from ecauto_lib.amazon.pacing import TokenBucket
    from ecauto_lib.config import DEFAULT_SP_API_MIN_SLACK_MS, DEFAULT_SP_API_SAFETY_MARGIN

    speed = config.speed
    phases = run["phases"]
    offers = metrics.quota_use(records, "getItemOffersBatch", speed)
    catalog = metrics.quota_use(records, "searchCatalogItems", speed)
    rechecks = metrics.quota_use(records, "getItemOffers", speed)
    rate, burst = offers["quota_rate"], offers["quota_burst"]
    # the pacer the run used: its margin and millisecond floor (the product's defaults unless --env)
    run_env = dict(config.extra_env)
    pacing = {
        "safety_margin": float(run_env.get("ECAUTO_SP_API_SAFETY_MARGIN") or DEFAULT_SP_API_SAFETY_MARGIN),
        "min_slack": float(run_env.get("ECAUTO_SP_API_MIN_SLACK_MS") or DEFAULT_SP_API_MIN_SLACK_MS) / 1000,
    }
    offers["projected_utilisation_at_speed_1"] = metrics.projected_utilisation(
        offers,
        speed,
        TokenBucket(rate * speed, burst, **pacing).spacing,
        TokenBucket(rate, burst, **pacing).spacing,
    )
    window = metrics.service_window(records, "sp-api")
    sp_span_real = (window[1] - window[0]) if window else 0.0
    base_api_wall = account_api_wall(phases, "api:base.edit_item")
    local_wall = max(0.0, run["wall"] - sp_span_real - base_api_wall)
    equiv_wall = local_wall + sp_span_real * speed + base_api_wall
    asins = (run.get("fetch") or {}).get("asins") or offers["asins"]
    fetch_rate = metrics.ratio(offers["asins"], offers["span_virtual_seconds"])
    return {
        "listings": imported["inserted"],
        "asins": asins,
        "import_seconds": imported["seconds"],
        "exit_code": run["exit_code"],
        "changes": run["changes"],
        "flow_wall_seconds": run["wall"],
        "flow_process_cpu_seconds": run["process_cpu"],
        "peak_rss_mb": run["peak_rss_mb"],
        # getItemOffers only re-checks new sell-outs (in bursts): its calls and 429s count, its
        # "utilisation" says little
        "sp_api": {"getItemOffersBatch": offers, "searchCatalogItems": catalog, "getItemOffers": rechecks},
        "throttled": offers["throttled"] + catalog["throttled"] + rechecks["throttled"],
        "throttled_after_first_minute": offers["throttled_after_first_minute"]
        + catalog["throttled_after_first_minute"]
        + rechecks["throttled_after_first_minute"],
        "client_reported_throttled": (run.get("fetch") or {}).get("throttled"),
        "fetch_summary": run.get("fetch"),
        "sp_api_span_real_seconds": sp_span_real,
        "sp_api_span_virtual_seconds": sp_span_real * speed,
        "base_api_wall_seconds": base_api_wall,
        "base": metrics.base_budget_use(records, speed),
        "fetch_asins_per_second_equiv": fetch_rate,
        "local_wall_seconds": local_wall,
        "local_process_cpu_seconds": run["process_cpu"],
        "prefect_server_cpu_seconds": server_cpu,
        "equiv_wall_seconds": equiv_wall,
        "local_share_of_equiv_wall": metrics.ratio(local_wall, equiv_wall),
        "run_asins_per_second_equiv": metrics.ratio(asins, equiv_wall),
        **task_run_counts(phases, settled, asins),
        "phases": phases,
        "missing_probes": run["missing_probes"],
        "settings": run.get("settings", {}),
        "load_average_after": run.get("load_average_after"),
        "gc_pauses": _gc_summary(run, records),
        "send_to_arrival": metrics.send_to_arrival(
            (run.get("send_times") or {}).get("itemOffers", []),
            records,
            "getItemOffersBatch",
            rate * speed,
        ),
        "accounts": {
            k: {
                f: v.get(f)
                for f in ("prices_changed", "hidden", "published", "held", "calls", "deferred", "errors")
            }
            for k, v in (run.get("accounts") or {}).items()
        },
    }
