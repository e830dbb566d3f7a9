"""``python flows/sync.py --demo``: the whole product against the local simulated marketplace.

Starts the simulator's demo scenario on 127.0.0.1 (two shops shaped like the original system's
production report), points the settings at it with a database of its own under ``data/demo/``,
registers the shops' listings from BASE, and runs the sync. No credentials are needed: the
simulator issues its own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ecauto_lib.config import environment

DEMO_DIR = Path("data/demo")


def demo_environment(sandbox: Any, workdir: Path) -> dict[str, str]:
    """The environment that points every setting at ``sandbox`` and a fresh database in ``workdir``,
    with a token key of its own (``workdir/secret.key``, the demo's only: never a seller's)."""
    from ecauto_lib.db.tokens import TokenCipher

    accounts_file = workdir / "accounts.json"
    accounts_file.write_text(
        json.dumps(sandbox.accounts_config(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    accounts_file.chmod(0o600)  # it holds the simulated shops' client secrets
    key_file = workdir / "secret.key"
    key_file.touch(mode=0o600)
    key_file.write_text(TokenCipher.new_key(), encoding="ascii")
    return {
        **sandbox.env(),
        "ECAUTO_ACCOUNTS_FILE": str(accounts_file),
        "DATABASE_URL": f"sqlite:///{workdir / 'master.db'}",
        "ECAUTO_SECRET_KEY": key_file.read_text(encoding="ascii"),
    }


def run_demo(options: Any, run: Callable[[Any], int], *, workdir: Path = DEMO_DIR, speed: float = 1.0) -> int:
    """Start the simulator, import the listings from BASE, run the sync; returns its exit code."""
    from ecauto_sandbox import Sandbox, Scenario
    from flows.import_listings import import_listings

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # data/: the seller's own DB goes there too
    workdir.mkdir(mode=0o700)
    with Sandbox(Scenario.demo(), speed=speed) as sandbox:
        print(f"デモ / demo: simulated SP-API + BASE at {sandbox.url}, database {workdir / 'master.db'}")
        # A user's REFRESH_TOKEN alias must not shadow the simulator's SP_API_REFRESH_TOKEN.
        with environment({"REFRESH_TOKEN": None, **demo_environment(sandbox, workdir)}):
            imported = import_listings(source="base")
            print(f"デモ / demo: {imported['inserted']} listings registered from BASE")
            return run(options)
