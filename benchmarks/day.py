"""A day in a shop: how long BASE stays wrong after Amazon changes, with the product run as a seller runs it.

    python benchmarks/day.py                    # 10,000 ASINs, 2 shops, 24 h at speed 30 (~1 h per market)
    python benchmarks/day.py --quick            # 1,000 ASINs, 6 h (01:00-07:00 JST) at speed 100 (~5 min per market)
    python benchmarks/day.py --market heterogeneous --design today --design lanes:ECAUTO_X=1
    python benchmarks/day.py --jobs 2           # the markets' days side by side (one process each)

The simulator runs a market that changes while the product runs (:mod:`ecauto_sandbox.market`:
seeded sell-outs, restocks and price moves, most ASINs calm and a minority volatile, or every ASIN
at the same mean rates), and the product runs on the cadence of ``prefect.yaml`` through its real
flows, each run a fresh process as a process worker would start it (:mod:`benchmarks.day_run`).
Every market event is scored from the simulator's BASE state and the market's truth, never the
product's database (:mod:`benchmarks.day_score`): time until BASE is right per event kind,
exposure in listing-minutes, quota use per SP-API operation, BASE calls per shop-hour, local CPU
and peak RSS. The seed's approach is modelled on the same market (not run).

A *design* is the product as configured for the run (settings in production units, the
deployments file): ``--design NAME`` for one of :data:`benchmarks.day_run.DESIGNS`, or
``--design NAME:KEY=VALUE,...`` (``PREFECT_YAML=path`` for another cadence). Every design sees the
same market (same seed), so "baseline vs new" is ``--design today --design NEW``.

Writes ``benchmarks/results/day.json`` (``--quick``: ``day-quick.json``) and a PNG beside it
(``--plot``); docs/performance.md ("A day in a shop") explains every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # `python benchmarks/day.py` from a checkout
    sys.path.insert(0, str(REPO))

from benchmarks.day_run import DESIGNS, DayConfig, Design  # noqa: E402
from benchmarks.metrics import percentile  # noqa: E402
from ecauto_lib.config import environment  # noqa: E402 - Prefect-free: safe before the driver env is set

MARKETS = ("heterogeneous", "uniform")
RESULTS = REPO / "benchmarks" / "results"
SEED_MEASURED_SECONDS_PER_ASIN = (
    78.6 / 11
)  # the seed's production run: 11 ASINs in 78.6 s, BASE steps included

FULL = DayConfig()
QUICK = DayConfig(
    asins=1_000,
    speed=100.0,
    hours=6.0,
    warmup_hours=1.0,
    window_start_jst=datetime(2026, 1, 15, 1, 0, tzinfo=UTC),
    lead_seconds=10.0,
    setup_seconds=25.0,
)


@dataclass(frozen=True)
class Invocation:
    config: DayConfig
    markets: tuple[str, ...]
    designs: tuple[Design, ...]
    jobs: int
    out: Path
    plot: Path | None
    keep: bool
    quick: bool


def parse_args(argv: list[str] | None) -> Invocation:
    parser = argparse.ArgumentParser(prog="python benchmarks/day.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 ASINs, 6 h at speed 100 (a few minutes)")
    parser.add_argument("--asins", type=int, help="ASINs (default 10000; --quick 1000)")
    parser.add_argument("--shops", type=int, default=2)
    parser.add_argument("--overlap", type=float, default=0.1, help="share of ASINs listed in two shops")
    parser.add_argument("--seed", type=int, default=1, help="the scenario's and the market's seed")
    parser.add_argument("--speed", type=float, help="the common time scale S (default 30; --quick 100)")
    parser.add_argument("--hours", type=float, help="scored hours (default 24; --quick 6)")
    parser.add_argument("--warmup-hours", type=float, help="unscored hours before (default 2; --quick 1)")
    parser.add_argument(
        "--window-start",
        metavar="HH:MM",
        help="Japan time the scored window starts (default 00:00; --quick 01:00)",
    )
    parser.add_argument("--market", action="append", choices=MARKETS, help="market(s) to run (default: both)")
    parser.add_argument(
        "--design",
        action="append",
        metavar="NAME[:KEY=VALUE,...]",
        help=f"product configuration(s) to run (default: today; known: {', '.join(DESIGNS)})",
    )
    parser.add_argument(
        "--setup-seconds",
        type=float,
        help="real seconds the setup gets before the warm-up (default 45; --quick 25)",
    )
    parser.add_argument(
        "--lead-seconds",
        type=float,
        help="real seconds a run's process starts before its slot (default 15; --quick 10)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="days run side by side, one process each")
    parser.add_argument(
        "--out", type=Path, help="JSON output (default results/day.json; --quick day-quick.json)"
    )
    parser.add_argument("--no-plot", action="store_true", help="write no PNG")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    changes: dict[str, Any] = {"shops": args.shops, "overlap": args.overlap, "seed": args.seed}
    for name in ("asins", "speed", "hours", "warmup_hours", "setup_seconds", "lead_seconds"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.window_start:
        try:
            hour, minute = (int(x) for x in args.window_start.split(":"))
            changes["window_start_jst"] = base.window_start_jst.replace(hour=hour, minute=minute)
        except ValueError:
            parser.error("--window-start takes HH:MM")
    config = replace(base, **changes)
    if (
        config.asins < 1
        or config.shops < 1
        or config.speed <= 0
        or config.hours <= 0
        or config.warmup_hours < 0
    ):
        parser.error("--asins, --shops, --speed and --hours must be positive, --warmup-hours 0 or more")
    try:
        designs = tuple(Design.parse(d) for d in (args.design or ["today"]))
    except ValueError as exc:
        parser.error(str(exc))
    if len({d.name for d in designs}) != len(designs):
        parser.error("two designs with the same name")
    out = args.out or RESULTS / ("day-quick.json" if args.quick else "day.json")
    return Invocation(
        config,
        tuple(dict.fromkeys(args.market or MARKETS)),
        designs,
        max(1, args.jobs),
        out,
        None if args.no_plot else out.with_suffix(".png"),
        args.keep,
        args.quick,
    )


def _say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# one day → its figures


def summarise_day(config: DayConfig, raw: dict[str, Any]) -> dict[str, Any]:
    """The figures of one day (the raw timelines are dropped; episodes kept compact for the plot)."""
    from benchmarks.day_score import (
        base_calls_per_shop_hour,
        quota_over_day,
        score_day,
        seed_model_changes,
        stock_age,
    )
    from ecauto_sandbox.quotas import SP_API_USAGE_PLANS

    window = config.window
    truth = raw["truth"]
    score = score_day(truth, raw["listings"], raw["base_initial"], raw["changes"], window)
    seed = {}
    for name, spacing in (("fetch_loop", None), ("as_measured", SEED_MEASURED_SECONDS_PER_ASIN)):
        kwargs = {} if spacing is None else {"spacing": spacing}
        changes, model = seed_model_changes(
            truth, raw["listings"], raw["base_initial"], config.horizon, **kwargs
        )
        seed[name] = {
            "model": model,
            **score_day(truth, raw["listings"], raw["base_initial"], changes, window).summary(),
        }
    runs = raw["runs"]
    ran = [r for r in runs if r.get("status") not in ("cancelled", "lost")]
    product_cpu = sum((r.get("cpu_seconds") or 0.0) for r in ran)
    flow_cpu = sum((r.get("flow_cpu_seconds") or 0.0) for r in ran)
    server_cpu = raw["prefect_server_cpu_seconds"]
    virtual_seconds = config.horizon
    applied: dict[str, int] = {}
    for event in truth.events:
        applied[event.kind] = applied.get(event.kind, 0) + 1
    volatile_asins = {a for a, v in raw["volatility"].items() if v == "volatile"}
    return {
        "market": raw["market"],
        "design": raw["design"],
        "model": raw["model"],
        "events_planned": raw["planned_events"],
        "events_applied": applied,
        "event_applied_late_seconds_max": truth.late_seconds_max,
        **score.summary(),
        "by_volatility": _by_volatility(score, volatile_asins) if volatile_asins else None,
        "hourly_latency": score.hourly(),
        "episodes": [
            [e.kind[0], round((e.start - window[0]) / 3600.0, 4), round(e.seconds / 60.0, 2), e.outcome[0]]
            for e in score.episodes
        ],
        "seed_modelled": seed,
        "sp_api": _with_pacer_ceilings(quota_over_day(raw["calls"], window, SP_API_USAGE_PLANS), config, raw),
        "base_calls_per_shop_hour": base_calls_per_shop_hour(raw["calls"], window),
        "stock_age": stock_age(raw["fetches"], truth.initial, window),
        "runs": _runs_summary(runs),
        "run_rows": runs,
        "cost": {
            "real_wall_seconds": raw["real_wall_seconds"],
            "flow_processes_cpu_seconds": product_cpu,
            "flow_processes_cpu_after_import_seconds": flow_cpu,
            "prefect_server_cpu_seconds": server_cpu,
            "simulator_and_driver_cpu_seconds": raw["driver_cpu_seconds"],
            "local_cpu_share_measured": (product_cpu + server_cpu) / raw["real_wall_seconds"],
            # the same work spread over the day it stands for (speed 1)
            "local_cpu_share_at_speed_1": (product_cpu + server_cpu) / virtual_seconds,
            "peak_rss_mb": max((r.get("peak_rss_mb") or 0.0 for r in ran), default=None),
        },
        "schedule_slip_seconds": raw["schedule_slip_seconds"],
        "settings": raw["settings"],
    }


def _by_volatility(score: Any, volatile: set[str]) -> dict[str, Any]:
    out = {}
    for name, keep in (("volatile", lambda a: a in volatile), ("calm", lambda a: a not in volatile)):
        mine = [e for e in score.episodes if keep(e.asin)]
        out[name] = {
            kind: {
                "episodes": sum(1 for e in mine if e.kind == kind),
                "caught_minutes_p95": percentile(
                    [e.seconds / 60.0 for e in mine if e.kind == kind and e.outcome == "caught"], 95
                ),
            }
            for kind in ("sell_out", "restock", "price")
        }
    return out


def _with_pacer_ceilings(quota: dict[str, Any], config: DayConfig, raw: dict[str, Any]) -> dict[str, Any]:
    """Each operation's pacer ceiling at this speed and at speed 1 (the margin's floor is real ms)."""
    from ecauto_lib.amazon.pacing import TokenBucket
    from ecauto_lib.config import DEFAULT_SP_API_MIN_SLACK_MS, DEFAULT_SP_API_SAFETY_MARGIN

    settings = raw["settings"]
    margin = float(settings.get("ECAUTO_SP_API_SAFETY_MARGIN") or DEFAULT_SP_API_SAFETY_MARGIN)
    floor = float(settings.get("ECAUTO_SP_API_MIN_SLACK_MS") or DEFAULT_SP_API_MIN_SLACK_MS) / 1000.0
    for use in quota.values():
        rate = use["quota_rate"]
        ceilings = []
        for speed in (config.speed, 1.0):
            bucket = TokenBucket(rate * speed, 1, safety_margin=margin, min_slack=floor)
            ceilings.append((1.0 / (rate * speed)) / bucket.spacing)
        use["pacer_ceiling"], use["pacer_ceiling_at_speed_1"] = ceilings
        if use["day_use"] is not None:
            use["day_use_projected_speed_1"] = use["day_use"] * ceilings[1] / ceilings[0]
    return quota


def _runs_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, dict[str, int]] = {}
    for r in runs:
        by.setdefault(r["deployment"], {}).setdefault(r["status"], 0)
        by[r["deployment"]][r["status"]] += 1
    delays = [
        r["start_delay_seconds"]
        for r in runs
        if r.get("start_delay_seconds") is not None and r["status"] != "cancelled"
    ]
    durations = [
        (r["end_at"] - r["start_at"]) / 60.0
        for r in runs
        if r.get("end_at") is not None and r.get("start_at") is not None and r["status"] == "completed"
    ]
    return {
        "by_deployment": by,
        "start_delay_virtual_seconds": {"p50": percentile(delays, 50), "max": max(delays, default=None)},
        "completed_run_virtual_minutes": {
            "p50": percentile(durations, 50),
            "max": max(durations, default=None),
        },
    }


# --------------------------------------------------------------------------------------------
# the invocation


def run(invocation: Invocation, root: Path) -> dict[str, Any]:
    from benchmarks.parts.common import Workspace
    from benchmarks.prefect_server import PrefectServer

    space = Workspace(root)
    space.server = PrefectServer(root / "prefect-server")
    driver_env = space.prefect_env("driver")
    driver_env.pop("PREFECT_RESULTS_LOCAL_STORAGE_PATH")
    started = datetime.now(UTC)
    info = _meta(started)
    days = []
    with environment(driver_env):
        _say("starting a local Prefect server")
        space.server.start()
        try:
            for market in invocation.markets:
                for design in invocation.designs:
                    from benchmarks.day_run import run_day

                    t0 = time.monotonic()
                    raw = run_day(invocation.config, market, design, root, space, say=_say)
                    day = summarise_day(invocation.config, raw)
                    day["invocation_real_seconds"] = time.monotonic() - t0
                    days.append(day)
                    _say(f"{market}/{design.name}: done in {day['invocation_real_seconds']:.0f} s")
        finally:
            space.server.stop()
            import gc

            gc.unfreeze()
    info["seconds"] = (datetime.now(UTC) - started).total_seconds()
    return {"meta": info, "config": _config_json(invocation), "days": days}


def run_parallel(invocation: Invocation, root: Path, argv: list[str]) -> dict[str, Any]:
    """One child invocation per (market, design), ``jobs`` at a time; their days merged."""
    started = datetime.now(UTC)
    info = _meta(started)
    passthrough = _strip(argv, ("--market", "--design", "--jobs", "--out"), ("--no-plot",))
    pending = [(m, d) for m in invocation.markets for d in invocation.designs]
    running: list[tuple[subprocess.Popen, Path]] = []
    parts: list[Path] = []
    while pending or running:
        while pending and len(running) < invocation.jobs:
            market, design = pending.pop(0)
            part = root / f"part-{market}-{design.name}.json"
            spec = (
                design.name
                if design.name in DESIGNS and DESIGNS[design.name] == design
                else _design_spec(design)
            )
            command = [sys.executable, str(Path(__file__).resolve()), *passthrough]
            command += ["--market", market, "--design", spec, "--out", str(part), "--no-plot"]
            _say(f"child: {market}/{design.name}")
            running.append((subprocess.Popen(command, cwd=REPO), part))
        for process, part in list(running):
            if process.poll() is not None:
                running.remove((process, part))
                parts.append(part)
        time.sleep(1.0)
    days = []
    for part in parts:
        if part.exists():
            days += json.loads(part.read_text(encoding="utf-8"))["days"]
        else:
            _say(f"child {part.name} wrote nothing")
    order = {
        (m, d.name): i
        for i, (m, d) in enumerate((m, d) for m in invocation.markets for d in invocation.designs)
    }
    days.sort(key=lambda day: order.get((day["market"], day["design"]["name"]), 99))
    info["seconds"] = (datetime.now(UTC) - started).total_seconds()
    return {"meta": info, "config": _config_json(invocation), "days": days}


def _design_spec(design: Design) -> str:
    items = [f"{k}={v}" for k, v in design.env] + [f"PREFECT_YAML={design.prefect_yaml}"]
    return f"{design.name}:" + ",".join(items)


def _strip(argv: list[str], with_value: tuple[str, ...], flags: tuple[str, ...]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in with_value:
            skip = True
            continue
        if arg in flags or any(arg.startswith(f"{name}=") for name in with_value):
            continue
        out.append(arg)
    return out


def _config_json(invocation: Invocation) -> dict[str, Any]:
    config = asdict(invocation.config)
    config["window_start_jst"] = invocation.config.window_start_jst.strftime("%H:%M")
    return {
        **config,
        "markets": list(invocation.markets),
        "designs": [d.as_dict() for d in invocation.designs],
        "quick": invocation.quick,
    }


def _meta(started: datetime) -> dict[str, Any]:
    """Where and when (call it at the start: the commit is the one the run started from)."""
    from benchmarks.run import meta

    info = meta(None, started)  # type: ignore[arg-type]
    info["command"] = "python benchmarks/day.py " + " ".join(sys.argv[1:])
    return info


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    invocation = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ecauto-day-"))
    try:
        parallel = invocation.jobs > 1 and len(invocation.markets) * len(invocation.designs) > 1
        results = run_parallel(invocation, root, argv) if parallel else run(invocation, root)
    finally:
        if invocation.keep:
            _say(f"work directory kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    invocation.out.parent.mkdir(parents=True, exist_ok=True)
    invocation.out.write_text(
        json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    from benchmarks.day_report import render

    print(render(results))
    print(f"\nJSON: {invocation.out}")
    if invocation.plot is not None and results["days"]:
        from benchmarks.day_plot import plot

        plot(results, invocation.plot)
        print(f"PNG: {invocation.plot}")
    return 0 if results["days"] and all("error" not in d for d in results["days"]) else 1


if __name__ == "__main__":
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    raise SystemExit(main())
