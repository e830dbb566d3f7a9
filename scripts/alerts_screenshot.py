"""Screenshots of the Prefect UI's Runs and Automations pages with EC Auto's run states and alerts.

    python scripts/alerts_screenshot.py [--out docs] [--port N]

1. ``prefect server start`` of its own (as ``scripts/ui_screenshot.py``);
2. a Chatwork-shaped notification block pointing at a loopback receiver, and the automations of
   ``automations.yaml`` (``flows/alerts.py create-block`` / ``install``);
3. CLI runs against the simulator: a healthy one, one whose breaker trips (every product of shop
   2 sold out), one stopped by a rotated LWA secret;
4. headless Chromium screenshots: ``<out>/prefect-ui-runs-states.png`` (the Runs page) and
   ``<out>/prefect-ui-automations.png``; the messages the receiver got are printed.

Needs ``chromium`` and ``fonts-noto-cjk``. Not part of the test suite (tests/test_alerts.py is).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "scripts"))

from ui_screenshot import free_port, prefect_server, screenshot  # noqa: E402

RECEIVED: list[str] = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8"))
        RECEIVED.append(form.get("body", [""])[0])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def runs(work: Path) -> dict[str, int]:
    """The three CLI runs, each on a fresh simulator and database; their exit codes."""
    from ecauto_lib.config import environment
    from ecauto_sandbox import DEMO_PLAN, Sandbox, Scenario
    from flows.demo import demo_environment
    from flows.import_listings import import_listings
    from flows.sync import parse_args, run

    codes = {}
    for case in ("healthy", "breaker", "config"):
        workdir = work / case
        workdir.mkdir()
        with Sandbox(Scenario.demo(), speed=100) as sb, environment(demo_environment(sb, workdir)):
            import_listings(source="base")
            if case == "breaker":
                for asin, (shop, _, _) in DEMO_PLAN.items():
                    if shop == "base_account_2":
                        sb.sell_out(asin)
            if case == "config":
                sb.rotate_lwa_secret()
            codes[case] = run(parse_args([]))
    return codes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/alerts_screenshot.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "docs")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api", help="use this running server's API URL instead of starting one")
    parser.add_argument("--wait-ms", type=int, default=20000)
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("chromium not found: apt-get install -y chromium fonts-noto-cjk", file=sys.stderr)
        return 2
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="ecauto-alerts-ui-") as scratch:
        work = Path(scratch)
        server = (
            nullcontext(args.api)
            if args.api
            else prefect_server(work / "prefect-home", args.port or free_port(), work / "server.log")
        )
        with server as api:
            os.environ.update(
                PREFECT_API_URL=api,
                PREFECT_SERVER_ANALYTICS_ENABLED="false",
                CHATWORK_API_TOKEN="screenshot-token",
                CHATWORK_ROOM_ID="1",
                CHATWORK_API_URL=f"http://127.0.0.1:{receiver.server_address[1]}/v2",
            )
            from flows import alerts

            alerts.main(["create-block", "--kind", "chatwork", "--name", "ecauto-chatwork"])
            alerts.main(["install", "--block", "ecauto-chatwork"])
            print(f"exit codes: {runs(work)}")
            deadline = time.monotonic() + 60
            while len(RECEIVED) < 2 and time.monotonic() < deadline:  # the server acts asynchronously
                time.sleep(0.5)
            app = api.removesuffix("/api") + "/v2"
            for n, (name, page) in enumerate(
                [("prefect-ui-runs-states.png", "runs"), ("prefect-ui-automations.png", "automations")]
            ):
                screenshot(chromium, f"{app}/{page}", args.out / name, work / f"profile-{n}", args.wait_ms)
                print(f"{args.out / name}: {app}/{page}")
    receiver.shutdown()
    print("\n=== messages received ===\n" + "\n---\n".join(RECEIVED))
    return 0


if __name__ == "__main__":
    sys.exit(main())
