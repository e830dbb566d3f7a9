"""Screenshots of the Prefect UI after a demo sync: proof that a run and its report show up there.

    python scripts/ui_screenshot.py [--out docs] [--port N] [--keep-server]

Steps (each can be repeated by hand, see docs/deploy.md):
1. ``prefect server start`` on 127.0.0.1 with a PREFECT_HOME of its own (a temporary directory);
2. the demo sync (what ``python flows/sync.py --demo`` runs) with PREFECT_API_URL pointing at it:
   the simulated marketplace, no credentials, nothing outside 127.0.0.1;
3. headless Chromium screenshots of the flow run's Artifacts tab and of its ``sync-summary``
   artifact: ``<out>/prefect-ui-run.png`` and ``<out>/prefect-ui-artifact.png``.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``fonts-noto-cjk`` for the Japanese
text). Not part of the test suite. Exit codes: 0 done, 1 a step failed, 2 Chromium is missing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import requests

PROJECT_DIR = Path(__file__).resolve().parent.parent
PREFECT = str(Path(sys.executable).with_name("prefect"))
WINDOW = "1600,1200"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    f"--window-size={WINDOW}",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(api_url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Until ``/api/health`` answers (or the server process dies, or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server start exited with {proc.returncode}")
        try:
            if requests.get(f"{api_url}/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"no answer from {api_url}/health after {timeout} s")


@contextmanager
def prefect_server(home: Path, port: int, log: Path) -> Iterator[str]:
    """A ``prefect server start`` of our own (UI included); yields its API URL; always stopped."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    # Host and port as settings, not --host/--port: the UI takes its API URL from these settings
    # (with only --port it would call the API on the default port 4200).
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
    )
    cmd = [PREFECT, "server", "start", "--no-scheduler"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        api_url = f"http://127.0.0.1:{port}/api"
        wait_healthy(api_url, proc)
        yield api_url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def run_demo_sync(api_url: str, workdir: Path) -> int:
    """The demo (simulator, listings imported from its BASE, full sync) reported to ``api_url``.

    Runs in this process through ``flows.demo.run_demo`` (what ``python flows/sync.py --demo``
    does), so it does not depend on the CLI's argument parsing. Returns the sync's exit code.
    """
    os.environ["PREFECT_API_URL"] = api_url  # before Prefect reads its settings
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    sys.path.insert(0, str(PROJECT_DIR))
    from flows.demo import run_demo
    from flows.sync import sync

    return run_demo(None, lambda _options: int(sync()["exit_code"]), workdir=workdir / "data" / "demo")


def latest_sync_run(api_url: str) -> tuple[UUID, dict[str, UUID]]:
    """The newest ``ecauto-sync`` flow run and its artifacts' ids by key."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowFilter,
        FlowFilterName,
    )
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["ecauto-sync"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
        if not runs:
            raise RuntimeError("no ecauto-sync flow run on the server")
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[runs[0].id]))
        )
    return runs[0].id, {a.key: a.id for a in artifacts if a.key}


def screenshot(chromium: str, url: str, path: Path, profile: Path, wait_ms: int) -> None:
    """One headless Chromium screenshot of ``url`` after ``wait_ms`` of (virtual) time to render."""
    cmd = [
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={wait_ms}",
        f"--screenshot={path}",
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not path.is_file():
        raise RuntimeError(f"chromium failed ({done.returncode}) for {url}:\n{done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/ui_screenshot.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "docs", help="where the PNGs go")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--wait-ms", type=int, default=20000, help="render time per page (virtual)")
    parser.add_argument(
        "--keep-server", action="store_true", help="leave the server up afterwards (Ctrl-C to stop)"
    )
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print(
            "chromium not found: apt-get update && apt-get install -y chromium fonts-noto-cjk",
            file=sys.stderr,
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ecauto-ui-") as scratch:
        work = Path(scratch)
        try:
            with prefect_server(work / "prefect-home", args.port or free_port(), work / "server.log") as api:
                print(f"Prefect server at {api}; running the demo sync against it")
                print(f"demo sync exited with {run_demo_sync(api, work)}")
                for path, url in capture_run(chromium, api, args.out, work, args.wait_ms):
                    print(f"{path}: {url}")
                if args.keep_server:
                    print(f"server kept at {api.removesuffix('/api')} (Ctrl-C to stop)")
                    signal.pause()
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"failed: {exc}", file=sys.stderr)
            log = work / "server.log"
            if log.exists():
                print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            pass
    return 0


def capture_run(chromium: str, api_url: str, out: Path, work: Path, wait_ms: int) -> list[tuple[Path, str]]:
    """Screenshot the newest sync run's Artifacts tab and its sync-summary; the (file, URL) pairs."""
    run_id, artifacts = latest_sync_run(api_url)
    if "sync-summary" not in artifacts:
        raise RuntimeError(f"run {run_id} has no sync-summary artifact (has: {sorted(artifacts)})")
    app = api_url.removesuffix("/api") + "/v2"  # the React UI (3.9's default; the older one is at /)
    pages = [
        (out / "prefect-ui-run.png", f"{app}/runs/flow-run/{run_id}?tab=Artifacts"),
        (out / "prefect-ui-artifact.png", f"{app}/artifacts/artifact/{artifacts['sync-summary']}"),
    ]
    for n, (path, url) in enumerate(pages):
        screenshot(chromium, url, path, work / f"chromium-profile-{n}", wait_ms)
    return pages


if __name__ == "__main__":
    sys.exit(main())
