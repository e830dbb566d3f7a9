"""The benchmark code on a tiny scale: it runs, writes its JSON fields, and its figures add up.

No timing is asserted here (timings belong to ``python benchmarks/run.py``). The Prefect-backed
parts (pipeline, scaling, pacer) need a Prefect server and are exercised by
``python benchmarks/run.py --quick``; their arithmetic is checked below on made-up inputs.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from benchmarks import metrics, run
from benchmarks.baseline import SEED_ASIN_PER_SECOND
from benchmarks.instant import InstantSpApi, Shares, build_templates, synthetic_listings, template_for
from benchmarks.probes import PhaseClock, Probe, installed
from benchmarks.report import evaluate_targets, render
from benchmarks.staleness import StalenessSetup, simulate
from ecauto_lib.amazon.offers import observation_from_item
from ecauto_lib.domain import Outcome

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(t: float, operation: str, *, status: int = 200, speed: float = 1.0, **fields):
    """A request-log entry as the simulator writes it (``vt`` follows ``t`` at ``speed``)."""
    defaults = {"service": "sp-api", "error_code": None, "shop_id": None, "asins": (), "duration": 0.001}
    return SimpleNamespace(
        t=t,
        vt=T0 + timedelta(seconds=t * speed),
        operation=operation,
        status=status,
        **{**defaults, **fields},
    )


def test_quick_run_writes_every_field_of_the_parts_it_ran(tmp_path):
    out = tmp_path / "bench.json"
    before = dict(os.environ)
    code = run.main(
        [
            "--quick",
            "--skip",
            "pipeline,scaling,pacer",
            "--asins",
            "12",
            "--baseline-speed",
            "1000",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert dict(os.environ) == before  # the driver's Prefect settings did not leak
    results = json.loads(out.read_text(encoding="utf-8"))

    assert results["config"]["asins"] == 12 and results["config"]["skip"] == ["pacer", "pipeline", "scaling"]
    assert results["scenario"]["asins"] == 12
    baseline = results["baseline"]
    assert baseline["asins"] == 12
    assert baseline["calls"] == baseline["sp_api"]["getItemOffers"]["calls"] >= 12  # one call per ASIN
    assert sum(baseline["outcomes"].values()) == 12
    assert baseline["edits"] == sum(shop["edits"] for shop in baseline["base"].values())
    for field in ("fetch_asins_per_second_equiv", "run_asins_per_second_equiv", "equiv_wall_seconds"):
        assert baseline[field] > 0
    assert baseline["seed_production_asins_per_second"] == pytest.approx(11 / 78.6)

    assert [s["order"] for s in results["staleness"]] == ["urgent", "listing", "fill", "urgent", "listing"]
    assert {s["asins"] for s in results["staleness"]} == {1_000, 1_500}
    for case in results["staleness"]:
        assert case["age_hours_p50"] <= case["age_hours_p95"] <= case["age_hours_max"]

    names = [t["name"] for t in results["targets"]]
    assert "SP-API utilisation, getItemOffersBatch" in names and "429s after the first minute" in names
    assert all(t["met"] is None for t in results["targets"] if "SP-API" in t["name"])  # pipeline skipped
    assert results["comparison"]["baseline_vs_seed_production"] == pytest.approx(
        baseline["run_asins_per_second_equiv"] / SEED_ASIN_PER_SECOND
    )
    assert "Targets" in render(results)


def test_quota_use_counts_utilisation_and_late_429s_in_virtual_time():
    speed = 100.0
    # getItemOffersBatch: 0.1 req/s, burst 1 → a perfect client is 10 virtual s = 0.1 real s apart.
    calls = [
        record(i * 0.1, "getItemOffersBatch", speed=speed, asins=("B000000001",) * 20) for i in range(11)
    ]
    calls += [
        record(0.30, "getItemOffersBatch", status=429, speed=speed),  # 30 virtual s: forgiven
        record(0.95, "getItemOffersBatch", status=429, speed=speed),  # 95 virtual s: counted
    ]
    use = metrics.quota_use(calls, "getItemOffersBatch", speed)
    assert use["accepted"] == 11 and use["throttled"] == 2
    assert use["throttled_after_first_minute"] == 1
    assert use["utilisation"] == pytest.approx(1.0)
    assert use["asins"] == 220
    slower = [record(i * 0.125, "getItemOffersBatch", speed=speed) for i in range(11)]
    assert metrics.quota_use(slower, "getItemOffersBatch", speed)["utilisation"] == pytest.approx(0.8)


def test_projected_utilisation_keeps_local_delays_in_real_seconds():
    use = {"span_virtual_seconds": 1100.0, "accepted": 101, "quota_burst": 1, "quota_rate": 0.1}
    # At speed 100 the pacer spaces 0.1 s; the measured mean gap is 0.11 s: 10 ms local delay each.
    projected = metrics.projected_utilisation(use, 100.0, spacing_at_speed=0.1, spacing_at_1x=10.0)
    assert projected == pytest.approx(10.0 / 10.01)


def test_base_budget_use_per_shop_in_hour_equivalents():
    speed = 100.0
    edits = [
        record(i * 0.036, "itemsEdit", service="base", shop_id="shop_a", speed=speed) for i in range(11)
    ]  # 3.6 virtual s apart: 1,000 edits per virtual hour
    refused = record(
        0.5, "itemsEdit", service="base", shop_id="shop_a", status=400, error_code="hour_api_limit"
    )
    use = metrics.base_budget_use([*edits, refused], speed, hour_limit=5_000)["shop_a"]
    assert use["edits"] == 11 and use["refused_by_budget"] == 1
    assert use["edits_per_hour_equiv"] == pytest.approx(1_000.0)
    assert use["edits_per_hour_vs_budget"] == pytest.approx(0.2)
    assert use["peak_clock_hour_calls"] == 11


def test_instant_api_answers_parse_to_the_templates_expectations():
    templates = build_templates(32, seed=3)
    rows = synthetic_listings(220, templates, seed=5, shares=Shares(overlap=0.1))
    asins = list(dict.fromkeys(r.asin for r in rows))
    assert len(asins) == 200 and len(rows) > 200  # some ASINs are listed by both shops
    assert len({(r.account_id, r.base_item_id) for r in rows}) == len(rows)
    items = InstantSpApi(templates).item_offers_batch(asins[:20])
    for asin in asins[:20]:
        observation = observation_from_item(asin, items[asin], max_delivery_hours=72, observed_at=T0)
        expected = template_for(asin, templates).expected
        assert observation.outcome is expected.outcome
        assert observation.price_yen == expected.price_yen
    hidden_at_start = [r for r in rows if r.base_visible is False]
    assert hidden_at_start  # the sync has publishes to do
    assert any(template_for(r.asin, templates).expected.outcome is not Outcome.IN_STOCK for r in rows)


def test_probes_time_the_wrapped_functions_and_restore_them():
    import benchmarks.metrics as target

    original = target.percentile
    clock = PhaseClock()
    probes = [
        Probe("benchmarks.metrics", "percentile", "lib:percentile"),
        Probe("benchmarks.metrics", "nope", "x"),
    ]
    with installed(clock, probes) as missing:
        assert target.percentile([1.0, 3.0], 50) == 2.0
        assert target.percentile([5.0], 50) == 5.0
    assert target.percentile is original
    assert missing == ["benchmarks.metrics.nope"]
    assert clock.as_dict()["lib:percentile"]["calls"] == 2


def test_staleness_urgent_order_keeps_an_oversubscribed_catalogue_fresher():
    # 300 ASINs due every hour, 100 fetched per hour: a third of the need.
    common = {"asins": 300, "asins_per_hour": 100.0, "hours": 16, "warmup_hours": 6}
    urgent = simulate(StalenessSetup(order="urgent", **common))
    listing = simulate(StalenessSetup(order="listing", **common))
    assert urgent["fetched_per_run"] == listing["fetched_per_run"] == 100  # the same budget
    # Oldest first refreshes every ASIN every 300 / 100 = 3 hours; listing order starves the tail
    # (it still holds the day-old data the simulation starts with).
    assert urgent["age_hours_max"] <= 3.0 + 1e-9
    assert listing["age_hours_max"] > 24.0
    assert urgent["age_hours_p95"] < listing["age_hours_p95"]


def test_targets_report_met_and_missed_from_the_figures():
    results = {
        "pipeline": {
            "sp_api": {"getItemOffersBatch": {"utilisation": 0.975}},
            "throttled_after_first_minute": 2,
            "local_share_of_equiv_wall": 0.01,
            "task_runs_per_20_asins": 2.1,
        },
        "comparison": {"run_vs_seed_production": 14.0, "run_vs_baseline": 4.0},
        "scaling": [
            {
                "listings": 100_000,
                "pricing_plus_diff_seconds": 0.4,
                "peak_rss_mb": 500.0,
                "task_runs_per_20_asins": 2.0,
            }
        ],
    }
    verdicts = {t["name"]: t["met"] for t in evaluate_targets(results)}
    assert verdicts["SP-API utilisation, getItemOffersBatch"] is True
    assert verdicts["429s after the first minute"] is False
    assert verdicts["ASIN/s vs the seed's production run (0.14 ASIN/s)"] is True
    assert verdicts["ASIN/s vs the baseline replay on the simulator"] is None  # a ratio to report
    assert verdicts["pricing + diff at 100,000 listings"] is True
    assert verdicts["peak RSS at 100,000 listings"] is False


def test_pipeline_summary_splits_the_flow_wall_into_api_bound_and_local_time():
    speed = 100.0
    # SP-API traffic from t=100 to t=110 real seconds (the last answer takes 10 ms).
    records = [
        record(100.0 + i * 0.1, "getItemOffersBatch", speed=speed, asins=("B0",) * 20) for i in range(100)
    ]
    records.append(record(109.99, "searchCatalogItems", speed=speed, duration=0.01))
    worker_output = {
        "wall": 20.0,
        "process_cpu": 6.0,
        "peak_rss_mb": 250.0,
        "exit_code": 0,
        "changes": 40,
        "fetch": {"asins": 2_000, "throttled": 0},
        "phases": {
            "api:base.edit_item[shop_a]": {"calls": 10, "wall": 2.0},
            "api:base.edit_item[shop_b]": {"calls": 12, "wall": 3.0},
            "prefect:task_runs": {"calls": 212, "wall": 1.0},
        },
        "missing_probes": [],
    }
    summary = run.summarise_pipeline(
        run.BenchConfig(speed=speed),
        worker_output,
        records,
        {"inserted": 2_200, "seconds": 1.0},
        {"task_runs": 212, "settle_seconds": 0.5},
        server_cpu=4.0,
    )
    assert summary["sp_api_span_real_seconds"] == pytest.approx(10.0)
    assert summary["base_api_wall_seconds"] == 3.0  # shops push in parallel: the longer one
    assert summary["local_wall_seconds"] == pytest.approx(20.0 - 10.0 - 3.0)
    assert summary["equiv_wall_seconds"] == pytest.approx(7.0 + 1_000.0 + 3.0)
    assert summary["local_share_of_equiv_wall"] == pytest.approx(7.0 / 1_010.0)
    assert summary["run_asins_per_second_equiv"] == pytest.approx(2_000 / 1_010.0)
    assert summary["task_runs"] == 212 and summary["task_runs_per_20_asins"] == pytest.approx(2.12)
    assert summary["sp_api"]["getItemOffersBatch"]["utilisation"] == pytest.approx(1.0)


def test_send_to_arrival_tells_where_a_short_gap_opened():
    sends = [0.000, 0.100, 0.200, 0.290]
    arrivals = [record(t, "getItemOffersBatch") for t in (0.001, 0.105, 0.201, 0.292)]
    split = metrics.send_to_arrival(sends, arrivals, "getItemOffersBatch", rate=10.0)
    assert split["matched"] and split["calls"] == 4
    assert split["short_gaps_shrunk_in_transit"] == 1  # sent 0.100 apart, arrived 0.096 apart
    assert split["short_gaps_at_client"] == 1  # sent 0.090 apart already
    assert split["transit_seconds"]["max"] == pytest.approx(0.005)
    assert metrics.send_to_arrival(sends[:3], arrivals, "getItemOffersBatch", rate=10.0)["matched"] is False
