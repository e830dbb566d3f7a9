"""The admin endpoint (/_sandbox/...), the Python facade's plumbing and the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from ecauto_sandbox import Sandbox, Scenario
from ecauto_sandbox.probe import SandboxProbe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sb():
    with Sandbox(Scenario.demo(), speed=100, enforce_quotas=False) as sandbox:
        yield sandbox


def test_state_env_and_accounts(sb):
    probe = SandboxProbe(sb)
    state = probe.admin_get("/state").json()
    assert state["scenario"] == "demo" and state["speed"] == 100.0 and state["products"] == 11
    assert [(s["id"], s["items"]) for s in state["shops"]] == [("base_account_1", 5), ("base_account_2", 6)]
    assert probe.admin_get("/env").json() == sb.env()
    assert sb.env()["SP_API_ENDPOINT"] == sb.url == sb.base_api_url
    assert sb.env()["LWA_TOKEN_URL"] == sb.url + "/auth/o2/token"
    accounts = probe.admin_get("/accounts").json()["accounts"]
    assert accounts == sb.accounts_config()["accounts"]
    assert [a["id"] for a in accounts] == ["base_account_1", "base_account_2"]
    assert set(accounts[0]) == {"id", "name", "client_id", "client_secret", "redirect_uri", "refresh_token"}


def test_products_can_be_driven_over_http(sb):
    probe = SandboxProbe(sb)
    assert probe.admin_post("/products/B0FGQJ45HW/price", {"listing_yen": 4400}).json()["listing_yen"] == 4400
    product = probe.admin_get("/products/B0FGQJ45HW").json()
    assert product["expected"]["price_yen"] == 4400 and product["expected"]["outcome"] == "in_stock"
    assert probe.admin_post("/products/B07YV55TNL/sell_out").json() == {"ok": True}
    assert sb.product("B07YV55TNL").payload_status() == "NoBuyableOffers"
    probe.admin_post("/products/B07YV55TNL/restock", {"listing_yen": 2000})
    assert sb.product("B07YV55TNL").expected().price_yen == 2000
    probe.admin_post("/products/B09YY6NZ7N/status", {"status": "ActiveButTooSoonForProcessing"})
    assert sb.product("B09YY6NZ7N").payload_status() == "ActiveButTooSoonForProcessing"
    assert probe.admin_get("/products/B0NOTKNOWN").status_code == 404
    bad = probe.admin_post("/products/B0FGQJ45HW/price", {"listing_yen": "cheap"})
    assert bad.status_code == 400 and "listing_yen" in bad.json()["error"]


def test_shops_tokens_faults_and_log_over_http(sb):
    probe = SandboxProbe(sb)
    items = probe.admin_get("/shops/base_account_2/items").json()["items"]
    assert [i["item_id"] for i in items] == [98211437, 98211502, 98230771, 98245019, 98260388, 98277146]
    assert probe.admin_get("/shops/base_account_2/items/98211437").json()["visible"] == 0
    assert probe.admin_post("/shops/base_account_2/items/98211437/delete").json() == {"ok": True}
    assert sb.item("base_account_2", 98211437) is None
    assert probe.admin_get("/shops/nowhere/items").status_code == 404

    probe.base_token("base_account_1")
    probe.admin_post("/shops/base_account_1/exhaust_hour")
    assert probe.items("base_account_1").json()["error"] == "hour_api_limit"
    assert probe.admin_get("/shops/base_account_1/budget").json()["hour"] == 0
    probe.admin_post("/shops/base_account_1/exhaust_day")
    assert probe.items("base_account_1").json()["error"] == "day_api_limit"
    assert probe.admin_get("/shops/base_account_1/budget").json()["day"] == 0

    assert probe.admin_post("/tokens/expire").json() == {"expired": 1}
    faults = probe.admin_post("/faults", {"sp_429_rate": 0.5, "storm_429": 2}).json()
    assert faults["sp_429_rate"] == 0.5 and sb.faults.storm_429 == 2
    assert probe.admin_post("/faults", {"nonsense": 1}).status_code == 400
    window = probe.admin_post(
        "/faults", {"storm_429": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T00:01:00Z"}}
    )
    assert window.json()["storm_429"] == ["2026-01-01T00:00:00+00:00", "2026-01-01T00:01:00+00:00"]

    log = probe.admin_get("/requests", service="admin").json()
    assert log["total"] == len([r for r in sb.requests if r.service == "admin"]) > 0
    assert {r["operation"] for r in log["requests"]} >= {
        "deleteItem",
        "exhaustBaseDay",
        "exhaustBaseHour",
        "expireTokens",
        "setFaults",
    }
    assert "baseToken" in probe.admin_get("/stats").json()
    assert probe.admin_post("/requests/clear").json() == {"ok": True}
    assert sb.requests == [] or all(r.operation == "clearRequests" for r in sb.requests)
    assert probe.admin_get("/nope").status_code == 404


def test_many_clients_in_parallel_keep_alive_and_all_get_answers():
    with Sandbox(Scenario.generate(200, 2, seed=1), speed=100, enforce_quotas=False) as sb:
        asins = Scenario.generate(200, 2, seed=1).listed_asins()
        errors: list[str] = []

        def worker(offset: int) -> None:
            probe = SandboxProbe(sb)
            for k in range(10):
                chunk = asins[(offset * 10 + k) % 180 : (offset * 10 + k) % 180 + 20]
                response = probe.item_offers_batch(chunk)
                if response.status_code != 200 or len(response.json()["responses"]) != len(chunk):
                    errors.append(f"{response.status_code}")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        records = [r for r in sb.requests if r.operation == "getItemOffersBatch"]
        assert len(records) == 60
        assert sorted(r.duration for r in records)[30] < 0.05  # median server time stays small


def test_stop_closes_pooled_connections():
    session = requests.Session()
    with Sandbox(Scenario.demo(), speed=100) as sb:
        url = sb.url
        assert session.get(url + "/_sandbox/state", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/_sandbox/state", timeout=2)
    with pytest.raises(RuntimeError):
        _ = sb.url


def test_cli_prints_exports_writes_accounts_and_stops_on_sigint(tmp_path):
    accounts = tmp_path / "accounts.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecauto_sandbox",
            "--port",
            "0",
            "--scenario",
            "generated",
            "--asins",
            "30",
            "--shops",
            "3",
            "--seed",
            "4",
            "--speed",
            "100",
            "--accounts-out",
            str(accounts),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        lines = []
        while not any(line.startswith("export ECAUTO_ACCOUNTS_FILE=") for line in lines):
            line = process.stdout.readline()
            assert line, process.stderr.read()
            lines.append(line.strip())
        env = dict(line[len("export ") :].split("=", 1) for line in lines if line.startswith("export "))
        assert env["SP_API_MARKETPLACE_ID"] == "A1VC38T7YXB528"
        assert env["ECAUTO_ACCOUNTS_FILE"] == str(accounts)
        state = requests.get(env["BASE_API_URL"] + "/_sandbox/state", timeout=5).json()
        assert state["products"] == 30 and len(state["shops"]) == 3
        document = json.loads(accounts.read_text())
        assert [a["id"] for a in document["accounts"]] == [
            "base_account_1",
            "base_account_2",
            "base_account_3",
        ]
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
