import os
import time
import uuid
from types import SimpleNamespace

import pytest
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

from ecauto_sandbox import DEMO_PLAN, Faults
from flows.import_listings import import_listings
from flows.sync import sync
from tasks.amazon import CATALOG_CACHE, OFFERS_CACHE, prune_fetch_cache
from tests.marketplace import calls, marketplace, rows


def test_expired_batch_records_are_pruned_and_nothing_else(tmp_path):
    old = time.time() - 7200
    files = {
        "ecauto-offers-aaa": old,  # 2 h old, offers TTL 1 h → removed
        "ecauto-offers-bbb": time.time(),  # fresh → kept
        "ecauto-catalog-ccc": old,  # within the catalog TTL → kept
        "someone-elses-key": old,  # not ours → kept
    }
    for name, mtime in files.items():
        (tmp_path / name).write_text("x")
        os.utime(tmp_path / name, (mtime, mtime))
    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: str(tmp_path)}):
        removed = prune_fetch_cache.fn({OFFERS_CACHE: 3600, CATALOG_CACHE: 7 * 86400})
    assert removed == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ecauto-catalog-ccc",
        "ecauto-offers-bbb",
        "someone-elses-key",
    ]


# ---------------------------------------------------------------------------------------------
# Errors are never served from the cache (#12 §1)

ERRORS_ONLY = Faults(seed=1, item_error_rate=1.0)  # every item of every batch answers InternalFailure


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_a_batch_of_errors_is_asked_again_by_the_next_run_not_served_from_the_cache(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url, faults=ERRORS_ONLY) as sb:
        import_listings(source="base")
        first = sync()
        assert first["fetch"]["failed"] == 11 and first["fetch"]["fetched"] == 0
        sb.set_faults(item_error_rate=0.0)  # the glitch is over
        sb.clear_requests()
        again = sync()
        # the same 11 ASINs with the same stored fetch times: the key of the first run's batch
        asked = [sorted(r.asins) for r in calls(sb, "getItemOffersBatch")]
        assert asked == [sorted(DEMO_PLAN)]
        assert again["fetch"]["cached_batches"] == 0
        assert again["fetch"]["failed"] == 0 and again["fetch"]["fetched"] == 11


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_a_batch_with_some_errors_is_asked_again_for_those_asins_only(tmp_path, sqlite_url):
    with marketplace(tmp_path, sqlite_url, faults=Faults(seed=3, item_error_rate=0.3)) as sb:
        import_listings(source="base")
        first = sync()
        failed = {r[0] for r in rows(sqlite_url, "select asin from products where last_outcome = 'error'")}
        assert 0 < len(failed) < 11 and first["fetch"]["failed"] == len(failed)
        sb.set_faults(item_error_rate=0.0)
        sb.clear_requests()
        again = sync()
        asked = [a for r in calls(sb, "getItemOffersBatch") for a in r.asins]
        assert sorted(asked) == sorted(failed)
        assert again["fetch"]["failed"] == 0 and again["fetch"]["cached_batches"] == 0


class _Batches:
    """Just what ``fetch_offers_batch`` asks of an SP-API client; counts the calls it answers."""

    def __init__(self, answers: dict) -> None:
        self.answers, self.calls = answers, 0
        self.stats = {"getItemOffersBatch": {"calls": 0, "throttled": 0, "waited_seconds": 0.0}}

    def item_offers_batch(self, asins):
        self.calls += 1
        return self.answers

    def pacer(self, name):
        return SimpleNamespace(rate=0.1)


def _no_offers(asin: str) -> dict:
    return {"status": {"statusCode": 200}, "body": {"payload": {"ASIN": asin, "status": "NoBuyableOffers"}}}


@pytest.mark.flow
@pytest.mark.usefixtures("prefect_harness")
def test_an_answer_with_an_error_is_not_written_to_the_cache_an_answer_without_one_is():
    """The task's own rule, on Prefect's transaction: nothing with an error reaches the result store."""
    from prefect import flow

    from tasks.amazon import fetch_offers_batch

    asins = ["B0AAAAAAA1", "B0AAAAAAA2"]
    good = _Batches({a: _no_offers(a) for a in asins})
    partly = _Batches({asins[0]: _no_offers(asins[0])})  # the second ASIN is missing: an error
    scope = uuid.uuid4().hex

    @flow
    def twice(client, versions: str) -> list[str]:
        states = [
            fetch_offers_batch(
                client, asins, max_delivery_hours=72, scope=scope, versions=versions, return_state=True
            )
            for _ in range(2)
        ]
        return [s.name for s in states]

    assert twice(good, "v-good") == ["Completed", "Cached"] and good.calls == 1
    assert twice(partly, "v-partly") == ["Completed", "Completed"] and partly.calls == 2
