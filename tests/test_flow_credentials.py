"""An LWA or SP-API refusal of the seller's credentials stops the fetch at once with one message
naming the setting (exit 2), and no traceback reaches the terminal (#15 §2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecauto_sandbox import Scenario
from flows.import_listings import import_listings
from flows.sync import parse_args, run
from tests.marketplace import calls, last_run, marketplace
from tests.prefect_home import migrated_prefect_home

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

ROOT = Path(__file__).resolve().parent.parent
MANY = Scenario.generate(n_asins=200, n_shops=2, seed=15)  # 10 offer batches: the report saw 10 failures


def sp_api_calls(sb) -> list:
    return [r for r in sb.requests if r.service == "sp-api"]


def test_a_retired_lwa_secret_stops_the_run_from_the_command_line(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url, MANY) as sb:
        import_listings(source="base")
        env = {k: v for k, v in os.environ.items() if k.startswith(("ECAUTO_", "SP_API", "LWA_", "BASE_"))}
        sb.rotate_lwa_secret()  # Seller Central rotated it; the settings still hold the old one
        sb.clear_requests()
        result = subprocess.run(
            [sys.executable, str(ROOT / "flows/sync.py")],
            cwd=tmp_path,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(tmp_path),
                "PREFECT_HOME": str(migrated_prefect_home(tmp_path / "prefect")),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",  # a loaded 2-core machine
                "DATABASE_URL": sqlite_url,
                **env,
            },
            capture_output=True,
            text=True,
            timeout=240,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 2, output[-3000:]
        assert "設定エラー / configuration error: LWA_CLIENT_SECRET:" in result.stderr
        assert "Seller Central" in result.stderr and "180 days" in result.stderr
        assert "Traceback" not in output
        assert "batch failed" not in output and "invalid_client" in output
        assert [r.status for r in calls(sb, "lwaToken")] == [400]  # asked once
        assert sp_api_calls(sb) == [] and calls(sb, "itemsEdit") == []
        status, exit_code, counts = last_run(sqlite_url)
        assert (status, exit_code) == ("failed", 2)
        assert counts["error"].startswith("LWA_CLIENT_SECRET:") and counts["item_failures"] == 0
        assert sb.lwa_credentials.client_secret not in output


def test_sp_api_refusing_the_app_stops_the_fetch_at_once(tmp_path, sqlite_url, capfd):
    with marketplace(tmp_path, sqlite_url, MANY) as sb:
        import_listings(source="base")
        sb.set_sp_api_access(False)  # e.g. the app lost its Pricing role
        sb.clear_requests()
        capfd.readouterr()
        code = run(parse_args([]))
        out, err = capfd.readouterr()
        assert code == 2
        assert "設定エラー / configuration error: SP_API_REFRESH_TOKEN:" in err and "role" in err
        assert "Traceback" not in out + err and "batch failed" not in out + err
        refused = sp_api_calls(sb)
        # each task already running when the first refusal came sent at most its call and one retry
        assert refused and all(r.status == 403 for r in refused) and len(refused) <= 8
        assert calls(sb, "itemsEdit") == []
        assert last_run(sqlite_url)[:2] == ("failed", 2)
