"""No secret reaches a log line, a Prefect parameter, an artifact, an exception, the report or the DB's run records.

A full day in the life — import, syncs with faults injected, tokens expiring mid-run, a crash-free
reconcile, a dry run — with everything that could carry text captured, then searched for every
secret value the simulator issued or the settings hold (as is, or form-, URL- or JSON-quoted).
Each place searched (flow results, stdout/stderr, log records and their tracebacks, the DB's run
records and files, the Prefect server's flow-run parameters and states, logs, artifacts and
task-run states, every file written, Prefect's result store) must hold what the day put there,
so that an empty capture cannot pass.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterStartTime,
    LogFilter,
    LogFilterFlowRunId,
)

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
    started = datetime.now(UTC) - timedelta(seconds=1)
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
        at_rest = [p.read_bytes().decode("utf-8", errors="replace") for p in files]
    assert len(issued) >= 4  # LWA and BASE access tokens were issued and rotated during the day

    channels: dict[str, list[str]] = {
        "flow results": [json.dumps(r, default=str, ensure_ascii=False) for r in results],
        "seller commands (doctor)": texts,
        "database files (at rest)": at_rest,
    }
    captured = capfd.readouterr()
    channels["stdout and stderr"] = [captured.out, captured.err]
    channels["log records and tracebacks"] = [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    channels["run records (DB)"] = [
        repr(r)
        for sql in (
            "select counts, status from runs",
            "select reason from change_history",
            "select reasons, fields from push_journal",
            "select last_reason from products",
        )
        for r in rows(sqlite_url, sql)
    ]
    # Prefect ships logs in the background: wait (with a deadline) until the last run's are stored.
    channels |= wait_for_records(started, "Prefect logs", "LWA_CLIENT_SECRET")
    channels["files written"] = files_written(tmp_path, started)

    # Each place was really captured: it holds what the day must have put there.
    day = {
        "flow results": '"exit_code": 2',
        "seller commands (doctor)": "LWA",
        "stdout and stderr": dead,  # connect_shop names the shop it revived
        "log records and tracebacks": "LWA_CLIENT_SECRET",  # the refused run's one message
        "run records (DB)": "InternalFailure",  # the injected per-item errors' reasons
        "flow-run parameters": '"dry_run": true',
        "flow-run states": "Completed",
        "Prefect logs": "LWA_CLIENT_SECRET",
        "artifacts": scenario.listed_asins()[0][:4],
        "task-run states": "Completed",
        "files written": "prefect-results",
        "database files (at rest)": "SQLite format 3",
    }
    missing = {name: marker for name, marker in day.items() if marker not in "\n".join(channels[name])}
    assert missing == {}, f"not captured: {missing}"
    # and the search finds a secret where one belongs: the seller's accounts file holds the shops'
    # first refresh tokens (read once; the DB keeps the rotated ones encrypted)
    accounts_file = (tmp_path / "accounts.json").read_text(encoding="utf-8")
    assert leaked_in(secrets, [accounts_file]) and len(secrets) >= 10

    leaked = {name: found for name, texts in channels.items() if (found := leaked_in(secrets, texts))}
    assert leaked == {}, f"secret values found in captured output: {leaked}"


def leaked_in(secrets: set[str], texts: list[str]) -> list[str]:
    """The secrets (their first characters) that occur in ``texts``, as they are or as a form, a
    URL or a JSON string would quote them (a refresh token's ``|`` becomes ``%7C``)."""
    haystack = "\n".join(texts)
    return sorted(
        s[:6] + "…"
        for s in secrets
        if s and any(form in haystack for form in {s, quote(s, safe=""), quote_plus(s), json.dumps(s)[1:-1]})
    )


def wait_for_records(since: datetime, place: str, marker: str, seconds: float = 60) -> dict[str, list[str]]:
    """:func:`prefect_records` once ``marker`` has reached ``place`` (or the deadline has passed)."""
    deadline = time.monotonic() + seconds
    while True:
        records = prefect_records(since)
        if any(marker in text for text in records[place]) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def prefect_records(since: datetime) -> dict[str, list[str]]:
    """What Prefect's server stored about the flow runs started since ``since``: their parameters
    and states, their logs, artifacts and task-run states (every page of each)."""
    records: dict[str, list[str]] = {}
    with get_client(sync_client=True) as client:
        runs = paged(
            lambda **page: client.read_flow_runs(
                flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)), **page
            )
        )
        ids = [r.id for r in runs]
        assert len(ids) >= 7  # the import, five syncs, the reconcile
        records["flow-run parameters"] = [json.dumps(r.parameters, default=str) for r in runs]
        records["flow-run states"] = [f"{r.state.name} {r.state.message or ''}" for r in runs if r.state]
        records["Prefect logs"] = [
            log.message
            for log in paged(
                lambda **page: client.read_logs(
                    log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), **page
                )
            )
        ]
        by_run = FlowRunFilter(id=FlowRunFilterId(any_=ids))
        records["artifacts"] = [
            json.dumps([a.key, a.description, a.data], default=str, ensure_ascii=False)
            for a in paged(lambda **page: client.read_artifacts(flow_run_filter=by_run, **page))
        ]
        records["task-run states"] = [
            f"{t.name} {t.state.name} {t.state.message or ''}"
            for t in paged(lambda **page: client.read_task_runs(flow_run_filter=by_run, **page))
            if t.state
        ]
    return records


def paged(read: Callable[..., list[Any]], size: int = 200) -> list[Any]:
    """Every record ``read(limit=, offset=)`` gives, page after page (the server caps a page)."""
    found: list[Any] = []
    while page := read(limit=size, offset=len(found)):
        found += page
        if len(page) < size:
            break
    return found


def files_written(tmp_path: Path, since: datetime) -> list[str]:
    """Every file the day wrote: the test's directory (the seller's inputs and the encrypted DB,
    checked above, left out) and Prefect's result store (persisted task results)."""
    inputs = {tmp_path / "accounts.json", tmp_path / "secret.key"}
    roots = [tmp_path, Path(os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"])]
    texts = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path in inputs or path.name.startswith("master.db"):
                continue
            if path.stat().st_mtime >= since.timestamp():
                texts.append(f"{path}\n{path.read_bytes().decode('utf-8', errors='replace')}")
    return texts
