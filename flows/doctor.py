"""Preflight: are the settings, the master DB, Amazon and every BASE shop ready for a sync?

    python flows/doctor.py          # against the real services, with this machine's settings
    python flows/doctor.py --demo   # against the local simulated marketplace (no credentials needed)

Prints a ✓/✗ table with the fix for each ✗ (see ``ecauto_lib.doctor`` for what each check costs:
one LWA token request, one searchCatalogItems call, and per shop one token refresh plus two BASE
calls). No secret is printed. Exit codes: 0 every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # `python flows/doctor.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecauto_lib.doctor import passed, run_checks, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python flows/doctor.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--demo",
        action="store_true",
        help="check against the local simulated marketplace (no credentials needed)",
    )
    args = parser.parse_args(argv)
    if args.demo:
        return demo()
    results = run_checks()
    print("\n".join(table(results)))
    return 0 if passed(results) else 1


def demo() -> int:
    """The checks against the simulator's demo shops, with a database of their own (removed after)."""
    from ecauto_sandbox import Sandbox, Scenario
    from flows.demo import demo_environment

    with tempfile.TemporaryDirectory(prefix="ecauto-doctor-") as workdir, Sandbox(Scenario.demo()) as sandbox:
        print(f"デモ / demo: simulated SP-API + BASE at {sandbox.url}")
        env = {k: v for k, v in os.environ.items() if k != "REFRESH_TOKEN"}
        env.update(demo_environment(sandbox, Path(workdir)))
        results = run_checks(env, dotenv_path=None)
        print("\n".join(table(results)))
        return 0 if passed(results) else 1


if __name__ == "__main__":
    sys.exit(main())
