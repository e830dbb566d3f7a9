"""The benchmark's verdicts against the issue's targets, and the printed table."""

from __future__ import annotations

from typing import Any

SEED_RATIO_TARGET = 13.5
UTILISATION_TARGET = 0.97
LOCAL_SHARE_TARGET = 0.03
PRICING_DIFF_SECONDS_TARGET = 1.0
RSS_MB_TARGET = 400.0
TASK_RUNS_PER_20_ASINS_MAX = 2.5  # one offers + one catalog batch per 20 ASINs, plus a constant


def _get(document: dict[str, Any], *path: str) -> Any:
    value: Any = document
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _largest_scaling_row(results: dict[str, Any]) -> dict[str, Any]:
    rows = results.get("scaling")
    return max(rows, key=lambda r: r["listings"]) if isinstance(rows, list) and rows else {}


def _target(name: str, target: str, measured: Any, met: bool | None, note: str = "") -> dict[str, Any]:
    return {"name": name, "target": target, "measured": measured, "met": met, "note": note}


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 6 with the measured value and whether it was met (None: not measured)."""
    utilisation = _get(results, "pipeline", "sp_api", "getItemOffersBatch", "utilisation")
    late_429 = _get(results, "pipeline", "throttled_after_first_minute")
    vs_seed = _get(results, "comparison", "run_vs_seed_production")
    vs_baseline = _get(results, "comparison", "run_vs_baseline")
    local_share = _get(results, "pipeline", "local_share_of_equiv_wall")
    largest = _largest_scaling_row(results)
    # Task runs grow by `slope` per 20 ASINs (offers + catalog batches, plus re-checks); a
    # per-ASIN task would make it 20. Without a fit (one size), the ratio of the pipeline run.
    slope = _get(results, "scaling_fit", "task_runs_per_20_asins", "slope")
    if slope is None:
        slope = _get(results, "pipeline", "task_runs_per_20_asins")
    size = f"{largest['listings']:,} listings" if largest else "largest size"
    return [
        _target(
            "SP-API utilisation, getItemOffersBatch",
            f">= {UTILISATION_TARGET:.0%} of the quota",
            utilisation,
            _at_least(utilisation, UTILISATION_TARGET),
            "the pacer keeps max(2 %, 20 ms) above the quota's spacing: 98 % is the ceiling at speed <= 10",
        ),
        _target("429s after the first minute", "0", late_429, None if late_429 is None else late_429 == 0),
        _target(
            "ASIN/s vs the seed's production run (0.14 ASIN/s)",
            f">= {SEED_RATIO_TARGET}x",
            vs_seed,
            _at_least(vs_seed, SEED_RATIO_TARGET),
        ),
        _target(
            "ASIN/s vs the baseline replay on the simulator",
            "ratio, reported",
            vs_baseline,
            None,  # the issue asks for the ratio; the 13.5x target is against the seed's 0.14 ASIN/s
            "20 ASINs per batch call at 0.1 req/s vs one ASIN per 2.1 s: 4.2x at most; "
            "see docs/performance.md",
        ),
        _target(
            "local overhead share of wall time",
            f"<= {LOCAL_SHARE_TARGET:.0%}",
            local_share,
            _at_most(local_share, LOCAL_SHARE_TARGET),
        ),
        _target(
            f"pricing + diff at {size}",
            f"<= {PRICING_DIFF_SECONDS_TARGET:g} s",
            largest.get("pricing_plus_diff_seconds"),
            _at_most(largest.get("pricing_plus_diff_seconds"), PRICING_DIFF_SECONDS_TARGET),
        ),
        _target(
            f"peak RSS at {size}",
            f"<= {RSS_MB_TARGET:g} MB",
            largest.get("peak_rss_mb"),
            _at_most(largest.get("peak_rss_mb"), RSS_MB_TARGET),
        ),
        _target(
            "Prefect task runs added per 20 ASINs",
            f"O(N/20): <= {TASK_RUNS_PER_20_ASINS_MAX}",
            slope,
            _at_most(slope, TASK_RUNS_PER_20_ASINS_MAX),
            "slope of a linear fit over the scaling sizes: offers and catalog batches of 20, "
            "re-check batches, plus a constant number of step tasks",
        ),
    ]


# --------------------------------------------------------------------------------------------
# formatting


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 100:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def _rows(title: str, rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  " + "  ".join(cells))
    return lines


def render(results: dict[str, Any]) -> str:
    """The human-readable summary printed at the end of a run (failed parts listed at the end)."""
    failed = {k: v["error"] for k, v in results.items() if isinstance(v, dict) and "error" in v}
    results = {k: v for k, v in results.items() if k not in failed}
    config = results.get("config", {})
    meta = results.get("meta", {})
    lines = [
        f"EC Auto benchmark: {config.get('asins'):,} ASINs, {config.get('shops')} shops, "
        f"speed {config.get('speed'):g}x (replay {config.get('baseline_speed') or config.get('speed'):g}x) (commit {meta.get('git_commit')}, {meta.get('cpus')} CPUs, "
        f"Prefect {meta.get('prefect')})",
        "",
    ]
    p, b, c = results.get("pipeline"), results.get("baseline"), results.get("comparison") or {}
    if p or b:
        p, b = p or {}, b or {}
        offers = _get(p, "sp_api", "getItemOffersBatch") or {}
        catalog = _get(p, "sp_api", "searchCatalogItems") or {}
        single = _get(b, "sp_api", "getItemOffers") or {}
        recheck = _get(p, "sp_api", "getItemOffers") or {}
        lines += _rows(
            "Same scenario, real-time-equivalent (virtual = real x speed)",
            [
                ("", "pipeline", "seed baseline", "ratio"),
                ("ASINs", num(p.get("asins")), num(b.get("asins")), ""),
                (
                    "SP-API quota use",
                    f"offers batch {pct(offers.get('utilisation'))}",
                    f"getItemOffers {pct(single.get('utilisation'))}",
                    "",
                ),
                ("catalog quota use", pct(catalog.get("utilisation")), "-", ""),
                (
                    "sell-out re-checks (getItemOffers)",
                    f"{num(recheck.get('accepted'))} calls",
                    "-",
                    "",
                ),
                (
                    "429s (after first minute)",
                    f"{num(p.get('throttled'))} ({num(p.get('throttled_after_first_minute'))})",
                    f"{num(single.get('throttled'))} ({num(single.get('throttled_after_first_minute'))})",
                    "",
                ),
                (
                    "fetch ASIN/s",
                    num(p.get("fetch_asins_per_second_equiv"), 3),
                    num(b.get("fetch_asins_per_second_equiv"), 3),
                    num(c.get("fetch_vs_baseline")) + "x",
                ),
                (
                    "end-to-end ASIN/s",
                    num(p.get("run_asins_per_second_equiv"), 3),
                    num(b.get("run_asins_per_second_equiv"), 3),
                    num(c.get("run_vs_baseline")) + "x",
                ),
                (
                    "vs seed production 0.14 ASIN/s",
                    num(c.get("run_vs_seed_production")) + "x",
                    num(c.get("baseline_vs_seed_production")) + "x",
                    "",
                ),
                (
                    "  batch lookups/s vs 0.14 (re-checks incl.)",
                    num(c.get("fetch_vs_seed_production")) + "x",
                    "",
                    "",
                ),
                (
                    "equivalent wall time (min)",
                    num(_minutes(p.get("equiv_wall_seconds"))),
                    num(_minutes(b.get("equiv_wall_seconds"))),
                    "",
                ),
            ],
        )
        lines.append("")
    if p:
        lines += _rows(
            "Pipeline run: local cost (real seconds, not scaled)",
            [
                ("measured wall of the flow", num(p.get("flow_wall_seconds"))),
                ("  of which SP-API traffic (paced)", num(p.get("sp_api_span_real_seconds"))),
                ("  of which BASE edits (loopback)", num(p.get("base_api_wall_seconds"))),
                ("  local wall (the rest)", num(p.get("local_wall_seconds"))),
                ("local share of equivalent wall", pct(p.get("local_share_of_equiv_wall"))),
                ("flow process CPU s", num(p.get("flow_process_cpu_seconds"))),
                ("Prefect server CPU s", num(p.get("prefect_server_cpu_seconds"))),
                ("peak RSS MB", num(p.get("peak_rss_mb"), 0)),
                (
                    "Prefect task runs (per 20 ASINs)",
                    f"{num(p.get('task_runs'))} ({num(p.get('task_runs_per_20_asins'))})",
                ),
            ],
        )
        lines.append("")
        base = p.get("base") or {}
        if base:
            lines += _rows(
                "BASE per shop (budget 5,000 calls per clock hour; the pushing pace is loopback latency x speed)",
                [("shop", "edits", "pace/h-equiv", "pace/5,000", "calls in busiest clock hour")]
                + [
                    (
                        shop,
                        num(v["edits"]),
                        num(v["edits_per_hour_equiv"], 0),
                        pct(v["edits_per_hour_vs_budget"]),
                        f"{num(v['peak_clock_hour_calls'])} ({pct(v['peak_clock_hour_vs_budget'])})",
                    )
                    for shop, v in base.items()
                ],
            )
            lines.append("")
    if results.get("scaling"):
        lines += _rows(
            "Local cost, APIs answering instantly (one fresh process per size)",
            [
                (
                    "listings",
                    "flow wall s",
                    "CPU s",
                    "server CPU s",
                    "diff+pricing s",
                    "DB writes s",
                    "RSS MB",
                    "task runs",
                )
            ]
            + [
                (
                    num(r["listings"]),
                    num(r["flow_wall_seconds"]),
                    num(r["flow_process_cpu_seconds"]),
                    num(r["prefect_server_cpu_seconds"]),
                    num(r["pricing_plus_diff_seconds"], 3),
                    num(r["db_write_seconds"]),
                    num(r["peak_rss_mb"], 0),
                    num(r["task_runs"]),
                )
                for r in results["scaling"]
            ],
        )
        fit = _get(results, "scaling_fit", "flow_wall_seconds")
        if fit:
            lines.append(
                f"  linear fit of flow wall: {fit['intercept']:.2f} s + {fit['slope'] * 1e6:.0f} us/listing "
                f"(R^2 {fit['r2']:.4f})"
            )
        lines.append("")
    if results.get("staleness"):
        lines += _rows(
            "Stock-data age, hourly runs, 1 h stock TTL (hours)",
            [("ASINs", "order", "fetched/run", "p50", "p95", "max")]
            + [
                (
                    num(s["asins"]),
                    s["order"],
                    num(s["fetched_per_run"]),
                    num(s["age_hours_p50"]),
                    num(s["age_hours_p95"]),
                    num(s["age_hours_max"]),
                )
                for s in results["staleness"]
            ],
        )
        lines.append("")
    if results.get("pacer"):
        pacers = results["pacer"]
        first = next(iter(pacers.values()))
        lines += _rows(
            f"Pacers alone at {first['rate']:g} permits/s ({first['calls']} permits, one thread)",
            [("pacer", "share of rate", "closest gap x rate", "gaps < 1/rate")]
            + [
                (
                    name,
                    pct(p.get("share_of_rate")),
                    num(p.get("min_gap_ratio"), 3),
                    num(p.get("gaps_under_spacing")),
                )
                for name, p in pacers.items()
                if isinstance(p, dict) and "rate" in p
            ],
        )
        lines.append("")
    lines += _rows(
        "Targets",
        [("target", "wanted", "measured", "")]
        + [
            (
                t["name"],
                t["target"],
                _measured(t["measured"]),
                "not measured"
                if t["measured"] is None
                else {True: "met", False: "MISSED", None: "reported"}[t["met"]],
            )
            for t in results.get("targets", [])
        ],
    )
    for part, error in failed.items():
        lines.append(f"PART FAILED: {part}: {error}")
    return "\n".join(lines)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60.0


def _measured(value: Any) -> str:
    if isinstance(value, float) and value <= 1.0 and value > 0:
        return f"{value:.4g}"
    return num(value) if isinstance(value, int | float) else "-"
