"""What a command line sets for Prefect's temporary server before its first flow run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import os, sys
sys.path.insert(0, {root!r})
from tasks._common import quiet_prefect
quiet_prefect(one_shot={one_shot})
print(os.environ.get("PREFECT_SERVER_LOGGING_LEVEL", "unset"))
"""


def _server_level(tmp_path: Path, *, one_shot: bool, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(root=str(ROOT), one_shot=one_shot)],
        env={**base, "PREFECT_HOME": str(tmp_path / "prefect"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_a_one_shot_command_keeps_the_temporary_servers_shutdown_noise_off_the_terminal(tmp_path):
    # The temporary server is stopped as soon as the command's flow ends; a flush it was doing is
    # cancelled and it logs that as an ERROR traceback (seen in CI after a clean exit-2 run).
    assert _server_level(tmp_path, one_shot=True) == "CRITICAL"


def test_the_sellers_own_server_log_level_wins(tmp_path):
    assert _server_level(tmp_path, one_shot=True, PREFECT_SERVER_LOGGING_LEVEL="INFO") == "INFO"


def test_a_served_loop_keeps_the_servers_errors(tmp_path):
    # --serve keeps one temporary server up for hours: its errors are worth seeing.
    assert _server_level(tmp_path, one_shot=False) == "unset"
