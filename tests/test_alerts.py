"""Alerts (#16) and run states (#15.1).

Without a server: the events of a run and their text (ecauto_lib/alerts.py), the state per exit
code (tasks/states.py), automations.yaml read by Prefect's own trigger model.

On a real ``prefect server start`` (one for the module): the automations installed by
``flows/alerts.py install``, a Chatwork-shaped ``CustomWebhookNotificationBlock`` made by
``flows/alerts.py create-block`` pointing at a loopback receiver, and ``python flows/sync.py`` runs
against the simulator: a healthy run; a tripped breaker (shop 2) with a held change (shop 1); a
dead shop token (shop 1) with SP-API failing on every ASIN; a refused LWA secret; a busy shop.
Each trouble gives exactly one message (none for the healthy and the busy run) naming the shop,
the counts and the command, with no secret in it; the CLI's exit codes are as before and the runs
list shows each run's state. The server's automations act asynchronously: the receiver is polled
with a deadline (a sentinel event emitted last tells when the server has acted on all).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from ecauto_lib.alerts import EVENTS, attention_text, run_events
from ecauto_lib.domain import HeldChange
from ecauto_lib.outcome import Attention, AttentionReason, RunOutcome, RunStatus
from ecauto_lib.report.model import AccountSummary, RunReport
from ecauto_lib.token_health import ShopTokenHealth, TokenState

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHOP_1, SHOP_2 = "base_account_1", "base_account_2"
NAME_1, NAME_2 = "森のBAZAAR", "バイヤー氏屋【精神科医】"


# --------------------------------------------------------------------------------------------
# Without a server
# --------------------------------------------------------------------------------------------


def _report(**changes: Any) -> RunReport:
    report = RunReport(mode="stock", dry_run=False, started_at=datetime(2026, 1, 5, tzinfo=UTC))
    report.accounts = [AccountSummary(SHOP_1, NAME_1, listings=5), AccountSummary(SHOP_2, NAME_2, listings=6)]
    for name, value in changes.items():
        setattr(report, name, value)
    return report


def test_a_breaker_trip_is_one_event_naming_the_shop_the_counts_and_the_release_command():
    report = _report()
    report.accounts[1].held = 6
    report.outcome = RunOutcome(
        1,
        RunStatus.FINISHED_WITH_FAILURES,
        (
            AttentionReason(Attention.HELD, 6, SHOP_2),
            AttentionReason(Attention.BREAKER_TRIPPED, 5, SHOP_2, "hide"),
        ),
    )
    events = run_events(report, fetch_failed_pct=20)
    assert [e.event for e in events] == ["ecauto.sync.finished", "ecauto.breaker.tripped"]
    trip = events[1]
    assert trip.resource == {
        "prefect.resource.id": f"ecauto.shop.{SHOP_2}",
        "prefect.resource.name": NAME_2,
        "ecauto.account_id": SHOP_2,
    }
    assert trip.payload["held"] == 6 and trip.payload["kinds"] == {"hide": 5}
    assert (
        "`python flows/sync.py --confirm` で保留中の 6 件を反映します (releases 6 held changes)"
        in trip.message
    )
    assert f"{NAME_2} ({SHOP_2})" in trip.message and "非公開 (hide) 5件" in trip.message
    # in a deployment run the release is the deployment's parameter
    deployed = run_events(report, fetch_failed_pct=20, deployment="sync-hourly")
    assert "prefect deployment run 'ecauto-sync/sync-once' --param confirm=true" in deployed[1].message
    assert deployed[0].resource["ecauto.deployment"] == "sync-hourly"


def test_changes_held_again_by_the_next_run_are_not_told_again_a_new_one_is():
    """A hold stays until it is released, so every run holds it again: the seller is told once,
    and again only when a run holds something that was not held before (naming the total)."""
    hold = HeldChange(SHOP_1, "B000000001", 101, "price", 1000, 2000, "move +100%")
    report = _report(held=[hold], already_held=frozenset({hold.key}))
    report.accounts[0].held = 1
    report.outcome = RunOutcome(
        1, RunStatus.FINISHED_WITH_FAILURES, (AttentionReason(Attention.HELD, 1, SHOP_1),)
    )
    assert [e.event for e in run_events(report, fetch_failed_pct=20)] == ["ecauto.sync.finished"]
    newer = HeldChange(SHOP_1, "B000000002", 102, "price", 1000, 2100, "move +110%")
    report.held, report.accounts[0].held = [hold, newer], 2
    held = [e for e in run_events(report, fetch_failed_pct=20) if e.event == "ecauto.changes.held"]
    assert len(held) == 1 and held[0].payload["held"] == 2 and held[0].payload["new"] == 1
    # the same item held at another value is new too (the seller has not seen that value)
    report.held = [HeldChange(SHOP_1, "B000000001", 101, "price", 1000, 2500, "move +150%")]
    report.accounts[0].held = 1
    assert [e.event for e in run_events(report, fetch_failed_pct=20)][1:] == ["ecauto.changes.held"]


def test_each_kind_of_trouble_is_its_own_event_and_a_healthy_run_only_says_it_finished():
    assert [e.event for e in run_events(_report(), fetch_failed_pct=20)] == ["ecauto.sync.finished"]
    report = _report(mode="full")
    report.accounts[0].held, report.accounts[0].deferred = 2, 3
    report.accounts[0].stopped_by = "hour_api_limit"
    report.fetch.in_stock, report.fetch.errors = 6, {"HTTP 500 InternalFailure": 4}
    report.tokens = [ShopTokenHealth(SHOP_2, NAME_2, TokenState.EXPIRING, days_left=5)]
    report.outcome = RunOutcome(
        1,
        RunStatus.FINISHED_WITH_FAILURES,
        (
            AttentionReason(Attention.FETCH_FAILED, 4),
            AttentionReason(Attention.HELD, 2, SHOP_1),
            AttentionReason(Attention.DEFERRED, 3, SHOP_1, "hour_api_limit"),
            AttentionReason(Attention.NEEDS_REAUTHORISATION, 1, SHOP_2, "refused"),
        ),
    )
    events = {e.event: e for e in run_events(report, fetch_failed_pct=40)}
    assert set(events) == set(EVENTS) - {"ecauto.breaker.tripped"}
    assert (
        "`python flows/connect_shop.py --account base_account_2`"
        in events["ecauto.shop.unauthorised"].message
    )
    assert "あと 5 日" in events["ecauto.token.expiring"].message
    assert events["ecauto.token.expiring"].payload["days_left"] == 5
    assert events["ecauto.sp-api.failing"].payload["failed_pct"] == 40.0
    assert "10 ASIN 中 4 件 (40.0 %)" in events["ecauto.sp-api.failing"].message
    assert "hour_api_limit" in events["ecauto.base.deferred"].message
    assert events["ecauto.base.deferred"].payload["deferred"] == 3
    finished = events["ecauto.sync.finished"].payload
    assert (finished["checked"], finished["fetched"], finished["failures"]) == (0, 6, 4)
    # under the threshold: no sp-api alert; a stock run does not repeat the token reminder hourly
    report.mode = "stock"
    assert {e.event for e in run_events(report, fetch_failed_pct=41)}.isdisjoint(
        {"ecauto.sp-api.failing", "ecauto.token.expiring"}
    )


def test_the_needs_attention_message_lists_the_reasons():
    text = attention_text(
        {"attention": [{"kind": "breaker_tripped", "count": 5, "account_id": SHOP_2, "detail": "hide"}]}
    )
    assert text == f"要確認 (needs attention): 安全装置 (breaker tripped) 5 hide [{SHOP_2}]"


def test_the_final_state_follows_the_exit_code():
    from tasks.states import run_state

    assert run_state({"exit_code": 0}).is_completed()
    attention = run_state({"exit_code": 1, "attention": [{"kind": "held", "count": 2, "account_id": SHOP_1}]})
    assert (attention.type.value, attention.name) == ("FAILED", "NeedsAttention")
    assert attention.message == f"要確認 (needs attention): 保留 (held) 2 [{SHOP_1}]"
    config = run_state({"exit_code": 2, "error": "LWA_CLIENT_SECRET: refused"})
    assert (config.type.value, config.name) == (
        "FAILED",
        "ConfigError",
    ) and "LWA_CLIENT_SECRET" in config.message
    skipped = run_state({"exit_code": 3})
    assert (skipped.type.value, skipped.name) == ("CANCELLED", "Skipped")


def test_automations_yaml_has_a_valid_trigger_for_every_event_and_the_proactive_check():
    from flows.alerts import read_specs

    specs = {s.name: s for s in read_specs()}
    expected = {e for s in specs.values() for e in s.trigger["expect"]}
    assert set(EVENTS) - {"ecauto.sync.finished"} <= expected
    silent = specs["ecauto-stock-sync-silent"].trigger
    assert (silent["posture"], silent["within"], silent["expect"]) == (
        "Proactive",
        10800,
        ["ecauto.sync.finished"],
    )
    failed = specs["ecauto-flow-run-failed"].trigger["expect"]
    assert "prefect.flow-run.NeedsAttention" not in failed and "prefect.flow-run.Crashed" in failed


# --------------------------------------------------------------------------------------------
# On a real Prefect server
# --------------------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Receiver:
    """A loopback HTTP server standing in for Chatwork: records every POST."""

    url: str
    messages: list[Received] = field(default_factory=list)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    received: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the base class's name
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode("utf-8"))
            received.append(Received(self.path, dict(self.headers), form.get("body", [""])[0]))
            payload = b'{"message_id": "1"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/v2", received)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def alert_server(tmp_path_factory) -> Iterator[Any]:
    """`prefect server start` (as tests/test_deployments.py does), its UI URL set for the links."""
    from tests.test_deployments import running_prefect_server

    with running_prefect_server(tmp_path_factory.mktemp("alerts-server"), ui_links=True) as server:
        yield server


SECRET_ENV = ("CHATWORK_API_TOKEN",)


def _secrets(sb: Any) -> set[str]:
    """Every secret the simulator issued or accepts (LWA, shops' client secrets and tokens)."""
    values = {
        sb.lwa_credentials.client_secret,
        sb.lwa_credentials.refresh_token,
        os.environ["ECAUTO_SECRET_KEY"],
    }
    for shop in sb.shops:
        values |= {shop.client_secret, shop.refresh_token, sb.current_refresh_token(shop.id)}
    return {v for v in values if v and len(v) >= 8}


def _wait(check: Any, timeout: float, what: str) -> Any:
    from tests.test_deployments import wait_for

    return wait_for(check, timeout, what)


@pytest.mark.flow
@pytest.mark.timeout(900)  # a server and five CLI runs; minutes on a loaded 2-core machine
def test_each_trouble_gives_one_message_a_seller_can_act_on(
    alert_server, receiver, tmp_path, monkeypatch, capsys
):
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from ecauto_lib import db
    from ecauto_lib.db.locks import account_locks
    from ecauto_sandbox import DEMO_PLAN
    from flows import alerts
    from tests.marketplace import NO_GUARDS, marketplace, set_account_options
    from tests.test_deployments import _register_listings, api

    chatwork_token = "cw-" + uuid.uuid4().hex
    monkeypatch.setenv("CHATWORK_API_TOKEN", chatwork_token)
    monkeypatch.setenv("CHATWORK_ROOM_ID", "4242")
    monkeypatch.setenv("CHATWORK_API_URL", receiver.url)
    secrets = {chatwork_token}
    with temporary_settings(updates={PREFECT_API_URL: alert_server.url}), api(alert_server) as client:
        assert alerts.main(["create-block", "--kind", "chatwork", "--name", "ecauto-chatwork"]) == 0
        assert alerts.main(["install", "--block", "ecauto-chatwork"]) == 0
        assert alerts.main(["install", "--block", "ecauto-chatwork"]) == 0  # again: updates, adds nothing
        out = capsys.readouterr().out
        assert chatwork_token not in out and "updated: ecauto-breaker-tripped" in out
        installed = client.read_automations()
        assert sorted(a.name for a in installed) == sorted(s.name for s in alerts.read_specs())

        runs: dict[str, tuple[int, uuid.UUID]] = {}
        outputs: dict[str, str] = {}

        def cli_run(case: str, *argv: str) -> None:
            """`python flows/sync.py` in a process of its own (the environment: the simulator's)."""
            env = {**os.environ, **{k: alert_server.env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME")}}
            (tmp_path / case).mkdir(exist_ok=True)
            done = subprocess.run(
                [sys.executable, str(PROJECT_DIR / "flows" / "sync.py"), *argv],
                env=env,
                cwd=tmp_path / case,
                capture_output=True,
                text=True,
                timeout=300,
            )
            outputs[case] = done.stdout + done.stderr
            [latest] = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["ecauto-sync"])),
                sort=FlowRunSort.START_TIME_DESC,
                limit=1,
            )
            runs[case] = (done.returncode, latest.id)

        def fresh_shops(case: str, **env: str) -> Any:
            (tmp_path / case).mkdir()
            return marketplace(tmp_path / case, f"sqlite:///{tmp_path / case / 'master.db'}", extra_env=env)

        # healthy: every change pushed (guards off), exit 0
        with fresh_shops("healthy", **NO_GUARDS) as sb:
            _register_listings()
            secrets |= _secrets(sb)
            cli_run("healthy")
        # the guards: every product of shop 2 sold out (its breaker trips; shop 1's is off), and
        # one price in shop 1 doubles on Amazon (held for review)
        with fresh_shops("guards") as sb:
            _register_listings()
            secrets |= _secrets(sb)
            set_account_options({SHOP_1: {"breaker_hide_pct": 100, "breaker_cut_pct": 100}})
            for asin in [a for a, (shop, _, _) in DEMO_PLAN.items() if shop == SHOP_2]:
                sb.sell_out(asin)
            sb.set_price("B07YV55TNL", 4360)
            cli_run("guards")
        # broken: shop 1's token is dead and every ASIN answers an error (SP-API failing); then a
        # busy shop (skipped: no message)
        with fresh_shops("broken", **NO_GUARDS) as sb:
            _register_listings()
            secrets |= _secrets(sb)
            sb.expire_refresh_tokens(SHOP_1)
            sb.expire_tokens()
            for asin in sb.state.products:
                sb.set_item_error(asin, "InternalFailure")
            cli_run("broken")
            engine = db.make_engine(f"sqlite:///{tmp_path / 'broken' / 'master.db'}")
            with account_locks(engine, [SHOP_2]):
                cli_run("busy")
            engine.dispose()
        # the LWA secret rotated in Seller Central: the run stops (ConfigError)
        with fresh_shops("config") as sb:
            _register_listings()
            secrets |= _secrets(sb)
            sb.rotate_lwa_secret()
            cli_run("config")

        # A sentinel after every run: once its message is in, the server has acted on all before it.
        sentinel = (
            "from prefect.events import emit_event; emit_event(event='ecauto.changes.held', "
            "resource={'prefect.resource.id': 'ecauto.shop.sentinel', 'prefect.resource.name': 'sentinel'}, "
            "payload={'message': 'sentinel'})"
        )
        subprocess.run([sys.executable, "-c", sentinel], env=alert_server.env, check=True, timeout=120)
        _wait(lambda: any("sentinel" in m.body for m in receiver.messages), 120, "the sentinel's message")

        states = {case: client.read_flow_run(flow_run_id).state for case, (_, flow_run_id) in runs.items()}

    assert {case: code for case, (code, _) in runs.items()} == {  # the CLI's exit codes, as before
        "healthy": 0,
        "guards": 1,
        "broken": 1,
        "busy": 3,
        "config": 2,
    }, "\n".join(f"{case}:\n{out[-3000:]}" for case, out in outputs.items())
    assert NAME_1 in outputs["healthy"] and NAME_2 in outputs["guards"]  # the report is still printed
    assert {case: (s.type.value, s.name) for case, s in states.items()} == {
        "healthy": ("COMPLETED", "Completed"),
        "guards": ("FAILED", "NeedsAttention"),
        "broken": ("FAILED", "NeedsAttention"),
        "busy": ("CANCELLED", "Skipped"),
        "config": ("FAILED", "ConfigError"),
    }
    assert "安全装置 (breaker tripped) 5 hide [base_account_2]" in states["guards"].message
    messages = [m for m in receiver.messages if "sentinel" not in m.body]
    transcript = "\n---\n".join(m.body for m in messages)
    Path(tmp_path / "messages.txt").write_text(transcript, encoding="utf-8")
    print("\n=== messages received ===\n" + transcript)
    for m in receiver.messages:
        assert m.path == "/v2/rooms/4242/messages" and m.headers["X-ChatWorkToken"] == chatwork_token
        assert not [s for s in secrets if s in m.body], "a secret reached a message"

    def of(case: str) -> list[str]:
        flow_run_id = str(runs[case][1])
        return [m.body for m in messages if flow_run_id in m.body]

    assert len(messages) == 5, transcript  # one per trouble, none for the healthy run or the busy one
    assert of("healthy") == [] and of("busy") == []
    [breaker] = [m for m in of("guards") if "circuit breaker tripped" in m]
    assert f"{NAME_2} ({SHOP_2})" in breaker and NAME_1 not in breaker
    assert (
        "非公開 (hide) 5件" in breaker
        and "`python flows/sync.py --confirm` で保留中の 5 件を反映します" in breaker
    )
    [held] = [m for m in of("guards") if "held for review" in m]
    assert (
        f"{NAME_1} ({SHOP_1})" in held
        and "1 件の変更を保留" in held
        and "python flows/sync.py --confirm" in held
    )
    [failing] = [m for m in of("broken") if "SP-API failing" in m]
    assert "11 ASIN 中 11 件 (100.0 %)" in failing and "python flows/doctor.py" in failing
    [dead] = [m for m in of("broken") if "unauthorised" in m]
    assert (
        f"{NAME_1} ({SHOP_1})" in dead and "`python flows/connect_shop.py --account base_account_1`" in dead
    )
    assert len(of("guards")) == len(of("broken")) == 2
    [config] = of("config")
    assert "ConfigError" in config and "LWA_CLIENT_SECRET" in config and "python flows/doctor.py" in config
    for body in messages:
        assert re.search(r"http://127\.0\.0\.1:\d+/runs/flow-run/[0-9a-f-]{36}", body.body), body.body
    json.dumps([m.body for m in messages])  # plain text
