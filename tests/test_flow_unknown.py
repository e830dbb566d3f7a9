"""Issue #11 §3 end to end: unknown forever, on the simulator's virtual clock (the product's clock
follows it: ecauto_lib.clock.clock_source)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ecauto_lib.clock import clock_source
from ecauto_sandbox import VirtualClock
from flows.import_listings import import_listings
from flows.sync import sync
from tests.marketplace import calls, item_id_of, marketplace

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

SPEED = 20
SHOP1, SHOP2 = "base_account_1", "base_account_2"


@contextmanager
def virtual_marketplace(tmp_path, database_url, extra_env=None) -> Iterator[tuple]:
    """The demo marketplace on a virtual clock the test can move forward, and the product on it."""
    jump = [0.0]  # real seconds added to the clock's time source
    clock = VirtualClock(SPEED, monotonic=lambda: time.monotonic() + jump[0])
    env = {"ECAUTO_STOCK_TTL_HOURS": "0", **(extra_env or {})}  # every run asks Amazon again
    with (
        marketplace(tmp_path, database_url, speed=SPEED, clock=clock, extra_env=env) as sb,
        clock_source(sb.now),
    ):

        def later(hours: float) -> None:
            jump[0] += hours * 3600 / SPEED

        yield sb, later


def edits_of(sb, shop: str, item_id: int) -> list[dict]:
    return [
        {k: v for k, v in r.body.items() if k != "item_id"}
        for r in calls(sb, "itemsEdit")
        if r.status == 200 and r.shop_id == shop and int(r.body["item_id"]) == item_id
    ]


def unknown_hours(report: str) -> list[float]:
    return [float(h) for h in re.findall(r"Amazon stock unknown for ([\d.]+) h", report)]


def test_unknown_for_longer_than_the_limit_hides_and_a_good_answer_publishes_again(tmp_path, sqlite_url):
    with virtual_marketplace(tmp_path, sqlite_url) as (sb, later):
        import_listings(source="base")
        assert sync()["exit_code"] == 0  # every ASIN answered: the last good answer is now
        tumbler, kettle = item_id_of(sb, SHOP1, "B07YV55TNL"), item_id_of(sb, SHOP1, "B0FGQJ45HW")
        sb.set_item_error(
            "B07YV55TNL", "InvalidInput"
        )  # removed from the catalog: a per-item error each call
        sb.set_status("B0FGQJ45HW", "ActiveButTooSoonForProcessing")  # too soon, hour after hour

        later(23)
        sb.clear_requests()
        early = sync(mode="stock")
        assert early["fetch"]["failed"] == 2 and not calls(sb, "itemsEdit")  # unknown, but not for long
        assert sb.item(SHOP1, tumbler)["visible"] == 1 and sb.item(SHOP1, kettle)["visible"] == 1

        later(2)
        sb.clear_requests()
        hidden = sync(mode="stock")
        assert edits_of(sb, SHOP1, tumbler) == [{"visible": "0"}]
        assert edits_of(sb, SHOP1, kettle) == [{"visible": "0"}]
        hours = unknown_hours(hidden["report"])
        assert len(hours) == 2 and all(24 < h < 26 for h in hours), hours
        assert "(since the last good answer; limit 24 h)" in hidden["report"]

        sb.set_item_error("B07YV55TNL", None)
        sb.set_status("B0FGQJ45HW", None)
        sb.set_price("B0FGQJ45HW", 4100)  # ¥4,100 × 1.3 = ¥5,330 (BASE ¥5,170)
        later(1)
        sb.clear_requests()
        back = sync(mode="stock")
        assert edits_of(sb, SHOP1, tumbler) == [{"visible": "1"}]
        assert edits_of(sb, SHOP1, kettle) == [{"price": "5330", "visible": "1"}]  # with its price check
        assert back["exit_code"] == 0


def test_an_sp_api_outage_trips_the_breaker_instead_of_hiding_the_shops(tmp_path, sqlite_url):
    with virtual_marketplace(tmp_path, sqlite_url, {"ECAUTO_BREAKER_MIN_ITEMS": "3"}) as (sb, later):
        import_listings(source="base")
        sync()
        for asin in sb.state.products:
            sb.set_item_error(asin, "InternalFailure")  # every offer answer fails for a day
        later(25)
        sb.clear_requests()
        result = sync()
        assert not calls(sb, "itemsEdit")
        assert result["held"] == 9  # every public listing: 4 of shop 1's 5, 5 of shop 2's 6
        assert "circuit breaker: this run would hide 5 of 6 listings" in result["report"]
        assert len(unknown_hours(result["report"])) == 9
