"""One day of one design on one market: the simulator, the market, the schedule and the runs.

Everything runs on one time scale ``S`` (``DayConfig.speed``): the simulator at ``--speed S``
(quotas, token lifetimes and BASE budgets follow its virtual clock), the market's events at
their virtual times, the schedule of ``prefect.yaml`` compressed by ``S``, and the product's
time-valued settings (:data:`TIME_SCALED_SETTINGS`) divided by ``S`` through its own
environment. Virtual time = real time × ``S``; the product needs no clock hook. What does *not*
scale: local work (CPU, imports, Prefect's own start-up per run), loopback latency and the
pacers' millisecond floor, so at high ``S`` they cost ``S`` times more virtual time than in
production. The JSON reports them (``start_delay``, the pacer ceilings).

A *design* is a configuration of the product for the same run (:class:`Design`): settings in
production units (scaled here) and the prefect.yaml whose deployments set the cadence.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.day_score import BaseChange, Call, Listing
from benchmarks.probes import process_cpu_seconds

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PREFECT_YAML = REPO / "prefect.yaml"
JST = timedelta(hours=9)
OFFERS_OPERATIONS = ("getItemOffersBatch", "getItemOffers")  # the answers that carry stock


def _time_scaled_defaults() -> dict[str, float]:
    """Every product setting that is a duration, with its default in its own unit (one
    definition: the product's). A later design's new duration settings belong here too."""
    from ecauto_lib.config import Settings, SyncPolicy

    policy = SyncPolicy()
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    return {
        "ECAUTO_INFO_TTL_HOURS": policy.info_ttl / hour,
        "ECAUTO_PRICE_TTL_HOURS": policy.price_ttl / hour,
        "ECAUTO_STOCK_TTL_HOURS": policy.stock_ttl / hour,
        "ECAUTO_TTL_SLACK_MINUTES": policy.ttl_slack / minute,
        "ECAUTO_RUN_BUDGET_MINUTES": policy.run_budget / minute,
        "ECAUTO_PUSH_EVERY_MINUTES": policy.push_every / minute,
        "ECAUTO_UNKNOWN_HIDE_HOURS": (policy.unknown_hide_after or timedelta(0)) / hour,  # 0: never
        "ECAUTO_RETRY_BASE_DELAY_SECONDS": Settings.__dataclass_fields__["retry_base_delay_seconds"].default,
    }


TIME_SCALED_SETTINGS: dict[str, float] = _time_scaled_defaults()
# Flow parameters a deployment may set that are durations (divided by the time scale too).
TIME_SCALED_PARAMETERS = ("budget_minutes", "push_every_minutes")
TODAY_PREFECT_YAML = REPO / "benchmarks" / "today-prefect.yaml"  # the cadence before issue #17


@dataclass(frozen=True)
class Design:
    """The product as configured for one run: settings in production units and the cadence."""

    name: str
    env: tuple[tuple[str, str], ...] = ()
    prefect_yaml: Path = DEFAULT_PREFECT_YAML

    @classmethod
    def parse(cls, spec: str) -> Design:
        """``NAME`` (a known design) or ``NAME:KEY=VALUE,KEY=VALUE`` (``PREFECT_YAML=path`` picks
        the deployments file)."""
        name, _, rest = spec.partition(":")
        base = DESIGNS.get(name, cls(name))
        if not rest:
            if name not in DESIGNS:
                raise ValueError(
                    f"unknown design {name!r} (known: {', '.join(DESIGNS)}); or NAME:KEY=VALUE,..."
                )
            return base
        env = dict(base.env)
        yaml = base.prefect_yaml
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"design {name!r}: expected KEY=VALUE, got {item!r}")
            if key == "PREFECT_YAML":
                yaml = Path(value)
            else:
                env[key] = value
        return cls(name, tuple(env.items()), yaml)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "env": dict(self.env), "prefect_yaml": str(self.prefect_yaml)}


DESIGNS: dict[str, Design] = {
    # Today's design, the baseline: the cadence before #17 (hourly stock runs with no budget, price
    # every 4 h) and the oldest-first order; a run with no budget never uses getItemOffers to refresh.
    "today": Design("today", (("ECAUTO_VALUE_ORDER", "false"),), TODAY_PREFECT_YAML),
    # The first #17 cadence: a 15-minute grid of runs with 12-minute budgets, each pushing once.
    "grid": Design("grid", (), REPO / "benchmarks" / "grid-prefect.yaml"),
    # The product as committed (#17): prefect.yaml's served loop (an hourly run fetching for 58
    # minutes without a pause, pushing every 5), every offers lane full, the refresh order by
    # value with the fairness floor.
    "fresh": Design("fresh"),
    # The same with the oldest-first order: what ordering by value adds.
    "fresh-age": Design("fresh-age", (("ECAUTO_VALUE_ORDER", "false"),)),
}


def scaled_parameters(parameters: dict[str, Any], speed: float) -> dict[str, Any]:
    """A run's flow parameters with those of :data:`TIME_SCALED_PARAMETERS` divided by ``speed``."""
    return {
        k: (v / speed if k in TIME_SCALED_PARAMETERS and isinstance(v, int | float) else v)
        for k, v in parameters.items()
    }


def scaled_settings(env: dict[str, str], speed: float) -> dict[str, str]:
    """``env`` with every duration of :data:`TIME_SCALED_SETTINGS` (given or default) divided by ``speed``."""
    out = dict(env)
    for name, default in TIME_SCALED_SETTINGS.items():
        value = float(env[name]) if env.get(name) not in (None, "") else default
        out[name] = f"{value / speed:.9g}"
    return out


@dataclass(frozen=True)
class DayConfig:
    """The size and time scale of a day (the same for every design and market compared)."""

    asins: int = 10_000
    shops: int = 2
    overlap: float = 0.1
    seed: int = 1
    speed: float = 30.0
    hours: float = 24.0  # the scored window
    warmup_hours: float = 2.0  # the market and the schedule run before the window, unscored
    window_start_jst: datetime = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)  # a wall-clock time in Japan
    lead_seconds: float = 15.0  # real: a run's process starts this long before its slot
    setup_seconds: float = 45.0  # real: the setup's head start before the warm-up begins
    poll_seconds: float = 0.01  # real: the scheduler's tick

    @property
    def horizon(self) -> float:
        """Virtual seconds from the warm-up's start to the window's end."""
        return (self.warmup_hours + self.hours) * 3600.0

    @property
    def window(self) -> tuple[float, float]:
        return self.warmup_hours * 3600.0, self.horizon

    def start_utc(self) -> datetime:
        """The warm-up's start as a UTC instant (the window starts at ``window_start_jst``, JST)."""
        naive = self.window_start_jst.replace(tzinfo=None)
        return (naive - JST).replace(tzinfo=UTC) - timedelta(hours=self.warmup_hours)


@dataclass(frozen=True)
class ScheduledRun:
    at: float  # virtual seconds after the warm-up's start
    deployment: str
    entrypoint: str
    parameters: dict[str, Any]
    limit: int | None
    cancel_new: bool


def day_schedule(prefect_yaml: Path, start: datetime, horizon: float) -> list[ScheduledRun]:
    """Every run the deployments of ``prefect_yaml`` schedule in ``[start, start + horizon)``,
    in time order, with Prefect's own cron engine (the server's ``CronSchedule``)."""
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy
    from prefect.server.schemas.schedules import CronSchedule

    from flows.serve import read_deployment_specs

    end = start + timedelta(seconds=horizon)
    runs = []
    for spec in read_deployment_specs(prefect_yaml):
        concurrency = spec.concurrency
        for schedule in spec.schedules:
            cron = CronSchedule(cron=schedule.cron, timezone=schedule.timezone, day_or=schedule.day_or)
            dates = asyncio.run(cron.get_dates(n=100_000, start=start, end=end))
            for date in dates:
                at = (date - start).total_seconds()
                if 0 <= at < horizon:
                    runs.append(
                        ScheduledRun(
                            at,
                            spec.name,
                            spec.entrypoint,
                            {**spec.parameters, **(schedule.parameters or {})},
                            concurrency.limit if concurrency else None,
                            bool(concurrency)
                            and concurrency.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW,
                        )
                    )
    return sorted(runs, key=lambda r: (r.at, r.deployment))


@dataclass
class _Run:
    scheduled: ScheduledRun
    directory: Path
    process: subprocess.Popen | None = None
    decided: str | None = None
    go_at: float | None = None
    result: dict[str, Any] = field(default_factory=dict)


class Collector:
    """Drains the simulator's request log every ``interval`` real seconds into compact rows."""

    def __init__(self, sandbox: Any, origin: float, interval: float = 0.5) -> None:
        self._sandbox = sandbox
        self._clock = sandbox.state.clock
        self.origin = origin
        self.calls: list[Call] = []
        self.changes: list[BaseChange] = []
        self.fetches: list[tuple[float, tuple[str, ...]]] = []  # offers answered: (at, ASINs)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="day-collector", daemon=True)

    def start(self) -> Collector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.drain()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.drain()

    def drain(self) -> None:
        for record in self._sandbox.drain_requests():
            at = self._clock.virtual_seconds(record.t) - self.origin
            self.calls.append(
                Call(
                    at,
                    record.service,
                    record.operation,
                    record.status,
                    record.error_code,
                    record.shop_id,
                    len(record.asins),
                )
            )
            if record.operation in OFFERS_OPERATIONS and record.status == 200:
                self.fetches.append((at, record.asins))
            if record.operation == "itemsEdit" and record.status == 200 and isinstance(record.response, dict):
                item = record.response.get("item") or {}
                self.changes.append(
                    BaseChange(
                        at,
                        str(record.shop_id),
                        int(item["item_id"]),
                        int(item["price"]),
                        int(item["visible"]),
                    )
                )


def run_day(
    config: DayConfig, market: str, design: Design, root: Path, space: Any, say: Any = print
) -> dict[str, Any]:
    """One day: returns the raw material of the figures (truth, BASE changes, calls, runs, costs)."""
    from benchmarks.parts.common import quiet_simulator_gc
    from ecauto_sandbox import Sandbox, Scenario
    from ecauto_sandbox.market import MarketModel, MarketRunner, plan_market, prepare
    from ecauto_sandbox.quotas import client_rates
    from flows.demo import demo_environment

    directory = root / f"{market}-{design.name}"
    directory.mkdir(parents=True, exist_ok=True)
    speed = config.speed
    scenario = Scenario.generate(
        config.asins,
        config.shops,
        seed=config.seed,
        overlap=config.overlap,
        out_of_stock_share=0.0,
        filtered_share=0.0,
        mispriced_share=0.0,
        hidden_share=0.0,
    )
    plan = plan_market(scenario, MarketModel.named(market), config.horizon / 3600.0, seed=config.seed)
    ready = prepare(scenario, plan)
    start = config.start_utc()
    schedule = [
        replace(r, parameters=scaled_parameters(r.parameters, speed))
        for r in day_schedule(design.prefect_yaml, start, config.horizon)
    ]
    head = config.setup_seconds * speed
    sandbox = Sandbox(ready, speed=speed, seed=config.seed, start_at=start - timedelta(seconds=head))
    with sandbox:
        quiet_simulator_gc()
        env = {
            **demo_environment(sandbox, directory),
            "ECAUTO_SP_API_RATES": client_rates(speed),
            **scaled_settings(dict(design.env), speed),
        }
        say(f"{market}/{design.name}: registering {len(ready.listings())} listings from BASE (setup)")
        space.worker(
            f"{directory.name}-import", "import", {**env, **space.prefect_env(f"{directory.name}-import")}
        )
        prefill(env["DATABASE_URL"], ready, plan, sandbox, head, speed, config.seed)
        origin = head  # the clock's virtual seconds at the warm-up's start
        slip = max(0.0, sandbox.state.clock.virtual_seconds() - origin)
        if slip > 0:
            say(f"{market}/{design.name}: setup took {slip / speed:.1f} s longer than its head start")
            origin += slip
        sandbox.drain_requests()  # the setup's calls are not the day's
        runner = MarketRunner(sandbox.state, plan).start(origin)  # waits for its time 0
        collector = Collector(sandbox, origin).start()
        server_cpu0 = space.server.cpu_seconds()
        driver_cpu0 = process_cpu_seconds()
        origin_real = time.monotonic() + (origin - sandbox.state.clock.virtual_seconds()) / speed
        say(
            f"{market}/{design.name}: day starts ({len(schedule)} scheduled runs, {len(plan.events)} market events)"
        )
        runs = _run_schedule(config, schedule, runner, env, space, directory, say)
        runner.stop()
        wall = time.monotonic() - origin_real
        collector.stop()
        driver_cpu = process_cpu_seconds() - driver_cpu0
        server_cpu = space.server.cpu_seconds() - server_cpu0
    listings = [Listing(shop, item, asin) for shop, asin, item in ready.listings()]
    base_initial = {(s.id, i.item_id): (i.price, i.visible) for s in ready.shops for i in s.items}
    return {
        "market": market,
        "design": design.as_dict(),
        "model": plan.model.as_dict(),
        "planned_events": plan.counts(),
        "truth": runner.truth,
        "listings": listings,
        "base_initial": base_initial,
        "changes": collector.changes,
        "calls": collector.calls,
        "fetches": collector.fetches,
        "runs": runs,
        "schedule_slip_seconds": slip,
        "real_wall_seconds": wall,
        "driver_cpu_seconds": driver_cpu,
        "prefect_server_cpu_seconds": server_cpu,
        "settings": {k: v for k, v in env.items() if k.startswith("ECAUTO_") and "SECRET" not in k},
        "volatility": {a: s.volatility for a, s in plan.initial.items()},
    }


def prefill(
    database_url: str, scenario: Any, plan: Any, sandbox: Any, origin: float, speed: float, seed: int
) -> None:
    """The master DB as after a day of hourly runs: every ASIN's offers observed at a random time
    in the virtual hour before the warm-up, its catalog facts within the week before.

    Written with the product's own upserts (setup, not measured); times are the product's real
    clock, mapped from virtual time (virtual = real × speed).
    """
    from ecauto_lib import db
    from ecauto_lib.domain import CatalogInfo, Observation

    clock = sandbox.state.clock
    now_real, now_virtual = datetime.now(UTC), clock.virtual_seconds()
    rng = random.Random(f"prefill|{seed}")

    def real(virtual: float) -> datetime:
        return now_real + timedelta(seconds=(virtual - now_virtual) / speed)

    anchor = min(origin, now_virtual)
    observations, infos = [], []
    for asin in sorted(plan.initial):
        product = scenario.products[asin]
        expected = product.expected()
        observations.append(
            Observation(
                asin,
                expected.outcome,
                real(anchor - rng.uniform(0, 3600.0)),
                price_yen=expected.price_yen,
                shipping_yen=expected.shipping_yen,
                points=expected.points,
                offer_count=expected.offer_count,
                reason=None if expected.price_yen else "NoBuyableOffers",
            )
        )
        infos.append(
            CatalogInfo(
                asin, real(anchor - rng.uniform(0, 7 * 86400.0)), title=product.title, brand=product.brand
            )
        )
    engine = db.make_engine(database_url)
    try:
        db.upsert_catalog(engine, infos)
        db.upsert_observations(engine, observations)
    finally:
        engine.dispose()


def _run_schedule(
    config: DayConfig,
    schedule: list[ScheduledRun],
    market: Any,
    env: dict[str, str],
    space: Any,
    directory: Path,
    say: Any,
) -> list[dict[str, Any]]:
    """Start each run's process ``lead_seconds`` before its slot, let it go (or cancel it, as
    CANCEL_NEW does when the deployment's previous run is still busy) at its slot; at the
    horizon, wait for the runs still going, then collect what each did."""
    speed = config.speed
    lead = config.lead_seconds * speed
    runs = [_Run(s, directory / f"run-{i:03d}-{s.deployment}") for i, s in enumerate(schedule)]
    busy: dict[str, list[_Run]] = {}
    queued: list[_Run] = []
    while True:
        now = market.now()
        if now >= config.horizon:
            break
        for run in runs:
            if run.process is None and run.scheduled.at - lead <= now:
                run.process = _spawn(run, env, space)
        for run in runs:
            if (
                run.process is not None
                and run.decided is None
                and run.scheduled.at <= now
                and run not in queued
            ):
                queued.append(run)
        for run in list(queued):
            mine = [
                r for r in busy.get(run.scheduled.deployment, []) if r.process and r.process.poll() is None
            ]
            busy[run.scheduled.deployment] = mine
            if run.scheduled.limit is not None and len(mine) >= run.scheduled.limit:
                if run.scheduled.cancel_new:
                    _decide(run, "cancel", market.now())
                    queued.remove(run)
                continue  # ENQUEUE: waits for a slot
            _decide(run, "go", market.now())
            busy.setdefault(run.scheduled.deployment, []).append(run)
            queued.remove(run)
        time.sleep(config.poll_seconds)
    for run in runs:
        if run.process is not None and run.decided is None:
            _decide(run, "cancel", market.now())
    deadline = time.monotonic() + max(60.0, 2 * 3600.0 / speed)
    for run in runs:
        if run.process is None:
            continue
        try:
            run.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"run {run.directory.name} still busy after the day: terminated")
            run.process.terminate()
            run.process.wait(timeout=30)
        run.result = _read_result(run)
    clock_origin = market.origin
    out = []
    for run in runs:
        if run.process is None:
            continue
        r = run.result
        row = {
            "deployment": run.scheduled.deployment,
            "scheduled_at": run.scheduled.at,
            "decision": run.decided,
            "status": r.get("status", "lost"),
            **{
                k: v for k, v in r.items() if k not in ("ready_monotonic", "start_monotonic", "end_monotonic")
            },
        }
        vclock = market._state.clock  # noqa: SLF001 - the benchmark reads the simulator's clock
        for key in ("ready", "start", "end"):
            mono = r.get(f"{key}_monotonic")
            row[f"{key}_at"] = None if mono is None else vclock.virtual_seconds(mono) - clock_origin
        if row.get("start_at") is not None:
            row["start_delay_seconds"] = row["start_at"] - run.scheduled.at
        out.append(row)
    return out


def _spawn(run: _Run, env: dict[str, str], space: Any) -> subprocess.Popen:
    run.directory.mkdir(parents=True, exist_ok=True)
    config = run.directory / "config.json"
    config.write_text(
        json.dumps(
            {
                "entrypoint": run.scheduled.entrypoint,
                "parameters": run.scheduled.parameters,
                "env": {**env, **space.prefect_env(_name(run))},
            }
        ),
        encoding="utf-8",
    )
    log = open(run.directory / "worker.log", "wb")  # noqa: SIM115 - handed to the child
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "benchmarks.day_worker", str(config), str(run.directory / "out.json")],
            cwd=run.directory,
            env={**space.base_env, **env, **space.prefect_env(_name(run))},
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    finally:
        log.close()


def _name(run: _Run) -> str:
    """Unique across the days of one invocation (their runs share a Prefect home)."""
    return f"{run.directory.parent.name}-{run.directory.name}"


def _decide(run: _Run, decision: str, now: float) -> None:
    run.decided, run.go_at = decision, now
    assert run.process is not None and run.process.stdin is not None
    try:
        run.process.stdin.write(f"{decision}\n".encode())
        run.process.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def _read_result(run: _Run) -> dict[str, Any]:
    out = run.directory / "out.json"
    if out.exists():
        return json.loads(out.read_text(encoding="utf-8"))
    tail = (run.directory / "worker.log").read_text(encoding="utf-8", errors="replace")[-1500:]
    return {"status": "lost", "exit": run.process.returncode if run.process else None, "log_tail": tail}
