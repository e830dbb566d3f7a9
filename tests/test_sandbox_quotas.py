"""SP-API quotas: one token bucket per operation, on the virtual clock."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from ecauto_sandbox import Sandbox, Scenario, VirtualClock
from ecauto_sandbox.probe import SandboxProbe
from ecauto_sandbox.quotas import TokenBucket, format_rate

ASINS = ["B0FGQJ45HW", "B07YV55TNL", "B08HXN835J"]


class FakeMonotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1_000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def _calls(probe: SandboxProbe) -> dict[str, Callable[[], requests.Response]]:
    return {
        "getItemOffersBatch": lambda: probe.item_offers_batch(ASINS),
        "getItemOffers": lambda: probe.item_offers(ASINS[0]),
        "getCompetitivePricing": lambda: probe.competitive_pricing(ASINS),
        "searchCatalogItems": lambda: probe.search_catalog(ASINS),
        "getCatalogItem": lambda: probe.catalog_item(ASINS[0]),
    }


# operation → (rate, burst, speed chosen so the real rate is 10 calls/s)
PLANS = {
    "getItemOffersBatch": (0.1, 1, 100),
    "getItemOffers": (0.5, 1, 20),
    "getCompetitivePricing": (0.5, 1, 20),
    "searchCatalogItems": (2.0, 2, 5),
    "getCatalogItem": (2.0, 2, 5),
}


def paced(call: Callable[[], requests.Response], n: int, interval: float, fake: FakeMonotonic) -> list[int]:
    """``n`` calls, ``interval`` real seconds apart on the simulator's (fake) clock."""
    statuses = []
    for _ in range(n):
        fake.advance(interval)
        statuses.append(call().status_code)
    return statuses


@pytest.mark.parametrize("operation", list(PLANS))
def test_each_quota_throttles_a_fast_client_and_not_a_paced_one(operation):
    """On a clock that moves only when the test says (a loaded machine's late threads would
    otherwise refill a token between the burst's calls, or eat a paced call's slack)."""
    rate, burst, speed = PLANS[operation]
    fake = FakeMonotonic()
    with Sandbox(Scenario.demo(), clock=VirtualClock(speed, monotonic=fake)) as sb:
        probe = SandboxProbe(sb)
        probe.lwa_token()
        call = _calls(probe)[operation]
        burst_statuses = [call().status_code for _ in range(burst + 3)]
        assert burst_statuses == [200] * burst + [429] * 3
        first = call()
        assert first.status_code == 429 and "x-amzn-RateLimit-Limit" not in first.headers

        fake.advance(burst / (rate * speed) - 1.0 / (rate * speed))  # the bucket fills up again
        sb.clear_requests()
        interval = 1.0 / (rate * speed) / 0.9  # 90 % of the quota
        statuses = paced(call, 8, interval, fake)
        assert statuses == [200] * 8
        stats = sb.stats(window=8)[operation]
        assert stats["throttled"] == 0 and stats["calls"] == 8
        assert 0.8 * rate < stats["max_rate_virtual"] <= rate


def test_rate_limit_header_is_the_applied_rate_in_real_requests_per_second():
    with Sandbox(Scenario.demo(), speed=1) as sb:
        probe = SandboxProbe(sb)
        assert probe.item_offers_batch(ASINS).headers["x-amzn-RateLimit-Limit"] == "0.1"
        assert probe.search_catalog(ASINS).headers["x-amzn-RateLimit-Limit"] == "2.0"
        bad = probe.catalog_item("B0NOTKNOWN")  # 404s carry it too
        assert bad.status_code == 404 and bad.headers["x-amzn-RateLimit-Limit"] == "2.0"
    with Sandbox(Scenario.demo(), speed=100, enforce_quotas=False) as sb:
        probe = SandboxProbe(sb)
        assert probe.item_offers_batch(ASINS).headers["x-amzn-RateLimit-Limit"] == "10.0"
        assert probe.item_offers(ASINS[0]).headers["x-amzn-RateLimit-Limit"] == "50.0"


def test_unauthenticated_calls_take_no_token_but_malformed_ones_do():
    with Sandbox(Scenario.demo(), speed=1) as sb:
        probe = SandboxProbe(sb)
        probe.lwa_token()
        for _ in range(3):
            assert probe.item_offers(ASINS[0], token="").status_code == 403
        assert probe.item_offers(ASINS[0], condition="Mint").status_code == 400  # spends the only token
        assert probe.item_offers(ASINS[0]).status_code == 429


def test_quotas_can_be_switched_off_for_local_cost_benchmarks():
    with Sandbox(Scenario.demo(), speed=1, enforce_quotas=False) as sb:
        probe = SandboxProbe(sb)
        statuses = [probe.item_offers_batch(ASINS).status_code for _ in range(20)]
        assert statuses == [200] * 20
        stats = sb.stats()["getItemOffersBatch"]
        assert stats["calls"] == 20 and stats["throttled"] == 0
        assert stats["max_rate"] > 0.1 * 20  # far faster than the quota, and nobody minded


def test_buckets_are_separate_per_operation():
    with Sandbox(Scenario.demo(), speed=1) as sb:
        probe = SandboxProbe(sb)
        assert probe.item_offers_batch(ASINS).status_code == 200
        assert probe.item_offers_batch(ASINS).status_code == 429
        assert probe.competitive_pricing(ASINS).status_code == 200  # its own bucket is still full
        assert probe.search_catalog(ASINS).status_code == 200


def test_same_virtual_schedule_gives_the_same_answers_at_speed_1_and_100():
    """Time scale: the same pattern in virtual time behaves identically at any speed."""
    schedule = [0.0, 0.05, 0.1, 0.4, 0.6, 0.62, 1.2, 1.21, 1.22, 2.5]  # virtual seconds
    outcomes = {}
    for speed in (1.0, 100.0):
        fake = FakeMonotonic()
        clock = VirtualClock(speed, monotonic=fake)
        with Sandbox(Scenario.demo(), clock=clock) as sb:
            probe = SandboxProbe(sb)
            expires_in = probe.lwa_token().json()["expires_in"]
            statuses = []
            previous = 0.0
            for at in schedule:
                fake.advance((at - previous) / speed)
                previous = at
                statuses.append(probe.search_catalog(ASINS).status_code)
            stamps = [r.vt for r in sb.requests if r.operation == "searchCatalogItems"]
            outcomes[speed] = statuses
        assert expires_in == round(3600 / speed)
        offsets = [(vt - stamps[0]).total_seconds() for vt in stamps]
        assert offsets == pytest.approx(schedule, abs=1e-6)  # the log's virtual times follow the schedule
    assert outcomes[1.0] == outcomes[100.0]
    # 2 tokens/s, burst 2: 0.0 ok, 0.05 ok (0.1 left), 0.1 (0.2) 429, 0.4 (0.8) 429, 0.6 (1.2) ok, ...
    assert outcomes[1.0] == [200, 200, 429, 429, 200, 429, 200, 429, 429, 200]


def test_same_pattern_in_real_time_at_speed_1_and_10():
    """On the real clock, the quota follows the virtual time each call arrived at: the answers are
    what a 2/s, burst-2 bucket gives at the logged times (three quick calls are 200, 200, 429
    unless a loaded machine delays them past a refill), and a call one refill later gets a token."""
    for speed in (1.0, 10.0):
        with Sandbox(Scenario.demo(), speed=speed) as sb:
            probe = SandboxProbe(sb)
            probe.lwa_token()
            quick = [probe.catalog_item(ASINS[0]).status_code for _ in range(3)]
            time.sleep(0.55 / speed)  # a bit more than one token's refill time (0.5 virtual s)
            later = probe.catalog_item(ASINS[0]).status_code
            stamps = [r.vt for r in sb.requests if r.operation == "getCatalogItem"]
        bucket = TokenBucket(rate=2.0, burst=2)
        model = [200 if bucket.try_take((vt - stamps[0]).total_seconds()) else 429 for vt in stamps]
        assert [*quick, later] == model, speed
        assert quick[:2] == [200, 200] and later == 200, speed


def test_token_bucket_refills_at_rate_up_to_burst():
    bucket = TokenBucket(rate=2.0, burst=2)
    assert [bucket.try_take(0.0) for _ in range(3)] == [True, True, False]
    assert bucket.try_take(0.25) is False  # half a token
    assert bucket.try_take(0.5) is True
    assert bucket.tokens(100.0) == 2.0  # capped at burst
    assert format_rate(0.1 * 100) == "10.0" and format_rate(0.5) == "0.5"
