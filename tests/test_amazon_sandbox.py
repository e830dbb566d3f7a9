"""SpApiClient + LwaAuth + offer parsing against the project's SP-API simulator (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from ecauto_lib.amazon.client import QuotaExceededError, SpApiClient
from ecauto_lib.amazon.lwa import LwaAuth
from ecauto_lib.amazon.offers import catalog_info_from_item, observation_from_item
from ecauto_lib.asin import asin_in_identifier
from ecauto_lib.domain import Outcome, PriceSource
from ecauto_lib.errors import AuthError, TransientError
from ecauto_sandbox import Sandbox, Scenario, VirtualClock

AT = datetime(2026, 8, 1, tzinfo=UTC)


class SharedClock:
    """One monotonic clock for the client's pacers and the simulator's quotas that moves only by
    the time the client sleeps: pacing is exact however late a loaded machine runs the threads
    (a full run once got a 429 on single-item offers from wall-clock jitter)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


CLOCKS: dict[int, SharedClock] = {}  # id(sandbox) → its clock, for client_of


@contextmanager
def simulator(scenario: Scenario, speed: float = 100.0) -> Iterator[Sandbox]:
    """The simulator at ``speed`` on a :class:`SharedClock` (its clients use it too)."""
    clock = SharedClock()
    with Sandbox(scenario, clock=VirtualClock(speed, monotonic=clock)) as sandbox:
        CLOCKS[id(sandbox)] = clock
        try:
            yield sandbox
        finally:
            del CLOCKS[id(sandbox)]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with simulator(Scenario.demo()) as sandbox:
        yield sandbox


def client_of(sb: Sandbox, **kwargs) -> SpApiClient:
    creds = sb.lwa_credentials
    auth = LwaAuth(sb.lwa_token_url, creds.client_id, creds.client_secret, creds.refresh_token)
    clock = CLOCKS.get(id(sb))
    on_clock = {"clock": clock, "sleep": clock.sleep} if clock is not None else {}
    return SpApiClient(sb.url, auth, sb.marketplace_id, timeout=(2.0, 5.0), **{**on_clock, **kwargs})


def sp_calls(sb: Sandbox) -> list:
    return [r for r in sb.requests if r.service == "sp-api"]


def demo_asins(sb: Sandbox) -> list[str]:
    """Every ASIN the simulator's shops list (from their BASE identifiers)."""
    return sorted({asin_in_identifier(item["identifier"]) for shop in sb.shops for item in sb.items(shop.id)})


def test_batch_observations_match_what_the_simulator_intends(sb: Sandbox) -> None:
    asins = demo_asins(sb)
    assert len(asins) == 11
    items = client_of(sb).item_offers_batch(asins)
    (call,) = sp_calls(sb)
    assert call.operation == "getItemOffersBatch" and call.status == 200
    assert call.body == {
        "requests": [
            {
                "uri": f"/products/pricing/v0/items/{asin}/offers",
                "method": "GET",
                "MarketplaceId": "A1VC38T7YXB528",
                "ItemCondition": "New",
                "CustomerType": "Consumer",
            }
            for asin in asins
        ]
    }
    outcomes = set()
    for asin in asins:
        obs = observation_from_item(asin, items.get(asin), max_delivery_hours=72, observed_at=AT)
        expected = sb.product(asin).expected()  # type: ignore[union-attr]
        assert (obs.outcome, obs.price_yen, obs.shipping_yen, obs.points, obs.offer_count) == (
            expected.outcome,
            expected.price_yen,
            expected.shipping_yen,
            expected.points,
            expected.offer_count,
        ), asin
        outcomes.add(obs.outcome)
    assert outcomes == {Outcome.IN_STOCK, Outcome.OUT_OF_STOCK, Outcome.FILTERED_OUT}


def test_single_item_offers_read_like_the_batch_and_an_unknown_asin_is_a_per_item_error(sb: Sandbox) -> None:
    # 12 calls in a row at the quota (speed 100): no 429, on the shared clock
    client = client_of(sb)
    asins = demo_asins(sb)
    batch = client.item_offers_batch(asins)
    for asin in asins:
        single = client.item_offers(asin)
        assert single["request"] == {"Asin": asin} and single["status"] == {"statusCode": 200}
        one = observation_from_item(asin, single, max_delivery_hours=72, observed_at=AT)
        many = observation_from_item(asin, batch[asin], max_delivery_hours=72, observed_at=AT)
        assert one == many, asin
    calls = [r for r in sp_calls(sb) if r.operation == "getItemOffers"]
    assert [r.status for r in calls] == [200] * len(asins)
    assert [r.path for r in calls] == [f"/products/pricing/v0/items/{a}/offers" for a in asins]
    assert calls[0].query == {
        "MarketplaceId": "A1VC38T7YXB528",
        "ItemCondition": "New",
        "CustomerType": "Consumer",
    }

    unknown = client.item_offers("B000000000")  # well formed, not in the catalogue: HTTP 400
    obs = observation_from_item("B000000000", unknown, max_delivery_hours=72, observed_at=AT)
    assert obs.outcome is Outcome.ERROR and obs.reason.startswith("HTTP 400 InvalidInput")
    with pytest.raises(ValueError, match="malformed ASIN"):
        client.item_offers("not-an-asin")


def test_crowded_offer_lists_read_alike_in_the_batch_and_the_recheck_and_never_as_gone() -> None:
    """More than 20 new offers, none of the listed 20 ships in time: the Summary's Amazon-fulfilled
    price, or unknown, in both operations (the sell-out re-check uses the single one)."""
    scenario = Scenario.generate(
        8, 1, seed=6, out_of_stock_share=0, filtered_share=0, crowded_share=0.5, crowded_unknown_share=0.25
    )
    with simulator(scenario) as sandbox:
        client = client_of(sandbox)
        asins = scenario.listed_asins()
        batch = client.item_offers_batch(asins)
        seen = Counter()
        for asin in asins:
            many = observation_from_item(asin, batch[asin], max_delivery_hours=72, observed_at=AT)
            one = observation_from_item(asin, client.item_offers(asin), max_delivery_hours=72, observed_at=AT)
            assert one == many, asin
            expected = scenario.expected(asin)
            assert (many.outcome, many.price_yen, many.points or 0, many.offer_count, many.price_source) == (
                expected.outcome,
                expected.price_yen,
                expected.points or 0,
                expected.offer_count,
                expected.price_source,
            ), asin
            seen[(many.outcome, many.price_source)] += 1
    assert seen == {
        (Outcome.IN_STOCK, PriceSource.SUMMARY): 4,
        (Outcome.ERROR, None): 2,
        (Outcome.IN_STOCK, PriceSource.OFFER): 2,
    }


def test_single_item_offers_429_raises_and_drains_its_own_pacer_only(sb: Sandbox) -> None:
    client = client_of(sb)
    sb.set_faults(storm_429=1, sp_operations=("getItemOffers",))
    asin = demo_asins(sb)[0]
    with pytest.raises(QuotaExceededError):
        client.item_offers(asin)
    assert client.stats["getItemOffers"]["throttled"] == 1
    client.item_offers_batch([asin])  # the batch's own pacer was not drained: no wait
    assert client.stats["getItemOffersBatch"] == {"calls": 1, "throttled": 0, "waited_seconds": 0.0}
    assert client.item_offers(asin)["status"] == {"statusCode": 200}


def test_catalog_search_gives_titles_and_main_images(sb: Sandbox) -> None:
    asins = demo_asins(sb)
    items = client_of(sb).search_catalog_items(asins)
    assert sorted(i["asin"] for i in items) == asins
    infos = [catalog_info_from_item(i, AT) for i in items]
    assert all(info.title and info.brand and info.image_url for info in infos)
    (call,) = sp_calls(sb)
    assert call.query == {
        "identifiers": ",".join(asins),
        "identifiersType": "ASIN",
        "marketplaceIds": "A1VC38T7YXB528",
        "includedData": "summaries,images",
        "pageSize": "20",
    }


def test_expired_token_403_reauthorises_once(sb: Sandbox) -> None:
    client = client_of(sb)
    asins = demo_asins(sb)[:2]
    client.item_offers_batch(asins)
    sb.expire_tokens()
    assert set(client.item_offers_batch(asins)) == set(asins)
    assert client.auth.token_requests == 2
    assert [r.status for r in sp_calls(sb)] == [200, 403, 200]


def test_refused_lwa_credentials_are_an_auth_error(sb: Sandbox) -> None:
    creds = sb.lwa_credentials
    auth = LwaAuth(sb.lwa_token_url, creds.client_id, "wrong-secret", creds.refresh_token)
    with pytest.raises(AuthError) as info:
        SpApiClient(sb.url, auth).item_offers_batch(demo_asins(sb)[:1])
    assert info.value.service == "lwa" and info.value.code == "invalid_client"
    assert "wrong-secret" not in str(info.value) and creds.refresh_token not in str(info.value)


def test_429_is_quota_exceeded_and_drains_the_pacer(sb: Sandbox) -> None:
    client = client_of(sb)
    asins = demo_asins(sb)
    sb.set_faults(storm_429=1)
    with pytest.raises(QuotaExceededError) as info:
        client.search_catalog_items(asins[:3])  # burst 2: one token would be left without the drain
    assert (info.value.status, info.value.code) == (429, "QuotaExceeded")
    assert info.value.request_id
    assert client.stats["searchCatalogItems"]["throttled"] == 1
    # The next call waits a full (unadapted, 2/s) spacing instead of using the second burst token
    # (exactly: the shared clock has not moved since the 429).
    pacer = client.pacer("searchCatalogItems")
    assert pacer.rate == 2.0
    assert pacer.acquire() == pytest.approx(pacer.spacing) and pacer.spacing >= 1 / (2.0 * 0.98)


def test_paced_calls_reach_the_quota_without_429() -> None:
    """Client and simulator share one fake clock: 40 batch calls, no 429, >= 97 % of 0.1/s."""
    now = [0.0]
    lock = threading.Lock()

    def clock() -> float:
        return now[0]

    def sleep(seconds: float) -> None:
        with lock:
            now[0] += seconds

    with Sandbox(Scenario.demo(), clock=VirtualClock(1.0, monotonic=clock)) as sb:
        client = client_of(sb, clock=clock, sleep=sleep)
        asins = demo_asins(sb)
        for n in range(40):
            client.item_offers_batch([asins[n % len(asins)]])
        statuses = [r.status for r in sp_calls(sb)]
        stamps = [r.vt for r in sp_calls(sb)]
    assert statuses == [200] * 40
    assert client.pacer("getItemOffersBatch").rate == pytest.approx(0.1)
    achieved = 39 / (stamps[-1] - stamps[0]).total_seconds()
    assert 0.97 * 0.1 <= achieved <= 0.1


def test_server_errors_and_truncated_bodies_are_transient(sb: Sandbox) -> None:
    client = client_of(sb)
    asins = demo_asins(sb)[:1]
    sb.set_faults(sp_5xx_rate=1.0)
    with pytest.raises(TransientError) as info:
        client.item_offers_batch(asins)
    assert info.value.status in (500, 503) and info.value.request_id
    sb.set_faults(sp_5xx_rate=0.0, malformed_json_rate=1.0)
    with pytest.raises(TransientError) as info:
        client.item_offers_batch(asins)
    assert info.value.code == "MalformedBody"


def test_per_item_failure_is_an_error_observation_not_an_exception(sb: Sandbox) -> None:
    client = client_of(sb)
    sb.set_faults(item_error_rate=1.0)
    asin = demo_asins(sb)[0]
    obs = observation_from_item(
        asin, client.item_offers_batch([asin])[asin], max_delivery_hours=72, observed_at=AT
    )
    assert obs.outcome is Outcome.ERROR
    assert obs.reason.startswith("HTTP 500 InternalFailure")
