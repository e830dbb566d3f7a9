"""The day benchmark's PNG: detection latency and quota use over the day, one row per day run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

KIND_STYLE = {
    "s": ("sell-out → hidden", "tab:red"),
    "r": ("restock → public", "tab:green"),
    "p": ("price → repriced", "tab:blue"),
}
OPERATION_STYLE = {
    "getItemOffersBatch": "tab:purple",
    "getItemOffers": "tab:orange",
    "searchCatalogItems": "tab:gray",
}


def plot(results: dict[str, Any], path: Path) -> None:
    """Left: each caught episode's minutes until BASE was right, by the hour it started, with the
    hourly p95 per kind; right: each SP-API operation's share of its quota, hour by hour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = results["days"]
    figure, axes = plt.subplots(len(days), 2, figsize=(13, 3.6 * len(days)), squeeze=False)
    config = results["config"]
    for row, day in zip(axes, days, strict=True):
        left, right = row
        for key, (label, colour) in KIND_STYLE.items():
            caught = [(e[1], e[2]) for e in day["episodes"] if e[0] == key and e[3] == "c"]
            if caught:
                left.scatter([h for h, _ in caught], [m for _, m in caught], s=3, alpha=0.25, color=colour)
            kind = {"s": "sell_out", "r": "restock", "p": "price"}[key]
            hourly = [
                (h["hour"] + 0.5, h[kind]["p95"]) for h in day["hourly_latency"] if h[kind]["p95"] is not None
            ]
            if hourly:
                left.plot(
                    [h for h, _ in hourly], [v for _, v in hourly], color=colour, label=f"{label} (p95)"
                )
        left.set_title(f"{day['market']} market, {day['design']['name']}: minutes until BASE is right")
        left.set_xlabel(f"hour of the day (from {config['window_start_jst']} JST)")
        left.set_ylabel("minutes")
        if left.get_legend_handles_labels()[0]:
            left.legend(fontsize=7, loc="upper right")
        for operation, use in day["sp_api"].items():
            if not use["calls"]:
                continue
            series = [*use["hourly_use"], use["hourly_use"][-1]]  # the last hour drawn to its end
            right.step(
                range(len(series)),
                [100 * v for v in series],
                where="post",
                color=OPERATION_STYLE.get(operation, "black"),
                label=f"{operation} (day {100 * (use['day_use'] or 0):.0f} %)",
            )
        right.set_ylim(0, 105)
        right.set_title("SP-API quota used, per hour")
        right.set_xlabel("hour of the day")
        right.set_ylabel("% of the operation's quota")
        if right.get_legend_handles_labels()[0]:
            right.legend(fontsize=7, loc="upper right")
    figure.suptitle(
        f"A day in a shop: {config['asins']:,} ASINs, {config['shops']} shops, speed {config['speed']:g} "
        f"(commit {results['meta'].get('git_commit')})",
        fontsize=10,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


def main(argv: list[str]) -> int:
    """``python -m benchmarks.day_plot DAY.json OUT.png``: the plot again from a results file."""
    import json

    if len(argv) != 2:
        print(main.__doc__)
        return 2
    plot(json.loads(Path(argv[0]).read_text(encoding="utf-8")), Path(argv[1]))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
