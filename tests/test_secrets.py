"""No secret reaches a log line, a Prefect parameter, an artifact, an exception, the report or the DB's run records.

A full day in the life — import, syncs with faults injected, tokens expiring mid-run, a crash-free
reconcile, a dry run — with everything that could carry text captured, then searched for every
secret value the simulator issued or the settings hold.
"""

from __future__ import annotations

import json
import logging
import os
import stat

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

from ecauto_lib.config import load_settings
from ecauto_lib.doctor import run_checks, table
from ecauto_sandbox import Faults, Scenario
from flows.connect_shop import main as connect_shop
from flows.import_listings import import_listings
from flows.reconcile import reconcile
from flows.sync import sync
from tests.marketplace import marketplace, rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]


def test_no_secret_in_logs_parameters_artifacts_reports_or_run_records(tmp_path, sqlite_url, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    faults = Faults(
        seed=4, storm_429=2, sp_5xx_rate=0.1, item_error_rate=0.05, base_5xx_rate=0.05, auth_5xx_rate=0.1
    )
    scenario = Scenario.generate(n_asins=50, n_shops=2, seed=21, mispriced_share=0.6)
    texts: list[str] = []
    issued: set[str] = set()
    with marketplace(
        tmp_path, sqlite_url, scenario, faults=faults, extra_env={"ECAUTO_STOCK_TTL_HOURS": "0"}
    ) as sb:
        secrets = {sb.lwa_credentials.client_secret, sb.lwa_credentials.refresh_token}
        secrets |= set(load_settings(require_sp_api=False).secrets())  # ECAUTO_SECRET_KEY among them
        assert os.environ["ECAUTO_SECRET_KEY"] in secrets
        for shop in sb.shops:
            secrets |= {shop.client_secret, shop.refresh_token}

        results = [import_listings(source="base")]
        results.append(sync())
        issued |= set(sb.state.access_tokens)
        sb.expire_tokens()  # LWA and BASE tokens die between runs: refresh + rotation
        results.append(sync(mode="stock"))
        issued |= set(sb.state.access_tokens)
        sb.expire_tokens()
        results.append(reconcile())
        results.append(sync(dry_run=True))
        issued |= set(sb.state.access_tokens)
        # A shop's refresh token lapses: the run names it; connect_shop revives it; doctor checks all;
        # Seller Central rotates the LWA secret: the next run stops, naming the setting.
        dead = sb.shops[0].id
        sb.set_faults(auth_5xx_rate=0.0, base_5xx_rate=0.0)  # connect_shop must not meet a 500 here
        sb.expire_refresh_tokens(dead)
        sb.expire_tokens()
        results.append(sync(mode="stock"))
        code = sb.authorize(dead)
        secrets.add(code)
        assert connect_shop(["--account", dead, "--code=" + code]) == 0
        assert connect_shop(["--status"]) == 0
        texts.append("\n".join(table(run_checks(dotenv_path=None))))
        secrets.add(sb.lwa_credentials.client_secret)
        sb.rotate_lwa_secret()
        secrets.add(sb.lwa_credentials.client_secret)
        stopped = sync(mode="stock", accounts=[dead])
        assert stopped["exit_code"] == 2 and stopped["error"].startswith("LWA_CLIENT_SECRET")
        results.append(stopped)
        issued |= set(sb.state.access_tokens)
        secrets |= issued
        secrets |= {sb.current_refresh_token(s.id) for s in sb.shops}
        # At rest: the database's files are the owner's alone and hold no token in plain text.
        database = tmp_path / "master.db"
        files = [p for p in (database, tmp_path / "master.db-wal", tmp_path / "master.db-shm") if p.exists()]
        assert database in files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
        at_rest = b"".join(p.read_bytes() for p in files)
        in_plain = sorted(s[:6] + "…" for s in secrets if s and s.encode() in at_rest)
        assert in_plain == [], f"secret values stored in plain text: {in_plain}"
    assert len(issued) >= 4  # LWA and BASE access tokens were issued and rotated during the day

    texts += [json.dumps(r, default=str, ensure_ascii=False) for r in results]
    captured = capfd.readouterr()
    texts += [captured.out, captured.err]
    texts += [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    texts += [repr(r) for r in rows(sqlite_url, "select counts, status from runs")]
    texts += [repr(r) for r in rows(sqlite_url, "select reason from change_history")]
    texts += [repr(r) for r in rows(sqlite_url, "select reasons, fields from push_journal")]
    texts += [repr(r) for r in rows(sqlite_url, "select last_reason from products")]

    with get_client(sync_client=True) as client:
        flow_runs = client.read_flow_runs()
        ours = [f for f in flow_runs if f.name and f.flow_id]  # every run of this session's server
        for run in ours:
            texts.append(json.dumps(run.parameters, default=str))
            texts.append(run.state.message if run.state and run.state.message else "")
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[f.id for f in ours]))
        )
        texts += [log.message for log in logs]
        texts += [json.dumps(a.data, default=str, ensure_ascii=False) for a in client.read_artifacts()]
        texts += [str(t.state.message) for t in client.read_task_runs() if t.state and t.state.message]

    haystack = "\n".join(texts)
    assert len(haystack) > 10_000 and "itemsEdit" not in secrets  # we really captured the day
    leaked = sorted(s[:6] + "…" for s in secrets if s and s in haystack)
    assert leaked == [], f"secret values found in captured output: {leaked}"
