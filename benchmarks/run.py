"""EC Auto benchmark: fill the Amazon quota, and prove it side by side with the seed's approach.

    python benchmarks/run.py                 # full run: 10,000 ASINs at --speed 10 (about 16 min)
    python benchmarks/run.py --quick         # smoke run: 400 ASINs at --speed 20 (about 1 min)
    python benchmarks/run.py --skip baseline,scaling,staleness,pacer --postgres
    python benchmarks/run.py --skip baseline,scaling,staleness,pacer --env ECAUTO_SHARED_QUOTA=false

Parts (``--skip`` any of them):

- ``pipeline``: the sync flow against the simulator (a fresh process, a local Prefect server):
  SP-API utilisation per operation, 429s, ASINs per real-time-equivalent second, BASE edits per
  shop per hour-equivalent, local CPU/wall/RSS, Prefect task runs;
- ``baseline``: the seed's approach (:mod:`benchmarks.baseline`) on the same scenario;
- ``scaling``: the flow's local cost at several sizes with instantly answering APIs;
- ``staleness``: stock-data age under an hourly schedule (:mod:`benchmarks.staleness`);
- ``pacer``: the in-process and shared (DB) pacers against Prefect's ``rate_limit``, alone,
  at getItemOffersBatch's quota at speed 100 (10 permits a second).

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # `python benchmarks/run.py` from a checkout
    sys.path.insert(0, str(REPO))

from cryptography.fernet import Fernet  # noqa: E402

from benchmarks import metrics  # noqa: E402
from benchmarks.report import evaluate_targets, render  # noqa: E402
from ecauto_lib.config import environment  # noqa: E402 - Prefect-free: safe before the driver env is set

PARTS = ("pipeline", "baseline", "scaling", "staleness", "pacer")
LAST_SETTLE_SECONDS = 30.0  # cap on waiting for the server after the last scaling run
DEFAULT_OUT = REPO / "benchmarks" / "results" / "latest.json"
DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Settings a developer's shell might carry into a measured run.
_SCRUBBED_ENV = (
    "DATABASE_URL",
    "SP_API_REFRESH_TOKEN",
    "REFRESH_TOKEN",
    "LWA_APP_ID",
    "LWA_CLIENT_SECRET",
    "SP_API_ENDPOINT",
    "LWA_TOKEN_URL",
    "BASE_API_URL",
    "ECAUTO_ACCOUNTS_FILE",
    "PREFECT_API_URL",
    "PREFECT_PROFILE",
)


@dataclass(frozen=True)
class BenchConfig:
    """Everything one invocation measures."""

    speed: float = 10.0
    baseline_speed: float = 100.0  # the replay has quotas off; only its virtual seconds count
    asins: int = 10_000
    shops: int = 2
    overlap: float = 0.1
    seed: int = 1
    # Realistic shares for an hourly sync where everything is stale (see docs/performance.md).
    price_moved_share: float = 0.10
    hidden_share: float = 0.05
    out_of_stock_share: float = 0.05
    filtered_share: float = 0.03
    scaling_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    staleness_hours: int = 48
    staleness_asins: tuple[int, int] = (10_000, 15_000)  # the catalogue, and an oversubscribed one
    pacer_calls: int = 40
    skip: frozenset[str] = field(default_factory=frozenset)
    quick: bool = False
    scale_client_defaults: bool = True  # see ecauto_sandbox.quotas.client_rates
    postgres_url: str | None = None  # admin URL: the pipeline run (and a pacer check) on PostgreSQL
    extra_env: tuple[tuple[str, str], ...] = ()  # settings for the measured runs (KEY=VALUE)

    def runs(self, part: str) -> bool:
        return part not in self.skip


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
# helpers


class Workspace:
    """The benchmark's temporary directory and the environment of the processes it starts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base_env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        self.base_env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        # The token store is encrypted (ECAUTO_SECRET_KEY is required): a throwaway key per benchmark.
        self.base_env.setdefault("ECAUTO_SECRET_KEY", Fernet.generate_key().decode())
        self.server: Any = None

    def prefect_env(self, name: str) -> dict[str, str]:
        """Prefect variables for one measured process: the shared server, its own result store."""
        from benchmarks.prefect_server import prefect_environment

        env = prefect_environment(self.root / "prefect-client", self.server.api_url if self.server else None)
        env["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(self.root / name / "results")
        return env

    def worker(self, name: str, mode: str, env: dict[str, str], **extra: Any) -> dict[str, Any]:
        """Run ``benchmarks.worker`` in a fresh process (cwd = its own directory: no ``.env``)."""
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        config, out, log = directory / "config.json", directory / "out.json", directory / "worker.log"
        config.write_text(json.dumps({"mode": mode, "env": env, **extra}), encoding="utf-8")
        with open(log, "wb") as sink:
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.worker", str(config), str(out)],
                cwd=directory,
                env={**self.base_env, **env},
                stdout=sink,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if done.returncode != 0 or not out.exists():
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"worker {name} ({mode}) failed with exit code {done.returncode}:\n{tail}")
        return json.loads(out.read_text(encoding="utf-8"))


def _say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _settle(space: Workspace, flow_run_id: str | None, timeout: float = 180.0) -> dict[str, Any]:
    """Wait for the server to finish ingesting the run's task runs; their count and the wait."""
    from benchmarks.prefect_server import settled_task_run_count

    if not flow_run_id or space.server is None:
        return {"task_runs": None, "settle_seconds": None}
    count, waited = settled_task_run_count(space.server.api_url, flow_run_id, timeout=timeout)
    return {"task_runs": count, "settle_seconds": waited}


def task_run_counts(phases: dict[str, Any], settled: dict[str, Any], asins: int) -> dict[str, Any]:
    """Task runs the flow started (counted in the client) and what the server had recorded."""
    started = phases.get("prefect:task_runs", {}).get("calls")
    return {
        "task_runs": started,
        "task_runs_per_20_asins": metrics.ratio(started, asins / 20 if asins else None),
        "server_recorded_task_runs": settled["task_runs"],
        "task_run_settle_seconds": settled["settle_seconds"],
    }


def phase_wall(phases: dict[str, dict[str, float]], *names: str) -> float:
    return sum(phases.get(n, {}).get("wall", 0.0) for n in names)


def account_api_wall(phases: dict[str, dict[str, float]], prefix: str) -> float:
    """The longest per-shop API time (shops push in parallel)."""
    walls = [v["wall"] for k, v in phases.items() if k.startswith(prefix + "[")]
    return max(walls, default=0.0)


# --------------------------------------------------------------------------------------------
# parts


def make_scenario(config: BenchConfig) -> Any:
    from ecauto_sandbox import Scenario

    return Scenario.generate(
        config.asins,
        config.shops,
        seed=config.seed,
        overlap=config.overlap,
        out_of_stock_share=config.out_of_stock_share,
        filtered_share=config.filtered_share,
        mispriced_share=config.price_moved_share,
        hidden_share=config.hidden_share,
    )


def quiet_simulator_gc() -> None:
    """Move the simulator's world (this process) out of the garbage collector's way.

    The simulator runs in this process; a full collection over its 10,000 products would stall
    its request threads for tens of milliseconds and misdate arrivals, which is the simulator's
    noise, not the pipeline's. The measured pipeline runs in another process, untouched.
    """
    gc.collect()
    gc.freeze()


def start_pipeline(config: BenchConfig, space: Workspace, scenario: Any) -> dict[str, Any]:
    """The sync flow against the simulator; the server's ingestion is settled later."""
    if config.postgres_url:
        with postgres_database(config.postgres_url) as database_url:
            return _pipeline_run(config, space, scenario, database_url)
    return _pipeline_run(config, space, scenario, None)


def _pipeline_run(
    config: BenchConfig, space: Workspace, scenario: Any, database_url: str | None
) -> dict[str, Any]:
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
        _say("pipeline: registering listings from BASE (setup)")
        imported = space.worker("pipeline-import", "import", {**env, **space.prefect_env("pipeline-import")})
        sandbox.clear_requests()
        server_cpu0 = space.server.cpu_seconds()
        _say(f"pipeline: sync of {imported['inserted']} listings at speed {config.speed:g}")
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


def finish_pipeline(config: BenchConfig, space: Workspace, pending: dict[str, Any]) -> dict[str, Any]:
    """Once the server has ingested the run's task runs: its CPU and the pipeline's figures."""
    settled = _settle(space, pending["run"]["flow_run_id"])
    server_cpu = space.server.cpu_seconds() - pending["server_cpu0"]
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


def run_baseline_part(config: BenchConfig, scenario: Any) -> dict[str, Any]:
    from benchmarks.baseline import SEED_ASIN_PER_SECOND, run_baseline
    from ecauto_sandbox import Sandbox

    speed = config.baseline_speed
    _say(f"baseline: the seed's loop over {config.asins} ASINs at speed {speed:g}")
    # Quotas off: the seed's 2.1 s spacing keeps it under getItemOffers' 0.5 req/s with a 5 %
    # margin, which at this time scale is about 1 ms of real time; loopback jitter would cost it
    # 429s it never saw in production (each one a lost 2.1 s slot).
    with Sandbox(scenario, speed=speed, seed=config.seed, enforce_quotas=False) as sandbox:
        quiet_simulator_gc()
        result = run_baseline(sandbox)
        records = sandbox.requests
    offers = metrics.quota_use(records, "getItemOffers", speed)
    fetch_virtual = result.fetch_seconds * speed
    equiv_wall = fetch_virtual + result.push_seconds
    return {
        **result.as_dict(),
        "sp_api": {"getItemOffers": offers},
        "fetch_virtual_seconds": fetch_virtual,
        "fetch_asins_per_second_equiv": metrics.ratio(result.asins, fetch_virtual),
        "equiv_wall_seconds": equiv_wall,
        "run_asins_per_second_equiv": metrics.ratio(result.asins, equiv_wall),
        "base": metrics.base_budget_use(records, speed),
        "seed_production_asins_per_second": SEED_ASIN_PER_SECOND,
        "speed": speed,
    }


def run_scaling(
    config: BenchConfig, space: Workspace, while_last_settles: Callable[[], None] | None = None
) -> list[dict[str, Any]]:
    """The flow's local cost at each size, APIs answering instantly (one fresh process each).

    Each run's task runs are ingested by the server before the next run starts (so runs do not
    share the CPU); after the last one, ``while_last_settles`` runs meanwhile and the wait is
    capped (the server's CPU figure for the largest size may then be a lower bound).
    """
    from benchmarks.instant import Shares, build_templates, synthetic_listings
    from ecauto_lib import db

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
        _say(f"scaling: {size} listings, APIs answering instantly")
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
        settled = _settle(space, run["flow_run_id"], timeout=LAST_SETTLE_SECONDS if last else 180.0)
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


def run_staleness(config: BenchConfig, asins_per_second: float | None) -> list[dict[str, Any]]:
    from benchmarks.staleness import StalenessSetup, simulate

    per_hour = (asins_per_second or 0.1 * 0.98 * 20) * 3600
    _say(f"staleness: hourly schedule, {per_hour:.0f} ASINs fetched per hour at most")
    # A smaller catalogue keeps its proportions: the budget scales with it.
    scale = config.staleness_asins[0] / 10_000
    size, oversubscribed = config.staleness_asins
    cases = [("urgent", size), ("listing", size), ("fill", size), ("urgent", oversubscribed)]
    cases.append(("listing", oversubscribed))
    return [
        simulate(
            StalenessSetup(
                asins=n, asins_per_hour=per_hour * scale, hours=config.staleness_hours, order=order
            )
        )
        for order, n in cases
    ]


def run_pacer(config: BenchConfig, space: Workspace) -> dict[str, Any]:
    """The pacers alone, at getItemOffersBatch's quota at speed 100 (--quick: at its speed)."""
    from benchmarks import pacer_check

    rate, calls = 0.1 * max(config.speed, 100.0), config.pacer_calls
    _say(f"pacer: {calls} permits at {rate:g}/s from each pacer")
    results = {
        "token_bucket": pacer_check.token_bucket(rate, calls),
        "shared_pacer_sqlite": pacer_check.shared_pacer(rate, calls, f"sqlite:///{space.root / 'pacer.db'}"),
    }
    if config.postgres_url:
        with postgres_database(config.postgres_url) as url:
            results["shared_pacer_postgresql"] = pacer_check.shared_pacer(rate, calls, url)
    results["prefect_rate_limit"] = pacer_check.prefect_rate_limit(rate, calls)
    return results


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``admin_url``, dropped afterwards."""
    from ecauto_lib.db.engine import (
        throwaway_postgres_database,  # imported late: no DB stack before the driver env
    )

    with throwaway_postgres_database(admin_url, "ecauto_bench") as url:
        yield url


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
            return _run_parts(config, space)
    finally:
        gc.unfreeze()


def _run_parts(config: BenchConfig, space: Workspace) -> dict[str, Any]:
    started = datetime.now(UTC)
    server = space.server
    results: dict[str, Any] = {
        "meta": meta(config, started),
        "config": {
            **asdict(config),
            "skip": sorted(config.skip),
            "scaling_sizes": list(config.scaling_sizes),
            "staleness_asins": list(config.staleness_asins),
        },
    }
    scenario = None
    if config.runs("pipeline") or config.runs("baseline"):
        t0 = time.perf_counter()
        scenario = make_scenario(config)
        results["scenario"] = {
            "name": scenario.name,
            "asins": len(scenario.listed_asins()),
            "listings": len(scenario.listings()),
            "generate_seconds": time.perf_counter() - t0,
        }
    try:
        if server is not None:
            _say("starting a local Prefect server")
            server.start()
            results["prefect_server"] = {"startup_seconds": server.startup_seconds}
        pending = attempt(results, "pipeline", lambda: start_pipeline(config, space, scenario), config)
        # The baseline needs no Prefect: it runs while the server ingests the pipeline's task runs.
        attempt(results, "baseline", lambda: run_baseline_part(config, scenario), config)
        if pending is not None:
            attempt(results, "pipeline", lambda: finish_pipeline(config, space, pending), config)
        attempt(results, "pacer", lambda: run_pacer(config, space), config)

        def staleness() -> None:
            rate = (results.get("pipeline") or {}).get("fetch_asins_per_second_equiv")
            attempt(results, "staleness", lambda: run_staleness(config, rate), config)

        if config.runs("scaling"):
            attempt(results, "scaling", lambda: run_scaling(config, space, staleness), config)
            rows = results["scaling"] if isinstance(results.get("scaling"), list) else []
            results["scaling_fit"] = scaling_fit(rows)
        if "staleness" not in results:
            staleness()
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
            _say(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(render(results))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
