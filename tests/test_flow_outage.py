"""A BASE outage end to end (#12 §2): the push stops after a short run of 5xx, the next run settles
the journal with a page read and spends the budget once."""

from __future__ import annotations

from collections import Counter

import pytest

from ecauto_lib.config import environment
from ecauto_sandbox import Faults, Scenario
from flows.import_listings import import_listings
from flows.sync import sync
from tests.marketplace import NO_GUARDS, base_state, db_state, edits_per_change, marketplace, rows

pytestmark = [pytest.mark.flow, pytest.mark.usefixtures("prefect_harness")]

EDITS_DOWN = Faults(seed=1, base_5xx_rate=1.0, base_operations=("itemsEdit",))  # every edit answers 503
SCENARIO = dict(n_asins=60, n_shops=2, overlap=0.2, mispriced_share=0.6, out_of_stock_share=0.1)


def base_calls(sb) -> Counter:
    """BASE items calls per (shop, operation) since the last clear."""
    return Counter((r.shop_id, r.operation) for r in sb.requests if r.service == "base" and r.shop_id)


def journal(url: str) -> Counter:
    return Counter(dict(rows(url, "select status, count(*) from push_journal group by status")))


def test_a_base_outage_stops_each_shop_after_five_edits_and_the_next_runs_spend_the_budget_once(
    tmp_path, sqlite_url
):
    scenario = Scenario.generate(seed=12, **SCENARIO)
    with marketplace(tmp_path, sqlite_url, scenario, faults=EDITS_DOWN, extra_env=NO_GUARDS) as sb:
        import_listings(source="base")
        shops = [s.id for s in sb.shops]
        sb.clear_requests()
        first = sync()
        planned = {s: first["accounts"][s]["errors"] + first["accounts"][s]["deferred"] for s in shops}
        assert all(n > 10 for n in planned.values()), planned  # enough planned edits to matter
        used = base_calls(sb)
        for shop in shops:
            assert used[(shop, "itemsEdit")] == 5  # stopped after 5 × 503, not the whole plan
            assert first["accounts"][shop]["stopped_by"] == "base_outage"
            assert first["accounts"][shop]["deferred"] == planned[shop] - 5
        assert journal(sqlite_url)["sent"] == 10  # only the edits sent into the outage are in doubt
        assert "BASEが応答しません" in first["report"]

        # Run 2, BASE wholly down: the settle's page read fails five times in a row, so its entries
        # wait and their items are not sent again; the other items stop after five edits again.
        sb.set_faults(base_operations=())
        sb.clear_requests()
        second = sync()
        used = base_calls(sb)
        for shop in shops:
            assert used[(shop, "items")] == 5 and used[(shop, "itemsDetail")] == 0
            assert used[(shop, "itemsEdit")] == 5
            assert second["accounts"][shop]["deferred"] == planned[shop] - 5
        assert journal(sqlite_url)["sent"] == 20

        # Run 3, BASE is back: one page read per shop settles every entry, each planned edit goes once.
        sb.set_faults(base_5xx_rate=0.0)
        sb.clear_requests()
        third = sync()
        used = base_calls(sb)
        for shop in shops:
            assert used[(shop, "items")] == 1 and used[(shop, "itemsDetail")] == 0
            assert used[(shop, "itemsEdit")] == planned[shop]
        assert third["exit_code"] == 0
        assert journal(sqlite_url)["sent"] == 0
        assert sync()["changes"] == 0
        assert db_state(sqlite_url, listed_only=False) == base_state(sb)
        assert max(edits_per_change(sb).values()) == 1  # nothing sent twice


def test_settle_calls_count_against_the_hourly_budget(tmp_path, sqlite_url):
    with marketplace(
        tmp_path, sqlite_url, faults=EDITS_DOWN, extra_env={"ECAUTO_BASE_OUTAGE_ERRORS": "1"}
    ) as sb:
        import_listings(source="base")
        first = sync()
        shop = "base_account_2"  # plans four edits (demo scenario)
        assert first["accounts"][shop]["stopped_by"] == "base_outage"  # after a single 503
        assert (first["accounts"][shop]["errors"], first["accounts"][shop]["deferred"]) == (1, 3)

        sb.set_faults(base_5xx_rate=0.0)
        sb.clear_requests()
        with environment({"ECAUTO_BASE_CALLS_PER_HOUR": "3"}):
            second = sync(accounts=[shop])
        used = base_calls(sb)
        # one items/detail settles the one entry; that call is part of the budget of 3
        assert (used[(shop, "itemsDetail")], used[(shop, "itemsEdit")]) == (1, 2)
        assert second["accounts"][shop]["stopped_by"] == "budget"
        assert second["accounts"][shop]["deferred"] == 2
