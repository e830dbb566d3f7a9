"""EC Auto benchmark: fill the Amazon quota, and prove it side by side with the seed's approach.

    python benchmarks/run.py                 # full run: 10,000 ASINs at --speed 10 (about 16 min)
    python benchmarks/run.py --quick         # smoke run: 400 ASINs at --speed 20 (about 1 min)
    python benchmarks/run.py --skip baseline,scaling,staleness,pacer --postgres
    python benchmarks/run.py --skip baseline,scaling,staleness,pacer --env ECAUTO_SHARED_QUOTA=false

Parts (``--skip`` any of them), one module each under ``benchmarks/parts/``:

- ``pipeline``: the sync flow against the simulator (a fresh process, a local Prefect server):
  SP-API utilisation per operation, 429s, ASINs per real-time-equivalent second, BASE edits per
  shop per hour-equivalent, local CPU/wall/RSS, Prefect task runs;
- ``baseline``: the seed's approach (:mod:`benchmarks.baseline`) on the same scenario;
- ``scaling``: the flow's local cost at several sizes with instantly answering APIs;
- ``staleness``: stock-data age under an hourly schedule (:mod:`benchmarks.staleness`);
- ``pacer``: the in-process and shared (DB) pacers against Prefect's ``rate_limit``, alone,
  at getItemOffersBatch's quota at speed 100 (10 permits a second).

This driver parses the command line, runs the chosen parts in order (the baseline while the server
ingests the pipeline's task runs, the staleness model while it ingests the last scaling run's),
compares them and prints the table.

Prints a table and writes JSON (``--out``; default ``benchmarks/results/latest.json``, with
``--quick`` ``benchmarks/results/quick.json``).
docs/performance.md explains every figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # `python benchmarks/run.py` from a checkout
    sys.path.insert(0, str(REPO))

from benchmarks import metrics  # noqa: E402
from benchmarks.parts import PARTS, baseline, pacer, pipeline, scaling, staleness  # noqa: E402
from benchmarks.parts.common import (  # noqa: E402
    DEFAULT_POSTGRES_ADMIN_URL,
    Bench,
    BenchConfig,
    Workspace,
    make_scenario,
    say,
)
from benchmarks.report import evaluate_targets, render  # noqa: E402
from ecauto_lib.config import environment  # noqa: E402 - Prefect-free: safe before the driver env is set

DEFAULT_OUT = REPO / "benchmarks" / "results" / "latest.json"


def parse_args(argv: list[str] | None) -> tuple[BenchConfig, Path, bool]:
    parser = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--speed", type=float, help="simulator time scale of the pipeline run (default 10; --quick 20)"
    )
    parser.add_argument(
        "--baseline-speed", type=float, help="time scale of the seed's replay (default 100; --quick 200)"
    )
    parser.add_argument("--asins", type=int, help="ASINs in the scenario (default 10000; --quick 400)")
    parser.add_argument("--shops", type=int, default=2)
    parser.add_argument("--overlap", type=float, default=0.1, help="share of ASINs listed in two shops")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--scaling",
        metavar="N,N,...",
        help="listing counts of the local-cost runs (default 1000,10000,100000)",
    )
    parser.add_argument(
        "--skip", default="", metavar="PART,...", help=f"parts to leave out: {','.join(PARTS)}"
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run (about 1 minute)")
    parser.add_argument(
        "--out", type=Path, help="JSON output file (default results/latest.json; --quick: results/quick.json)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    parser.add_argument(
        "--switch-interval", type=float, help="Python GIL switch interval (s) while measuring"
    )
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_POSTGRES_ADMIN_URL,
        metavar="ADMIN_URL",
        help=f"run the pipeline on a fresh PostgreSQL database (default server {DEFAULT_POSTGRES_ADMIN_URL})",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the measured runs, e.g. ECAUTO_SHARED_QUOTA=false (repeatable)",
    )
    parser.add_argument(
        "--unscaled-client-defaults",
        action="store_true",
        help="leave the SP-API client's default rates unscaled (shows the first-call stall)",
    )
    args = parser.parse_args(argv)
    skip = frozenset(p.strip() for p in args.skip.split(",") if p.strip())
    unknown = skip - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    if args.scaling:
        sizes = tuple(int(x) for x in args.scaling.split(","))
    else:
        sizes = (200, 2_000) if args.quick else (1_000, 10_000, 100_000)
    config = BenchConfig(
        speed=args.speed or (20.0 if args.quick else 10.0),
        baseline_speed=args.baseline_speed or (200.0 if args.quick else 100.0),
        asins=args.asins or (400 if args.quick else 10_000),
        shops=args.shops,
        overlap=args.overlap,
        seed=args.seed,
        scaling_sizes=sizes,
        staleness_hours=24 if args.quick else 48,
        staleness_asins=(1_000, 1_500) if args.quick else (10_000, 15_000),
        pacer_calls=15 if args.quick else 40,
        skip=skip,
        quick=args.quick,
        scale_client_defaults=not args.unscaled_client_defaults,
        postgres_url=args.postgres,
        extra_env=tuple(tuple(item.split("=", 1)) for item in args.env),
    )
    if any("=" not in item for item in args.env):
        parser.error("--env takes KEY=VALUE")
    if config.speed <= 0 or config.baseline_speed <= 0 or config.asins < 1 or config.shops < 1:
        parser.error("--speed, --baseline-speed, --asins and --shops must be positive")
    out = args.out or (DEFAULT_OUT.with_name("quick.json") if args.quick else DEFAULT_OUT)
    return config, out, args.keep


# --------------------------------------------------------------------------------------------
# main


def run(config: BenchConfig, root: Path) -> dict[str, Any]:
    """Every selected part, in order; the results document."""
    from benchmarks.prefect_server import PrefectServer

    space = Workspace(root)
    needs_server = any(config.runs(p) for p in ("pipeline", "scaling", "pacer"))
    space.server = PrefectServer(root / "prefect-server") if needs_server else None
    # Before anything imports Prefect: this process uses the benchmark's own home and server.
    driver_env = space.prefect_env("driver")
    driver_env.pop("PREFECT_RESULTS_LOCAL_STORAGE_PATH")
    try:
        with environment(driver_env):
            return _run_parts(config, Bench(space))
    finally:
        gc.unfreeze()


def _run_parts(config: BenchConfig, bench: Bench) -> dict[str, Any]:
    started = datetime.now(UTC)
    server = bench.space.server
    results = bench.results
    results["meta"] = meta(config, started)
    results["config"] = {
        **asdict(config),
        "skip": sorted(config.skip),
        "scaling_sizes": list(config.scaling_sizes),
        "staleness_asins": list(config.staleness_asins),
    }
    if config.runs("pipeline") or config.runs("baseline"):
        t0 = time.perf_counter()
        bench.scenario = scenario = make_scenario(config)
        results["scenario"] = {
            "name": scenario.name,
            "asins": len(scenario.listed_asins()),
            "listings": len(scenario.listings()),
            "generate_seconds": time.perf_counter() - t0,
        }
    try:
        if server is not None:
            say("starting a local Prefect server")
            server.start()
            results["prefect_server"] = {"startup_seconds": server.startup_seconds}
        pending = attempt(results, "pipeline", lambda: pipeline.start(config, bench), config)
        # The baseline needs no Prefect: it runs while the server ingests the pipeline's task runs.
        attempt(results, "baseline", lambda: baseline.run(config, bench), config)
        if pending is not None:
            attempt(results, "pipeline", lambda: pipeline.finish(config, bench, pending), config)
        attempt(results, "pacer", lambda: pacer.run(config, bench), config)

        def stock_age() -> None:
            attempt(results, "staleness", lambda: staleness.run(config, bench), config)

        if config.runs("scaling"):
            attempt(results, "scaling", lambda: scaling.run(config, bench, stock_age), config)
            rows = results["scaling"] if isinstance(results.get("scaling"), list) else []
            results["scaling_fit"] = scaling.scaling_fit(rows)
        if "staleness" not in results:
            stock_age()
    finally:
        if server is not None:
            server.stop()
    results["comparison"] = compare(results)
    results["targets"] = evaluate_targets(results)
    results["meta"]["seconds"] = (datetime.now(UTC) - started).total_seconds()
    return results


def attempt(results: dict[str, Any], part: str, func: Callable[[], Any], config: BenchConfig) -> Any:
    """Run one part (when selected); a failure is recorded in its place and the others still run."""
    if not config.runs(part):
        return None
    try:
        value = func()
    except Exception as exc:  # a broken part must not cost the figures of the others
        traceback.print_exc()
        results[part] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        return None
    results[part] = value
    return value


def compare(results: dict[str, Any]) -> dict[str, Any]:
    """Pipeline against the baseline replay and against the seed's production figure."""
    from benchmarks.baseline import SEED_ASIN_PER_SECOND

    pipeline, baseline = results.get("pipeline") or {}, results.get("baseline") or {}
    return {
        "fetch_vs_baseline": metrics.ratio(
            pipeline.get("fetch_asins_per_second_equiv"), baseline.get("fetch_asins_per_second_equiv")
        ),
        "run_vs_baseline": metrics.ratio(
            pipeline.get("run_asins_per_second_equiv"), baseline.get("run_asins_per_second_equiv")
        ),
        "run_vs_seed_production": metrics.ratio(
            pipeline.get("run_asins_per_second_equiv"), SEED_ASIN_PER_SECOND
        ),
        # ASIN lookups (sell-out confirmations included) per second: the operation rate itself.
        "fetch_vs_seed_production": metrics.ratio(
            pipeline.get("fetch_asins_per_second_equiv"), SEED_ASIN_PER_SECOND
        ),
        "baseline_vs_seed_production": metrics.ratio(
            baseline.get("run_asins_per_second_equiv"), SEED_ASIN_PER_SECOND
        ),
    }


def meta(config: BenchConfig, started: datetime) -> dict[str, Any]:
    from importlib.metadata import version

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
        "started_at": started.isoformat(),
        "git_commit": commit or None,
        "python": platform.python_version(),
        "prefect": version("prefect"),
        "pandas": version("pandas"),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    config, out, keep = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ecauto-bench-"))
    try:
        results = run(config, root)
    finally:
        if keep:
            say(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(render(results))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
