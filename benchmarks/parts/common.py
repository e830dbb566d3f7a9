"""What the benchmark's parts share: the invocation's settings, its work directory, small helpers."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from benchmarks import metrics

REPO = Path(__file__).resolve().parent.parent.parent
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


@dataclass
class Bench:
    """What the parts of one invocation share: the work directory, the scenario, earlier results."""

    space: Workspace
    scenario: Any = None
    results: dict[str, Any] = field(default_factory=dict)


def say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def settle(space: Workspace, flow_run_id: str | None, timeout: float = 180.0) -> dict[str, Any]:
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


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the server of ``admin_url``, dropped afterwards."""
    from ecauto_lib.db.engine import (
        throwaway_postgres_database,  # imported late: no DB stack before the driver env
    )

    with throwaway_postgres_database(admin_url, "ecauto_bench") as url:
        yield url
