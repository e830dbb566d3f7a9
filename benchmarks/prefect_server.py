"""A local Prefect server for the benchmark runs, and what it costs.

Production runs against a long-running Prefect server, so the benchmark starts one (its own
``PREFECT_HOME`` in a temporary directory, no UI, no scheduler) and points every measured run at
it. Its start-up time is reported separately; the CPU it spends ingesting a run's task runs is
read from ``/proc`` (Linux) and counted as Prefect overhead.

``ECAUTO_BENCH_PREFECT_DB`` (the path of an already migrated Prefect SQLite database) lets the
server start from a copy of it instead of migrating a new one (about 12 s of CPU): the smoke tests
set it (``tests/prefect_home.py``); a measured run leaves it unset, so its start-up figure is a
fresh server's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

PREFECT_DB_TEMPLATE = "ECAUTO_BENCH_PREFECT_DB"
PREFECT_DB_NAME = "prefect.db"  # the name Prefect gives its SQLite database in PREFECT_HOME
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prefect_environment(home: Path, api_url: str | None = None) -> dict[str, str]:
    """Environment for a process that uses the benchmark's Prefect home (and server, if given)."""
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    }
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live descendants, from ``/proc`` (0.0 if gone)."""
    total = 0.0
    for child in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the ")" of the command name: state is fields[0]; utime, stime are fields[11], [12].
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    return total


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            children = Path(f"/proc/{pid}/task/{tid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found += [child, *_descendants(child)]
    return found


@dataclass
class PrefectServer:
    """``prefect server start`` on 127.0.0.1 as a child process, for the ``with`` block."""

    home: Path
    port: int = field(default_factory=free_port)
    startup_seconds: float | None = None
    _process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("server not started")
        return self._process.pid

    def environment(self) -> dict[str, str]:
        return prefect_environment(self.home, self.api_url)

    def start(self, timeout: float = 120.0) -> PrefectServer:
        """Start the server and wait until ``/api/health`` answers; records the start-up time."""
        self.home.mkdir(parents=True, exist_ok=True)
        template = os.environ.get(PREFECT_DB_TEMPLATE)
        if template and not (self.home / PREFECT_DB_NAME).exists():
            shutil.copyfile(template, self.home / PREFECT_DB_NAME)
        env = {**os.environ, **prefect_environment(self.home)}
        env.pop("PREFECT_API_URL", None)
        log = open(self.home / "server.log", "wb")  # noqa: SIM115 - closed with the process
        started = time.perf_counter()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
            + ["--port", str(self.port), "--no-ui", "--no-scheduler", "--no-late-runs", "--analytics-off"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"prefect server exited with {self._process.returncode}; see {log.name}")
            try:
                if requests.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    self.startup_seconds = time.perf_counter() - started
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"prefect server did not answer within {timeout:.0f} s")

    def cpu_seconds(self) -> float:
        """CPU the server process (and any children) has used so far."""
        return process_tree_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)

    def __enter__(self) -> PrefectServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def count_task_runs(api_url: str, flow_run_id: str) -> int:
    """How many task runs the server has recorded for one flow run."""
    response = requests.post(
        f"{api_url}/task_runs/count",
        json={"flow_runs": {"id": {"any_": [flow_run_id]}}},
        timeout=30,
    )
    response.raise_for_status()
    return int(response.json())


def settled_task_run_count(
    api_url: str, flow_run_id: str, *, quiet_seconds: float = 3.0, timeout: float = 180.0
) -> tuple[int, float]:
    """The task-run count once it stops growing for ``quiet_seconds`` (the server ingests
    task runs asynchronously), and how long that took."""
    started = time.perf_counter()
    last, last_change = -1, started
    while time.perf_counter() - started < timeout:
        count = count_task_runs(api_url, flow_run_id)
        now = time.perf_counter()
        if count != last:
            last, last_change = count, now
        elif now - last_change >= quiet_seconds:
            break
        time.sleep(0.5)
    return last, time.perf_counter() - started
