"""prefect.yaml: parsed as `prefect deploy` parses it, served, deployed, and run by a real worker.

The first tests need no server. The ``flow`` tests start their own ``prefect server start`` on a
free port (own PREFECT_HOME, scheduler off so no scheduled run can interfere), deploy through the
CLI exactly as docs/deploy.md says, and run one deployment through ``prefect worker start``
against the simulated marketplace.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml

from ecauto_lib.errors import ConfigError
from flows.serve import read_deployment_specs, require_prefect_server, runner_deployments
from tests.prefect_home import migrated_prefect_home

PROJECT_DIR = Path(__file__).resolve().parent.parent
PREFECT_YAML = PROJECT_DIR / "prefect.yaml"
PREFECT = str(Path(sys.executable).with_name("prefect"))
TOKYO = ZoneInfo("Asia/Tokyo")
POOL = "ecauto-process"


def prefect_yaml() -> Any:
    """prefect.yaml through Prefect's own model (private, but it is what `prefect deploy` uses)."""
    from prefect.cli.deploy._models import PrefectYamlModel

    return PrefectYamlModel.model_validate(yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8")))


def fire_times(cron: str, timezone: str, day: datetime) -> list[datetime]:
    """When Prefect's scheduler would start runs during the 24 hours from ``day``."""
    from prefect.server.schemas.schedules import CronSchedule

    dates = asyncio.run(
        CronSchedule(cron=cron, timezone=timezone).get_dates(start=day, end=day + timedelta(days=1))
    )
    end = day + timedelta(days=1)
    return [datetime.fromtimestamp(d.timestamp(), TOKYO) for d in dates if d < end]


# --------------------------------------------------------------------------------------------
# Without a server
# --------------------------------------------------------------------------------------------


def test_every_deployment_loads_its_flow_and_validates_its_parameters():
    from prefect.flows import load_flow_from_entrypoint

    model = prefect_yaml()
    assert model.prefect_version == "3.9.1"
    assert model.pull == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PROJECT_DIR }}"}}
    ]
    modes = []
    for d in model.deployments:
        flow = load_flow_from_entrypoint(str(PROJECT_DIR / d.entrypoint))
        params = flow.validate_parameters(d.parameters)  # raises on an unknown or mistyped parameter
        assert params["dry_run"] is False, d.name
        assert d.work_pool.name == POOL and d.work_pool.work_queue_name == "default", d.name
        assert d.concurrency_limit.limit == 1, d.name
        # the hourly sync's next run waits for the last one's end (seconds); the others cancel
        expected = "ENQUEUE" if d.name == "sync-hourly" else "CANCEL_NEW"
        assert d.concurrency_limit.collision_strategy == expected, d.name
        assert all(s.timezone == "Asia/Tokyo" for s in d.schedules or []), d.name
        assert bool(d.schedules) == (d.name != "sync-once"), d.name  # sync-once: run by hand
        if flow.name == "ecauto-sync":
            modes.append(params["mode"])
            assert params["accounts"] is None and params["limit"] is None, d.name
            for schedule in d.schedules or []:  # a schedule's own parameters validate too
                flow.validate_parameters({**d.parameters, **(schedule.parameters or {})})
        else:
            assert (d.entrypoint, flow.name) == ("flows/reconcile.py:reconcile", "ecauto-reconcile")
    assert modes == ["full", "full"]  # the hourly loop pushes prices and visibility; so does sync-once


def test_the_hourly_sync_fills_each_hour_and_ends_before_the_next_run_and_the_reconcile():
    day = datetime(2025, 3, 12, tzinfo=TOKYO)
    runs: list[tuple[datetime, str, dict]] = []  # start, deployment, parameters
    for d in prefect_yaml().deployments:
        for s in d.schedules or []:
            for t in fire_times(s.cron, s.timezone, day):
                runs.append((t, d.name, {**d.parameters, **(s.parameters or {})}))
    runs.sort(key=lambda r: r[0])
    syncs = [r for r in runs if r[1] == "sync-hourly"]
    assert [t.hour for t, _, _ in syncs] == list(range(24)) and {t.minute for t, _, _ in syncs} == {5}
    (reconcile,) = [t for t, name, _ in runs if name == "reconcile-daily"]
    assert (reconcile.hour, reconcile.minute) == (2, 50)  # at night, Japan time
    for (start, _, params), (after, _, _) in zip(runs, runs[1:], strict=False):
        if "budget_minutes" not in params:
            continue
        # the fetch stops at the budget; pricing, the last round and the record follow: 2 minutes
        # at least before the next run (a later run finding the shops locked is skipped)
        assert start + timedelta(minutes=params["budget_minutes"] + 2) <= after, (start, after)
        assert 0 < params["push_every_minutes"] <= 10 < params["budget_minutes"]
    # the reconcile (reading every BASE item: minutes) has 15 minutes before the 03:05 sync
    assert reconcile + timedelta(minutes=15) == next(t for t, _, _ in syncs if t > reconcile)


def test_the_deployment_an_alert_names_for_a_release_is_one_run_by_hand():
    from ecauto_lib.alerts import RELEASE_DEPLOYMENT, confirm_command

    (once,) = [d for d in prefect_yaml().deployments if d.name == RELEASE_DEPLOYMENT]
    assert not once.schedules and once.parameters == {"mode": "full", "dry_run": False}
    assert confirm_command("sync-hourly") == (
        f"prefect deployment run 'ecauto-sync/{RELEASE_DEPLOYMENT}' --param confirm=true"
    )


def test_serve_reads_the_same_deployments_as_prefect_deploy(monkeypatch):
    model = prefect_yaml()
    specs = read_deployment_specs(PREFECT_YAML)
    assert [(s.name, s.entrypoint, s.parameters) for s in specs] == [
        (d.name, d.entrypoint, d.parameters) for d in model.deployments
    ]
    monkeypatch.chdir(PROJECT_DIR)
    built = runner_deployments(specs, PROJECT_DIR)
    for d, runner in zip(model.deployments, built, strict=True):
        assert (runner.name, runner.entrypoint, runner.parameters) == (d.name, d.entrypoint, d.parameters)
        served = sorted(
            (s.schedule.cron, s.schedule.timezone, s.parameters or {}) for s in runner.schedules or []
        )
        assert served == sorted((s.cron, s.timezone, s.parameters or {}) for s in d.schedules or [])
        assert runner.concurrency_limit == d.concurrency_limit.limit
        assert runner.concurrency_options.collision_strategy.value == d.concurrency_limit.collision_strategy
        assert runner.work_pool_name is None  # served deployments need no pool


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedules": [{"interval": 3600}]}, "only `cron:` schedules"),
        ({"schedules": [{"cron": "61 * * * *", "timezone": "Asia/Tokyo"}]}, "bad cron schedule '61 * * * *'"),
        ({"entrypoint": "flows/sync.py"}, "`entrypoint` must look like"),
        ({"concurrency_limit": {"limit": 1, "collision_strategy": "SKIP"}}, "bad `concurrency_limit`"),
        ({"concurrency_limit": "one"}, "`concurrency_limit` must be a number"),
    ],
)
def test_serve_refuses_a_deployment_it_cannot_serve_and_names_it(tmp_path, change, message):
    document = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    document["deployments"][1].update(change)
    path = tmp_path / "prefect.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_deployment_specs(path)
    assert message in str(caught.value)
    assert f"deployments[1] ({document['deployments'][1]['name']})" in str(caught.value)


def test_serving_without_a_prefect_server_says_how_to_start_one():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(restore_defaults={PREFECT_API_URL}), pytest.raises(ConfigError) as caught:
        require_prefect_server()
    assert caught.value.setting == "PREFECT_API_URL"
    assert "prefect server start" in str(caught.value) and "cannot schedule" in str(caught.value)


# --------------------------------------------------------------------------------------------
# Against a real Prefect server
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrefectServer:
    url: str  # the API URL: http://127.0.0.1:<port>/api
    env: dict[str, str]  # the environment of a CLI or worker talking to it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PROJECT_DIR")}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="INFO", **extra)
    return env


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@contextmanager
def background(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """A process (in its own group, output to ``log``) that is always stopped afterwards."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, env=env, cwd=PROJECT_DIR, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM the process group we started, SIGKILL it if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def wait_for(check: Callable[[], Any], timeout: float, what: str, log: Path | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` (and a log tail)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{_tail(log) if log else ''}")


def cli(server: PrefectServer, *args: str) -> str:
    """Run ``prefect <args>`` in the project directory; its output (fails the test on non-zero exit)."""
    done = subprocess.run(
        [PREFECT, *args],
        env=server.env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, (
        f"prefect {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


@contextmanager
def api(server: PrefectServer) -> Iterator[Any]:
    """A synchronous Prefect client on ``server`` (whatever server the session may use elsewhere)."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.url}), get_client(sync_client=True) as client:
        yield client


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).ok
    except requests.RequestException:
        return False


@contextmanager
def running_prefect_server(root: Path, *, ui_links: bool = False) -> Iterator[PrefectServer]:
    """`prefect server start` on a free port with its own PREFECT_HOME under ``root``; stopped
    afterwards. ``ui_links``: the server knows its UI URL (for links in notifications)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    logs = root / "server.log"
    cmd = [
        PREFECT,
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-scheduler",
        "--no-ui",
    ]
    extra = {"PREFECT_UI_URL": f"http://127.0.0.1:{port}"} if ui_links else {}
    home = migrated_prefect_home(root / "server-home")
    with background(cmd, _base_env(PREFECT_HOME=str(home), **extra), logs) as proc:
        # a loaded 2-core machine can take minutes to migrate a fresh server database
        wait_for(lambda: proc.poll() is not None or _healthy(url), 240, "prefect server start", logs)
        assert proc.poll() is None, _tail(logs)
        yield PrefectServer(url, _base_env(PREFECT_HOME=str(root / "client-home"), PREFECT_API_URL=url))


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[PrefectServer]:
    """A `prefect server start` for this module."""
    with running_prefect_server(tmp_path_factory.mktemp("prefect-server")) as server:
        yield server


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer) -> PrefectServer:
    """The work pool and every deployment of prefect.yaml, created through the CLI as documented."""
    cli(prefect_server, "work-pool", "create", POOL, "--type", "process")
    cli(prefect_server, "--no-prompt", "deploy", "--all")
    return prefect_server


def _deployments(client: Any) -> dict[str, Any]:
    flows = {f.id: f.name for f in client.read_flows()}
    return {f"{flows[d.flow_id]}/{d.name}": d for d in client.read_deployments()}


def _assert_matches_yaml(deployment: Any, spec: Any) -> None:
    assert bool(deployment.schedules) == bool(spec.schedules)  # sync-once: run by hand
    assert all(s.active for s in deployment.schedules)
    assert sorted(
        (s.schedule.cron, s.schedule.timezone, s.parameters or {}) for s in deployment.schedules
    ) == sorted((s.cron, "Asia/Tokyo", s.parameters or {}) for s in spec.schedules or [])
    assert deployment.parameters == spec.parameters
    assert deployment.entrypoint == spec.entrypoint
    assert deployment.global_concurrency_limit.limit == 1
    assert (
        deployment.concurrency_options.collision_strategy.value == spec.concurrency_limit.collision_strategy
    )


@pytest.mark.flow
def test_served_deployments_carry_the_yaml_schedules_and_pause_on_shutdown(prefect_server, tmp_path):
    # A copy with renamed deployments, so serving never touches what `prefect deploy` creates.
    document = yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))
    for d in document["deployments"]:
        d["name"] += "-served"
        d["entrypoint"] = str(PROJECT_DIR / d["entrypoint"])
    served_yaml = tmp_path / "prefect.yaml"
    served_yaml.write_text(yaml.safe_dump(document), encoding="utf-8")
    specs = {d.name: d for d in prefect_yaml().deployments}
    # The scheduler is off, so no run can start; an accidental one would fail on its settings.
    env = {
        **prefect_server.env,
        "ECAUTO_ACCOUNTS_FILE": str(tmp_path / "absent.json"),
        # DEBUG for the poller's "Discovered N scheduled flow runs": by then the runner is started
        # and handles SIGTERM (earlier, Prefect exits without pausing anything).
        "PREFECT_LOGGING_LEVEL": "DEBUG",
    }
    log = tmp_path / "serve.log"
    cmd = [sys.executable, str(PROJECT_DIR / "flows" / "serve.py"), str(served_yaml)]
    with api(prefect_server) as client, background(cmd, env, log) as proc:

        def served() -> dict[str, Any]:
            assert proc.poll() is None, _tail(log)
            found = {k: d for k, d in _deployments(client).items() if k.endswith("-served")}
            return found if len(found) == len(specs) else {}

        found = wait_for(served, 60, "the served deployments", log)
        for key, deployment in found.items():
            name = key.split("/", 1)[1].removesuffix("-served")
            spec = specs[name]
            assert deployment.parameters == spec.parameters
            assert sorted((s.schedule.cron, s.schedule.timezone) for s in deployment.schedules) == sorted(
                (s.cron, "Asia/Tokyo") for s in spec.schedules or []
            )
            assert deployment.global_concurrency_limit.limit == 1
            assert deployment.work_pool_name is None and not deployment.paused
        wait_for(lambda: "scheduled flow runs" in log.read_text(errors="replace"), 30, "the runner", log)
        stop(proc)
        scheduled = [
            d for k, d in found.items() if specs[k.split("/", 1)[1].removesuffix("-served")].schedules
        ]
        assert scheduled and all(client.read_deployment(d.id).paused for d in scheduled), _tail(log)


@pytest.mark.flow
def test_prefect_deploy_all_creates_every_deployment_as_written(deployed):
    specs = prefect_yaml().deployments
    with api(deployed) as client:
        found = _deployments(client)
        for spec in specs:
            flow_name = (
                "ecauto-reconcile" if spec.entrypoint.startswith("flows/reconcile.py") else "ecauto-sync"
            )
            deployment = found[f"{flow_name}/{spec.name}"]
            _assert_matches_yaml(deployment, spec)
            assert (deployment.work_pool_name, deployment.work_queue_name) == (POOL, "default")
            assert not deployment.paused
            # left for the worker to resolve at run time (PROJECT_DIR was unset while deploying)
            assert deployment.pull_steps == [
                {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PROJECT_DIR }}"}}
            ]


def _register_listings() -> int:
    """What `import_listings(source="base")` does, without a flow run (keeps this process off the server)."""
    from ecauto_lib import db
    from ecauto_lib.config import load_settings
    from ecauto_lib.connect import base_client
    from ecauto_lib.listings_import import listings_from_base_items

    settings = load_settings(require_sp_api=False, dotenv_path=None)
    engine = db.make_engine(settings.database_url)
    try:
        db.upgrade(engine)
        rows = []
        for account in settings.accounts:
            items = list(base_client(settings, account, db.DbTokenStore(engine)).iter_items(page_size=100))
            rows += listings_from_base_items(account.id, items).rows
        return db.upsert_listings(engine, rows).inserted
    finally:
        engine.dispose()


@pytest.mark.flow
def test_a_worker_runs_the_stock_deployment_against_the_simulator(deployed, tmp_path, sqlite_url):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from ecauto_sandbox import DEMO_PLAN
    from tests.marketplace import calls, marketplace

    visibility = {"hide": "0", "publish": "1"}  # a stock sync pushes visibility only
    expected = {asin: visibility[kind] for asin, (_, kind, _) in DEMO_PLAN.items() if kind in visibility}
    worker_log = tmp_path / "worker.log"
    with marketplace(tmp_path, sqlite_url) as sb:
        assert _register_listings() == len(DEMO_PLAN)
        sb.clear_requests()
        worker_env = {
            **_base_env(),  # now carries the simulator's settings and the test database
            **{k: deployed.env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME")},
            "PROJECT_DIR": str(PROJECT_DIR),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        worker_cmd = [PREFECT, "worker", "start", "--pool", POOL, "--type", "process"]
        with background(worker_cmd, worker_env, worker_log), api(deployed) as client:
            # the hourly loop's deployment, as one stock pass (a seller's run with parameters)
            out = cli(
                deployed,
                "deployment",
                "run",
                "ecauto-sync/sync-hourly",
                "--param",
                "mode=stock",
                "--param",
                "push_every_minutes=0",
            )
            flow_run_id = uuid.UUID(re.search(r"UUID: ([0-9a-f-]{36})", out).group(1))

            def finished() -> Any:
                run = client.read_flow_run(flow_run_id)
                return run if run.state and run.state.is_final() else None

            run = wait_for(finished, 75, "the flow run to finish", worker_log)
            assert run.state.is_completed(), f"{run.state}\n{_tail(worker_log)}"
            assert run.parameters == {
                "mode": "stock",
                "dry_run": False,
                "budget_minutes": 58,
                "push_every_minutes": 0,
            }
            artifacts = client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )

        by_key = {a.key: a for a in artifacts}
        assert {"sync-summary", "sync-changes"} <= set(by_key)
        changes = json.loads(by_key["sync-changes"].data)
        assert {(c["asin"], c["field"], c["new_value"], c["result"]) for c in changes} == {
            (asin, "visible", int(value), "反映済 (pushed)") for asin, value in expected.items()
        }
        # A deployment run names its own way to release held changes: the parameter, not the flag.
        summary = by_key["sync-summary"].data
        assert "`confirm=true` releases" in summary and "sync.py --confirm" not in summary
        # The simulator saw exactly those BASE edits, and no catalog call (stock mode).
        item_asin = {
            int(item["item_id"]): asin
            for shop in sb.shops
            for item in sb.items(shop.id)
            for asin in DEMO_PLAN
            if asin in (item.get("identifier") or "")
        }
        edits = {}
        for record in calls(sb, "itemsEdit"):
            assert record.status == 200, record
            body = dict(record.body)
            edits[item_asin[int(body.pop("item_id"))]] = body
        assert edits == {asin: {"visible": value} for asin, value in expected.items()}
        assert calls(sb, "searchCatalogItems") == []
        # Every listed ASIN asked once; later calls only re-check new sell-outs before hiding.
        first, *rechecks = calls(sb, "getItemOffersBatch")
        assert sorted(first.asins) == sorted(DEMO_PLAN)
        hidden = {asin for asin, value in expected.items() if value == "0"}
        assert {a for r in rechecks for a in r.asins} <= hidden


@pytest.mark.flow
@pytest.mark.postgres
def test_two_workers_share_the_sp_api_quota_and_keep_the_db_consistent(deployed, tmp_path, postgres_url):
    """Two workers, two concurrent flow runs (one per shop) on PostgreSQL, against one simulator.

    Together they must stay within the seller's getItemOffersBatch quota (the pacer in the master
    DB is shared), push every change exactly once, and leave the DB agreeing with BASE.
    """
    from ecauto_sandbox import Scenario
    from ecauto_sandbox.quotas import SP_API_USAGE_PLANS
    from tests.marketplace import NO_GUARDS, base_state, calls, db_state, edits_per_change, marketplace, rows

    scenario = Scenario.generate(n_asins=320, n_shops=2, seed=31, overlap=0.5, mispriced_share=0.5)
    settings = {
        **NO_GUARDS,
        # each run alone paces at 85 % of the seller's rate, known from the start (marketplace()
        # sets the rates, as a seller with a known usage plan does): two unshared runs together
        # would send ~170 %
        "ECAUTO_SP_API_SAFETY_MARGIN": "0.15",
    }
    # speed 20: the fetch phases (~6 s each) are long next to the workers' pick-up jitter
    with marketplace(tmp_path, postgres_url, scenario, speed=20, extra_env=settings) as sb:
        _register_listings()
        sb.clear_requests()
        worker_env = {
            **_base_env(),
            **{k: deployed.env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME")},
            "PROJECT_DIR": str(PROJECT_DIR),
            "PREFECT_WORKER_QUERY_SECONDS": "1",
        }
        worker_cmd = [PREFECT, "worker", "start", "--pool", POOL, "--type", "process"]
        logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
        with (
            background(worker_cmd, worker_env, logs[0]),
            background(worker_cmd, worker_env, logs[1]),
            api(deployed) as client,
        ):
            runs = []
            for deployment, account in (
                ("ecauto-sync/sync-once", "base_account_1"),
                ("ecauto-sync/sync-hourly", "base_account_2"),
            ):
                # both fetch every ASIN once (a budget fills the queue), neither pushes as it goes
                once = ["--param", "push_every_minutes=0"] if deployment.endswith("hourly") else []
                once += [] if deployment.endswith("hourly") else ["--param", "budget_minutes=58"]
                out = cli(
                    deployed, "deployment", "run", deployment, "--param", f'accounts=["{account}"]', *once
                )
                runs.append(uuid.UUID(re.search(r"UUID: ([0-9a-f-]{36})", out).group(1)))

            def all_finished() -> Any:
                states = [client.read_flow_run(r) for r in runs]
                return states if all(s.state and s.state.is_final() for s in states) else None

            finished = wait_for(all_finished, 150, "both flow runs to finish", logs[0])
        for run in finished:
            assert run.state.is_completed(), f"{run.state}\n{_tail(logs[0])}\n{_tail(logs[1])}"
        first, second = sorted(finished, key=lambda r: r.start_time)
        assert second.start_time < first.end_time, "the two runs did not overlap"

        batch = calls(sb, "getItemOffersBatch")
        throttled = [r for r in batch if r.status == 429]
        # Without the shared bucket (ECAUTO_SHARED_QUOTA=false) the two runs together draw 429 after
        # 429; with it at most a transient one (a send delayed by a busy 2-core machine).
        assert len(throttled) <= 1, f"{len(throttled)} 429s: the runs together exceeded the quota"
        quota = SP_API_USAGE_PLANS["getItemOffersBatch"][0] * sb.speed
        accepted = sorted(r.t for r in batch if r.status == 200)
        # over every 10 consecutive accepted calls, the pace stayed within the quota (burst 1)
        rates = [9 / (b - a) for a, b in zip(accepted, accepted[9:], strict=False) if b > a]
        assert rates and max(rates) <= quota * 1.02, f"max {max(rates):.2f}/s > quota {quota}/s"

        assert db_state(postgres_url, listed_only=False) == base_state(sb)
        sent = edits_per_change(sb)
        assert sent and max(sent.values()) == 1  # no doubled pushes
        history = rows(postgres_url, "select count(*) from change_history")[0][0]
        assert history == len(sent)  # every push recorded once


@pytest.mark.flow
def test_serve_refuses_to_take_over_the_work_pool_deployments(deployed, tmp_path):
    """#15 §7: after `prefect deploy --all`, `sync.py --serve` would re-register the same names
    without code storage (their runs crash: "Downloading flow code from storage at None") and
    pause them on shutdown, for the worker too. It refuses, naming them, and changes nothing."""
    result = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "flows" / "sync.py"), "--serve"],
        env=deployed.env,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "ecauto-sync/sync-hourly" in result.stderr and f"work pool '{POOL}'" in result.stderr
    assert "prefect worker start" in result.stderr
    with api(deployed) as client:
        mine = _deployments(client)["ecauto-sync/sync-hourly"]
        assert mine.work_pool_name == POOL and not mine.paused


@pytest.mark.flow
def test_the_worker_stops_cleanly_on_the_signal_docs_deploy_md_gives(deployed, tmp_path):
    """#15 §7: docs/deploy.md's systemd unit stops the worker with KillSignal=SIGINT (KillMode=mixed:
    the main process only); Prefect's worker then stops polling and exits, well within the unit's
    TimeoutStopSec when no run is in progress."""
    doc = (PROJECT_DIR / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "KillSignal=SIGINT" in doc and "KillMode=mixed" in doc and "TimeoutStopSec=" in doc
    log = tmp_path / "worker.log"
    cmd = [PREFECT, "worker", "start", "--pool", POOL, "--name", "stop-test"]
    with api(deployed) as client, background(cmd, deployed.env, log) as proc:
        wait_for(
            lambda: any(w.name == "stop-test" for w in client.read_workers_for_work_pool(POOL)),
            90,
            "the worker's first heartbeat",
            log,
        )
        proc.send_signal(signal.SIGINT)  # the main process only, as KillMode=mixed sends it
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker ignored SIGINT for 30 s\n{_tail(log)}")
    assert code in (0, 130, -signal.SIGINT), _tail(log)
