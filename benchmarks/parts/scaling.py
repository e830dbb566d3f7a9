"""The ``scaling`` part: the flow's local cost at several sizes, APIs answering instantly."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import metrics
from benchmarks.parts.common import Bench, BenchConfig, phase_wall, say, settle, task_run_counts

LAST_SETTLE_SECONDS = 30.0  # cap on waiting for the server after the last scaling run


def run(
    config: BenchConfig, bench: Bench, while_last_settles: Callable[[], None] | None = None
) -> list[dict[str, Any]]:
    """The flow's local cost at each size, APIs answering instantly (one fresh process each).

    Each run's task runs are ingested by the server before the next run starts (so runs do not
    share the CPU); after the last one, ``while_last_settles`` runs meanwhile and the wait is
    capped (the server's CPU figure for the largest size may then be a lower bound).
    """
    from benchmarks.instant import Shares, build_templates, synthetic_listings
    from ecauto_lib import db

    space = bench.space
    shares = Shares(
        overlap=config.overlap,
        price_moved=config.price_moved_share,
        hidden=config.hidden_share,
        out_of_stock=config.out_of_stock_share,
        filtered=config.filtered_share,
    )
    instant = {"templates": 256, "template_seed": config.seed}
    templates = build_templates(instant["templates"], instant["template_seed"], shares)
    accounts = tuple(f"base_account_{i + 1}" for i in range(config.shops))
    rows = []
    for index, size in enumerate(config.scaling_sizes):
        last = index == len(config.scaling_sizes) - 1
        name = f"scaling-{size}"
        directory = space.root / name
        directory.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{directory / 'master.db'}"
        say(f"scaling: {size} listings, APIs answering instantly")
        setup_started = time.perf_counter()
        engine = db.make_engine(database_url)
        db.upgrade(engine)
        listings = synthetic_listings(size, templates, accounts=accounts, seed=config.seed, shares=shares)
        db.upsert_listings(engine, listings)
        engine.dispose()
        setup_seconds = time.perf_counter() - setup_started
        env = {
            **instant_settings(directory, accounts, database_url),
            **space.prefect_env(name),
            **dict(config.extra_env),
        }
        server_cpu0 = space.server.cpu_seconds()
        run = space.worker(name, "sync-instant", env, instant=instant)
        if last and while_last_settles is not None:
            while_last_settles()
        settled = settle(space, run["flow_run_id"], timeout=LAST_SETTLE_SECONDS if last else 180.0)
        server_cpu = space.server.cpu_seconds() - server_cpu0
        rows.append(summarise_scaling(size, len(listings), run, settled, server_cpu, setup_seconds))
    return rows


def instant_settings(directory: Path, accounts: tuple[str, ...], database_url: str) -> dict[str, str]:
    """Settings for a run whose APIs are faked in-process (the URLs are never contacted)."""
    unused = "http://127.0.0.1:9"
    accounts_file = directory / "accounts.json"
    accounts_file.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "id": a,
                        "name": a,
                        "client_id": f"bench-{a}",
                        "client_secret": "bench-secret",
                        "redirect_uri": "http://127.0.0.1/callback",
                        "refresh_token": "bench-refresh",
                    }
                    for a in accounts
                ]
            }
        ),
        encoding="utf-8",
    )
    return {
        "SP_API_ENDPOINT": unused,
        "LWA_TOKEN_URL": unused + "/auth/o2/token",
        "LWA_APP_ID": "bench-app",
        "LWA_CLIENT_SECRET": "bench-secret",
        "SP_API_REFRESH_TOKEN": "bench-refresh",
        "BASE_API_URL": unused,
        "ECAUTO_ACCOUNTS_FILE": str(accounts_file),
        "DATABASE_URL": database_url,
    }


def summarise_scaling(
    size: int, listings: int, run: dict[str, Any], settled: dict[str, Any], server_cpu: float, setup: float
) -> dict[str, Any]:
    phases = run["phases"]
    fetch = run.get("fetch") or {}
    diff = phase_wall(phases, "lib:stale_asins")
    pricing = phase_wall(phases, "lib:plan_changes")
    asins = fetch.get("asins") or 0
    return {
        "size": size,
        "listings": listings,
        "asins": asins,
        "setup_seconds": setup,
        "flow_wall_seconds": run["wall"],
        "flow_process_cpu_seconds": run["process_cpu"],
        "prefect_server_cpu_seconds": server_cpu,
        "peak_rss_mb": run["peak_rss_mb"],
        "diff_seconds": diff,
        "pricing_seconds": pricing,
        "pricing_plus_diff_seconds": diff + pricing,
        "apply_observations_seconds": phase_wall(phases, "step:apply_observations"),
        "load_seconds": phase_wall(phases, "lib:db.load_listings"),
        "db_write_seconds": phase_wall(
            phases,
            "lib:db.upsert_observations",
            "lib:db.upsert_catalog",
            "lib:db.apply_pushed_changes",
            "lib:db.mark_deferred",
        ),
        "pushed_change_writes": phases.get("lib:db.apply_pushed_changes", {}).get("calls", 0),
        "fetch_step_seconds": phase_wall(phases, "step:fetch"),
        "push_step_seconds": phase_wall(phases, "step:push"),
        "changes": run["changes"],
        **task_run_counts(phases, settled, asins),
        "microseconds_per_listing": run["wall"] / listings * 1e6 if listings else None,
        "peak_rss_before_flow_mb": run.get("peak_rss_before_flow_mb"),
        "gc_longest_pause_seconds": (run.get("gc_pauses") or {}).get("longest_seconds"),
        "phases": phases,
        "missing_probes": run["missing_probes"],
    }


def scaling_fit(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Linear fits over the sizes: flow wall and CPU per listing, task runs per 20 ASINs."""
    sizes = [r["listings"] for r in rows]
    batches = [r["asins"] / 20 for r in rows]
    return {
        "flow_wall_seconds": metrics.linear_fit(sizes, [r["flow_wall_seconds"] for r in rows]),
        "flow_process_cpu_seconds": metrics.linear_fit(sizes, [r["flow_process_cpu_seconds"] for r in rows]),
        "peak_rss_mb": metrics.linear_fit(sizes, [r["peak_rss_mb"] for r in rows]),
        "task_runs_per_20_asins": metrics.linear_fit(batches, [r["task_runs"] or 0 for r in rows]),
    }
