"""The day benchmark's printed tables (from the JSON document :mod:`benchmarks.day` writes)."""

from __future__ import annotations

from typing import Any

from benchmarks.report import _rows, num, pct

KINDS = (
    ("sell_out", "sell-out → hidden"),
    ("restock", "restock → public"),
    ("price", "price ≥ ¥100 → repriced"),
)
EXPOSURE = (
    ("public_out_of_stock", "public while out of stock"),
    ("public_below_floor", "public below Amazon × (1 + margin)"),
    ("public_mispriced", "public, ≥ ¥100 off target"),
)


def _latency(kind: dict[str, Any]) -> str:
    return (
        f"{num(kind.get('minutes_p50'), 1)} / {num(kind.get('minutes_p95'), 1)} / {num(kind.get('minutes_max'), 1)}"
        f" ({kind.get('caught', 0)} caught, {kind.get('reverted', 0)} reverted, {kind.get('open', 0)} open)"
    )


def render(results: dict[str, Any]) -> str:
    config = results.get("config", {})
    meta = results.get("meta", {})
    lines = [
        f"A day in a shop: {config.get('asins'):,} ASINs, {config.get('shops')} shops, "
        f"{config.get('hours'):g} h from {config.get('window_start_jst')} JST (+{config.get('warmup_hours'):g} h warm-up), "
        f"speed {config.get('speed'):g} (commit {meta.get('git_commit')}, {meta.get('seconds', 0):.0f} s real)",
        "",
    ]
    for day in results.get("days", []):
        name = f"{day['market']} market, design {day['design']['name']}"
        rows: list[tuple[str, ...]] = [("minutes p50 / p95 / max", "product", "seed (modelled, fetch loop)")]
        seed = day["seed_modelled"]["fetch_loop"]
        for kind, label in KINDS:
            rows.append((label, _latency(day["events"][kind]), _latency(seed["events"][kind])))
        for key, label in EXPOSURE:
            rows.append(
                (
                    f"{label} (listing-min)",
                    num(day["exposure_listing_minutes"].get(key, 0.0), 0),
                    num(seed["exposure_listing_minutes"].get(key, 0.0), 0),
                )
            )
        lines += _rows(name, rows)
        quota = [("SP-API operation", "calls", "429s", "ASINs", "day's quota used", "pacer ceiling S / 1")]
        for op, use in day["sp_api"].items():
            quota.append(
                (
                    op,
                    num(use["calls"]),
                    num(use["throttled"]),
                    num(use["asins"]),
                    pct(use["day_use"]),
                    f"{pct(use.get('pacer_ceiling'))} / {pct(use.get('pacer_ceiling_at_speed_1'))}",
                )
            )
        lines += _rows("", quota)
        base = [("BASE shop", "calls", "edits", "per shop-hour max / mean", "refused by budget")]
        for shop, use in day["base_calls_per_shop_hour"].items():
            base.append(
                (
                    shop,
                    num(use["calls"]),
                    num(use["edits"]),
                    f"{num(use['per_hour_max'])} / {num(use['per_hour_mean'], 0)}",
                    num(use["refused_by_budget"]),
                )
            )
        lines += _rows("", base)
        cost = day["cost"]
        runs = day["runs"]
        age = day.get("stock_age") or {}
        lines += _rows(
            "",
            [
                ("runs by deployment", _statuses(runs["by_deployment"])),
                (
                    "run start delay (virtual s) p50 / max",
                    f"{num(runs['start_delay_virtual_seconds']['p50'], 0)} / {num(runs['start_delay_virtual_seconds']['max'], 0)}",
                ),
                (
                    "local CPU: flow processes + Prefect server",
                    f"{num(cost['flow_processes_cpu_seconds'], 0)} + {num(cost['prefect_server_cpu_seconds'], 0)} s "
                    f"= {pct(cost['local_cpu_share_measured'])} of the real wall, "
                    f"{pct(cost['local_cpu_share_at_speed_1'])} of the day at speed 1",
                ),
                ("peak RSS of a flow process", f"{num(cost['peak_rss_mb'], 0)} MB"),
                (
                    "stock-data age h: p50 / p95; oldest per ASIN p95 / max",
                    f"{num(age.get('age_hours_p50'))} / {num(age.get('age_hours_p95'))}; "
                    f"{num(age.get('oldest_hours_p95'))} / {num(age.get('oldest_hours_max'))}",
                ),
                ("real wall of the day", f"{num(cost['real_wall_seconds'], 0)} s"),
            ],
        )
        lines.append("")
    return "\n".join(lines)


def _statuses(by: dict[str, dict[str, int]]) -> str:
    return "; ".join(
        f"{deployment}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        for deployment, counts in sorted(by.items())
    )
