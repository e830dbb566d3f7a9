"""Run the simulated marketplace until Ctrl-C.

    python -m ecauto_sandbox --port 8700 --scenario demo --speed 1
    python -m ecauto_sandbox --scenario generated --asins 10000 --shops 3 --seed 7 --speed 100 \\
        --accounts-out /tmp/sandbox-accounts.json

Writes the accounts file (``--accounts-out``, default ``data/sandbox/accounts.json``), prints
its path and the ``export ...`` lines that point the pipeline at both. The credentials are fake, made for this sandbox only.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from ecauto_sandbox.app import Sandbox
from ecauto_sandbox.faults import Faults
from ecauto_sandbox.scenario import Scenario

DEFAULT_ACCOUNTS_OUT = Path("data/sandbox/accounts.json")  # under the current directory, like data/master.db


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ecauto_sandbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8700, help="port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--scenario", choices=("demo", "generated"), default="demo")
    parser.add_argument("--asins", type=int, default=1000, help="generated: number of ASINs")
    parser.add_argument("--shops", type=int, default=2, help="generated: number of BASE shops")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed", type=float, default=1.0, help="virtual clock speed (100 = 100x faster)")
    parser.add_argument("--no-quotas", action="store_true", help="switch the SP-API token buckets off")
    parser.add_argument("--no-rotation", action="store_true", help="BASE hands back the same refresh token")
    parser.add_argument(
        "--shared-app", action="store_true", help="one BASE app (client_id) authorised by every shop"
    )
    parser.add_argument(
        "--log-limit", type=int, default=50_000, help="request-log entries kept (oldest dropped)"
    )
    parser.add_argument(
        "--accounts-out",
        type=Path,
        default=DEFAULT_ACCOUNTS_OUT,
        help=f"write the BASE accounts JSON file here (default: {DEFAULT_ACCOUNTS_OUT}, made 0600)",
    )
    return parser.parse_args(argv)


def export_lines(env: dict[str, str]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.scenario == "demo":
        scenario = Scenario.demo()
    else:
        scenario = Scenario.generate(args.asins, args.shops, seed=args.seed)
    sandbox = Sandbox(
        scenario,
        speed=args.speed,
        seed=args.seed,
        faults=Faults(seed=args.seed),
        port=args.port,
        enforce_quotas=not args.no_quotas,
        rotate_refresh_tokens=not args.no_rotation,
        shared_base_app=args.shared_app,
        log_limit=args.log_limit,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with sandbox as sb:
        env = sb.env()
        accounts_file = args.accounts_out.resolve()
        accounts_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        accounts_file.touch(mode=0o600)  # it holds the simulated shops' client secrets
        accounts_file.chmod(0o600)
        accounts_file.write_text(json.dumps(sb.accounts_config(), ensure_ascii=False, indent=2) + "\n")
        env["ECAUTO_ACCOUNTS_FILE"] = str(accounts_file)
        print(
            f"# ecauto sandbox ({scenario.name}) at {sb.url}, speed {sb.speed:g}; Ctrl-C to stop", flush=True
        )
        print(f"# admin: {sb.url}/_sandbox/state   (fake credentials: for this sandbox only)", flush=True)
        print(f"# accounts file: {accounts_file}", flush=True)
        print("\n".join(export_lines(env)), flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    print("# sandbox stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
