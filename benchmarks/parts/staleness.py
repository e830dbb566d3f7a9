"""The ``staleness`` part: stock-data age under an hourly schedule (:mod:`benchmarks.staleness`).

Its fetch budget is the pipeline's measured ASIN rate when the pipeline ran (a default otherwise).
"""

from __future__ import annotations

from typing import Any

from benchmarks.parts.common import Bench, BenchConfig, say


def run(config: BenchConfig, bench: Bench) -> list[dict[str, Any]]:
    rate = (bench.results.get("pipeline") or {}).get("fetch_asins_per_second_equiv")
    return simulate(config, rate)


def simulate(config: BenchConfig, asins_per_second: float | None) -> list[dict[str, Any]]:
    from benchmarks import staleness

    per_hour = (asins_per_second or 0.1 * 0.98 * 20) * 3600
    say(f"staleness: hourly schedule, {per_hour:.0f} ASINs fetched per hour at most")
    # A smaller catalogue keeps its proportions: the budget scales with it.
    scale = config.staleness_asins[0] / 10_000
    size, oversubscribed = config.staleness_asins
    cases = [("urgent", size), ("listing", size), ("fill", size), ("urgent", oversubscribed)]
    cases.append(("listing", oversubscribed))
    return [
        staleness.simulate(
            staleness.StalenessSetup(
                asins=n, asins_per_hour=per_hour * scale, hours=config.staleness_hours, order=order
            )
        )
        for order, n in cases
    ]
