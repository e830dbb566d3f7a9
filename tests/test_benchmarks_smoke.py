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
from benchmarks.parts import pipeline
from benchmarks.prefect_server import PREFECT_DB_TEMPLATE
from benchmarks.probes import PhaseClock, Probe, installed
from benchmarks.report import evaluate_targets, render
from benchmarks.staleness import StalenessSetup, simulate
from ecauto_lib.amazon.offers import observation_from_item
from ecauto_lib.domain import Outcome
from tests.prefect_home import migrated_prefect_db

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


def test_quick_run_writes_every_field_of_the_parts_it_ran(tmp_path, monkeypatch):
    monkeypatch.setenv(PREFECT_DB_TEMPLATE, str(migrated_prefect_db()))
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
    summary = pipeline.summarise_pipeline(
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


# --------------------------------------------------------------------------------------------
# the day benchmark (benchmarks/day.py)


def _truth(start_in_stock: bool, start_yen: int, events: list[tuple[float, str, int | None]]):
    from ecauto_sandbox.market import InitialState, MarketEvent, MarketTruth

    return MarketTruth(
        initial={"B0TESTASIN": InitialState("B0TESTASIN", "volatile", start_in_stock, start_yen)},
        events=[MarketEvent(at, "B0TESTASIN", kind, amazon_yen=yen) for at, kind, yen in events],
    )


def test_day_score_times_each_episode_from_the_market_event_to_the_base_edit_that_fixed_it():
    from benchmarks.day_score import BaseChange, Listing, score_day

    # Amazon ¥1,000 (target ¥1,300). 1 h: sold out; BASE hides it 10 min later. 2 h: restocked;
    # published 30 min later. 3 h: ¥1,200 (target ¥1,560); repriced 20 min later. 4 h: sold out,
    # back at 4 h 05 before BASE hid it (reverted). The window is 30 min to 5 h.
    truth = _truth(
        True,
        1_000,
        [(3600, "sell_out", None), (7200, "restock", 1_000), (10800, "price", 1_200)]
        + [(14400, "sell_out", None), (14700, "restock", 1_200)],
    )
    listing = Listing("shop_a", 11, "B0TESTASIN")
    changes = [
        BaseChange(3600 + 600, "shop_a", 11, 1_300, 0),
        BaseChange(7200 + 1800, "shop_a", 11, 1_300, 1),
        BaseChange(10800 + 1200, "shop_a", 11, 1_560, 1),
    ]
    score = score_day(truth, [listing], {("shop_a", 11): (1_300, 1)}, changes, (1800, 18000))
    summary = score.summary()
    events = summary["events"]
    assert events["sell_out"]["caught"] == 1 and events["sell_out"]["reverted"] == 1
    assert events["sell_out"]["minutes_p50"] == pytest.approx(10.0)
    assert events["restock"]["caught"] == 1 and events["restock"]["minutes_max"] == pytest.approx(30.0)
    assert events["price"]["caught"] == 1 and events["price"]["minutes_p95"] == pytest.approx(20.0)
    exposure = summary["exposure_listing_minutes"]
    assert exposure["public_out_of_stock"] == pytest.approx(10.0 + 5.0)
    # ¥1,300 against ¥1,200 × 1.05 = ¥1,260: not below the floor, but ¥260 off the target
    assert exposure.get("public_below_floor", 0.0) == 0.0
    assert exposure["public_mispriced"] == pytest.approx(20.0)


def test_day_score_counts_below_floor_minutes_and_open_episodes_at_the_windows_end():
    from benchmarks.day_score import Listing, score_day

    # ¥1,000 → ¥1,300 at 1 h: BASE's ¥1,300 is below ¥1,300 × 1.05 and never fixed.
    truth = _truth(True, 1_000, [(3600, "price", 1_300)])
    score = score_day(truth, [Listing("s", 1, "B0TESTASIN")], {("s", 1): (1_300, 1)}, [], (0, 7200))
    summary = score.summary()
    assert summary["events"]["price"]["open"] == 1 and summary["events"]["price"]["caught"] == 0
    assert summary["exposure_listing_minutes"]["public_below_floor"] == pytest.approx(60.0)
    assert summary["exposure_listing_minutes"]["public_mispriced"] == pytest.approx(60.0)
    # a hidden item is not exposed, and an event before the window is not scored
    hidden = score_day(truth, [Listing("s", 1, "B0TESTASIN")], {("s", 1): (1_300, 0)}, [], (0, 7200))
    assert hidden.summary()["exposure_listing_minutes"] == {}
    late = score_day(truth, [Listing("s", 1, "B0TESTASIN")], {("s", 1): (1_300, 1)}, [], (5400, 7200))
    assert late.summary()["events"]["price"]["episodes"] == 0


def test_seed_model_pushes_what_its_loop_saw_at_the_end_of_each_cycle():
    from benchmarks.day_score import Listing, score_day, seed_model_changes

    truth = _truth(True, 1_000, [(100.0, "sell_out", None)])
    listings = [Listing("s", 1, "B0TESTASIN")]
    changes, model = seed_model_changes(truth, listings, {("s", 1): (1_300, 1)}, 1000.0, spacing=300.0)
    # cycles of one ASIN, 300 s each: it reads "in stock" at 0, "sold out" at 300, hides at 600
    assert [(c.at, c.visible) for c in changes] == [(600.0, 0)]
    assert model["cycles"] == 4
    score = score_day(truth, listings, {("s", 1): (1_300, 1)}, changes, (0.0, 1000.0))
    assert score.summary()["events"]["sell_out"]["minutes_max"] == pytest.approx(500.0 / 60.0)


def test_day_schedule_reads_the_cadence_from_prefect_yaml():
    from benchmarks.day_run import DEFAULT_PREFECT_YAML, DESIGNS, TODAY_PREFECT_YAML, DayConfig, day_schedule

    config = DayConfig(warmup_hours=0.0)
    runs = day_schedule(TODAY_PREFECT_YAML, config.start_utc(), 24 * 3600.0)  # the baseline's cadence
    by = {}
    for r in runs:
        by.setdefault(r.deployment, []).append(r.at / 3600.0)
    assert len(by["stock-hourly"]) == 24 and by["stock-hourly"][0] == pytest.approx(5 / 60)
    assert by["price-every-4h"] == pytest.approx([1 + 35 / 60 + 4 * k for k in range(6)])
    assert by["reconcile-daily"] == pytest.approx([2 + 50 / 60]) and by["full-nightly"] == pytest.approx(
        [3 + 20 / 60]
    )
    stock = next(r for r in runs if r.deployment == "stock-hourly")
    assert stock.parameters == {"mode": "stock", "dry_run": False} and stock.limit == 1 and stock.cancel_new
    assert stock.entrypoint == "flows/sync.py:sync"

    now = day_schedule(DEFAULT_PREFECT_YAML, config.start_utc(), 24 * 3600.0)  # the product's: #17
    syncs = [r for r in now if r.deployment == "sync-hourly"]
    assert [r.at for r in syncs] == pytest.approx([300 + 3600 * k for k in range(24)])  # hourly at :05
    budgets = [r.parameters["budget_minutes"] for r in syncs]
    assert budgets == [58, 58, 40] + [58] * 21  # a schedule's own parameters win: 02:05 ends early
    assert {r.parameters["push_every_minutes"] for r in syncs} == {5}
    assert [r.at / 3600 for r in now if r.deployment == "reconcile-daily"] == pytest.approx([2 + 50 / 60])
    grid = day_schedule(DESIGNS["grid"].prefect_yaml, config.start_utc(), 24 * 3600.0)  # the first #17 fix
    assert [r.at for r in grid] == pytest.approx([300 + 900 * k for k in range(96)])  # one 15-min grid


def test_day_designs_scale_every_duration_setting_by_the_time_scale():
    from benchmarks.day_run import TIME_SCALED_SETTINGS, Design, scaled_settings

    assert TIME_SCALED_SETTINGS["ECAUTO_STOCK_TTL_HOURS"] == 1.0
    assert TIME_SCALED_SETTINGS["ECAUTO_TTL_SLACK_MINUTES"] == 10.0
    assert TIME_SCALED_SETTINGS["ECAUTO_UNKNOWN_HIDE_HOURS"] == 24.0
    assert (
        float(scaled_settings({"ECAUTO_UNKNOWN_HIDE_HOURS": "0"}, 30.0)["ECAUTO_UNKNOWN_HIDE_HOURS"]) == 0
    )  # never
    env = scaled_settings({"ECAUTO_STOCK_TTL_HOURS": "0.5", "ECAUTO_MARKUP": "1.4"}, 50.0)
    assert float(env["ECAUTO_STOCK_TTL_HOURS"]) == pytest.approx(0.01)
    assert float(env["ECAUTO_PRICE_TTL_HOURS"]) == pytest.approx(24 / 50)
    assert env["ECAUTO_MARKUP"] == "1.4"  # not a duration
    design = Design.parse("faster:ECAUTO_STOCK_TTL_HOURS=0.5,PREFECT_YAML=/tmp/other.yaml")
    assert (
        dict(design.env) == {"ECAUTO_STOCK_TTL_HOURS": "0.5"}
        and str(design.prefect_yaml) == "/tmp/other.yaml"
    )
    assert Design.parse("fresh").env == () and dict(Design.parse("today").env) == {
        "ECAUTO_VALUE_ORDER": "false"
    }
    assert TIME_SCALED_SETTINGS["ECAUTO_RUN_BUDGET_MINUTES"] == 0.0
    assert TIME_SCALED_SETTINGS["ECAUTO_PUSH_EVERY_MINUTES"] == 0.0
    from benchmarks.day_run import scaled_parameters

    assert scaled_parameters({"mode": "full", "budget_minutes": 12, "push_every_minutes": 6}, 30.0) == {
        "mode": "full",
        "budget_minutes": 0.4,
        "push_every_minutes": 0.2,
    }
    with pytest.raises(ValueError, match="unknown design"):
        Design.parse("nope")


@pytest.mark.flow
def test_day_benchmark_runs_a_small_day_through_the_real_flows_and_scores_it(tmp_path, monkeypatch):
    from benchmarks import day

    monkeypatch.setenv(PREFECT_DB_TEMPLATE, str(migrated_prefect_db()))
    out = tmp_path / "day.json"
    before = dict(os.environ)
    code = day.main(
        [
            "--asins",
            "40",
            "--hours",
            "1",
            "--warmup-hours",
            "0.5",
            "--speed",
            "200",
            "--window-start",
            "02:30",
        ]
        + ["--market", "heterogeneous", "--setup-seconds", "12", "--out", str(out)]
    )
    assert code == 0
    assert dict(os.environ) == before
    results = json.loads(out.read_text(encoding="utf-8"))
    (today,) = results["days"]
    assert today["market"] == "heterogeneous" and today["design"]["name"] == "today"
    # the schedule of prefect.yaml between 02:00 and 03:30 JST, every run through the real flow
    scheduled = {d: sum(n.values()) for d, n in today["runs"]["by_deployment"].items()}
    assert scheduled == {"stock-hourly": 2, "reconcile-daily": 1, "full-nightly": 1}
    rows = today["run_rows"]
    assert all(r["status"] in ("completed", "cancelled", "refused") for r in rows)
    assert all(r["exit_code"] in (0, 1) for r in rows if r["status"] == "completed")
    assert rows[0]["deployment"] == "stock-hourly" and rows[0]["status"] == "completed"
    # CANCEL_NEW: only while an earlier run of the deployment is busy. Busy means its process is
    # alive, which outlasts the flow's end_at by the process's teardown (real seconds, ×200 on the
    # virtual clock under a loaded machine), so only that an earlier run went can be asserted.
    for row in rows:
        if row["status"] == "cancelled":
            went = [
                r
                for r in rows
                if r["deployment"] == row["deployment"]
                and r["scheduled_at"] < row["scheduled_at"]
                and r["status"] != "cancelled"
            ]
            assert went and went[-1]["scheduled_at"] < row["scheduled_at"]
    assert sum(today["events_applied"].values()) == sum(today["events_planned"].values())
    events = today["events"]
    for kind in ("sell_out", "restock", "price"):
        counted = sum(events[kind][o] for o in ("caught", "reverted", "moot", "open"))
        assert counted == events[kind]["episodes"]
    assert today["sp_api"]["getItemOffersBatch"]["accepted"] >= 2  # 40 ASINs: two batches a stock run
    assert set(today["base_calls_per_shop_hour"]) <= {"base_account_1", "base_account_2"}
    assert today["cost"]["peak_rss_mb"] > 50 and today["cost"]["flow_processes_cpu_seconds"] > 0
    assert set(today["seed_modelled"]) == {"fetch_loop", "as_measured"}
    assert today["stock_age"]["asins"] == 40 and today["stock_age"]["oldest_hours_max"] > 0
    assert "ECAUTO_SECRET_KEY" not in today["settings"]
    assert "ECAUTO_SECRET_KEY" not in out.read_text(encoding="utf-8")  # no secret in the results
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_stock_age_follows_each_asins_last_answered_fetch():
    from benchmarks.day_score import stock_age

    # A fetched at 0 h and 1 h, B at 0.5 h only; the window is 1 h to 3 h, sampled hourly.
    fetches = [(0.0, ("A",)), (1800.0, ("B",)), (3600.0, ("A",))]
    age = stock_age(fetches, ["A", "B"], (3600.0, 3 * 3600.0), sample_seconds=3600.0)
    # samples at 1 h and 2 h: A is 0 h and 1 h old, B 0.5 h and 1.5 h old
    assert age["age_hours_p50"] == pytest.approx(0.75)
    assert age["oldest_hours_max"] == pytest.approx(2.5)  # B: from 0.5 h to the window's end
    assert age["oldest_hours_p50"] == pytest.approx((2.0 + 2.5) / 2)
