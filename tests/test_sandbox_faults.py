"""Fault injection: each fault answers as documented, is logged, and is deterministic under a seed."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from ecauto_sandbox import Faults, Sandbox, Scenario
from ecauto_sandbox.faults import chance
from ecauto_sandbox.probe import SandboxProbe

DEMO_ASINS = Scenario.demo().listed_asins()


def _sandbox(**faults):
    return Sandbox(Scenario.demo(), speed=100, enforce_quotas=False, faults=Faults(**faults))


def test_sp_5xx_fault_answers_a_retryable_server_error_and_is_logged():
    with _sandbox(seed=1, sp_5xx_rate=1.0) as sb:
        probe = SandboxProbe(sb)
        answers = [probe.item_offers_batch(DEMO_ASINS[:5]) for _ in range(8)]
        statuses = {a.status_code for a in answers}
        assert statuses <= {500, 503} and 500 in statuses
        for answer in answers:
            code = answer.json()["errors"][0]["code"]
            assert code == ("InternalFailure" if answer.status_code == 500 else "ServiceUnavailable")
            assert answer.headers["x-amzn-RequestId"] and "x-amzn-RateLimit-Limit" not in answer.headers
        records = [r for r in sb.requests if r.service == "sp-api"]
        assert [r.fault for r in records] == ["sp_5xx"] * 8
        assert records[0].asins == tuple(DEMO_ASINS[:5])


def test_injected_429s_take_no_quota_token():
    with Sandbox(Scenario.demo(), speed=1, faults=Faults(sp_429_rate=1.0)) as sb:
        probe = SandboxProbe(sb)
        throttled = probe.item_offers_batch(DEMO_ASINS[:2])
        assert throttled.status_code == 429 and throttled.json()["errors"][0]["code"] == "QuotaExceeded"
        assert sb.requests[-1].fault == "sp_429"
        sb.set_faults(sp_429_rate=0.0)
        assert probe.item_offers_batch(DEMO_ASINS[:2]).status_code == 200  # the bucket was still full


def test_a_counted_429_storm_then_recovery():
    with _sandbox() as sb:
        probe = SandboxProbe(sb)
        sb.set_faults(storm_429=3)
        statuses = [probe.item_offers_batch(DEMO_ASINS[:1]).status_code for _ in range(5)]
        assert statuses == [429, 429, 429, 200, 200]
        assert [r.fault for r in sb.requests if r.service == "sp-api"] == ["storm_429"] * 3 + [None] * 2


def test_a_429_storm_over_a_virtual_time_window():
    with _sandbox() as sb:
        probe = SandboxProbe(sb)
        now = sb.now()
        sb.set_faults(storm_429=(now - timedelta(seconds=1), now + timedelta(seconds=20)))  # 0.2 s real
        assert probe.search_catalog(DEMO_ASINS[:3]).status_code == 429
        time.sleep(0.25)
        assert probe.search_catalog(DEMO_ASINS[:3]).status_code == 200


def test_item_errors_are_deterministic_under_a_seed():
    def failing(seed: int) -> list[list[str]]:
        with _sandbox(seed=seed, item_error_rate=0.4) as sb:
            probe = SandboxProbe(sb)
            rounds = []
            for _ in range(3):
                data = probe.item_offers_batch(DEMO_ASINS).json()["responses"]
                rounds.append([r["request"]["Asin"] for r in data if r["status"]["statusCode"] == 500])
            assert [r.fault for r in sb.requests if r.service == "sp-api"] == [
                "item_error" if f else None for f in rounds
            ]
            return rounds

    first = failing(7)
    assert first == failing(7)
    assert first != failing(8)
    failed = [asin for round_ in first for asin in round_]
    assert 0 < len(failed) < 3 * len(DEMO_ASINS)
    # Each fetch of an ASIN draws afresh: a retried item is not doomed to fail again.
    assert first[0] != first[1] or first[1] != first[2]


def test_chance_is_a_stable_uniform_number():
    assert chance(0, "x", 1) == chance(0, "x", 1)
    draws = [chance(3, "item_error", f"B0{n:08d}#1") for n in range(2000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert 0.45 < sum(d < 0.5 for d in draws) / len(draws) < 0.55


def test_malformed_json_and_slow_answers():
    with _sandbox(malformed_json_rate=1.0) as sb:
        probe = SandboxProbe(sb)
        answer = probe.item_offers_batch(DEMO_ASINS[:2])
        assert answer.status_code == 200
        with pytest.raises(ValueError):
            answer.json()
        assert (sb.requests[-1].fault, sb.requests[-1].response) == ("malformed_json", None)
    with _sandbox(slow_rate=1.0, slow_seconds=0.2) as sb:
        probe = SandboxProbe(sb)
        probe.lwa_token()
        started = time.monotonic()
        assert probe.item_offers("B0FGQJ45HW").status_code == 200
        assert time.monotonic() - started >= 0.2
        assert sb.requests[-1].fault == "slow"


def test_base_5xx_is_nginxs_html_page_and_counts_against_the_budget():
    with Sandbox(Scenario.demo(), speed=100, faults=Faults(base_5xx_rate=1.0), base_hour_limit=2) as sb:
        probe = SandboxProbe(sb)
        first = probe.items("base_account_1")
        assert first.status_code == 503 and first.headers["Content-Type"] == "text/html"
        assert "nginx" in first.text
        probe.items("base_account_1")
        assert probe.items("base_account_1").json()["error"] == "hour_api_limit"
        assert [r.fault for r in sb.requests if r.operation == "items"] == ["base_5xx", "base_5xx", None]


def test_page_shift_skips_the_first_item_of_a_later_page_which_is_still_there():
    """Opt-in: /1/items pages shift under concurrent edits, so a scan misses an item BASE still has."""
    scenario = Scenario.generate(250, 1, seed=3)
    with Sandbox(scenario, speed=100, faults=Faults(seed=1, base_page_shift_rate=1.0)) as sb:
        probe = SandboxProbe(sb)
        shop = sb.shops[0].id
        everything = [i.item_id for i in sorted(scenario.shops[0].items, key=lambda i: i.list_order)]
        pages = [probe.items(shop, limit=100, offset=o).json()["items"] for o in (0, 100, 200)]
        seen = [i["item_id"] for page in pages for i in page]
        # each later page starts one late, as after one item in front went away: the scan misses the
        # item at the first page boundary and its last page runs one short
        assert [len(p) for p in pages] == [100, 100, 49]
        assert sorted(set(everything) - set(seen)) == [everything[100]]
        assert probe.item_detail(shop, everything[100]).status_code == 200  # still there
        assert [r.fault for r in sb.requests if r.operation == "items"] == [None, "page_shift", "page_shift"]
        sb.set_faults(base_page_shift_rate=0.0)
        assert [i["item_id"] for i in probe.items(shop, limit=100, offset=100).json()["items"]] == everything[
            100:200
        ]


def test_auth_5xx_hits_both_token_endpoints():
    with _sandbox(auth_5xx_rate=1.0) as sb:
        probe = SandboxProbe(sb)
        lwa, base = probe.lwa_token(), probe.base_token("base_account_1")
        assert (lwa.status_code, lwa.json()["error"]) == (500, "server_error")
        assert (base.status_code, base.json()["error"]) == (500, "server_error")
        # The failed refresh did not rotate anything: the initial refresh token still works.
        sb.set_faults(auth_5xx_rate=0.0)
        assert probe.base_token("base_account_1", refresh_token=sb.shops[0].refresh_token).status_code == 200


def test_faults_are_validated():
    with pytest.raises(ValueError):
        Faults(sp_5xx_rate=1.5)
    with pytest.raises(ValueError):
        Faults(storm_429=-1)
    with pytest.raises(ValueError):
        Faults(base_page_shift_rate=2.0)
    with pytest.raises(ValueError):
        Faults(base_limit_status=200)
    with _sandbox() as sb:
        with pytest.raises(TypeError):
            sb.set_faults(sp_500_rate=0.1)
        assert sb.set_faults(sp_429_rate=0.25).sp_429_rate == 0.25
        assert sb.faults.sp_429_rate == 0.25
