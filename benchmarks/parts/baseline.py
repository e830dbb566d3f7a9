"""The ``baseline`` part: the seed's approach (:mod:`benchmarks.baseline`) on the pipeline's scenario."""

from __future__ import annotations

from typing import Any

from benchmarks import metrics
from benchmarks.parts.common import Bench, BenchConfig, quiet_simulator_gc, say


def run(config: BenchConfig, bench: Bench) -> dict[str, Any]:
    from benchmarks.baseline import SEED_ASIN_PER_SECOND, run_baseline
    from ecauto_sandbox import Sandbox

    speed = config.baseline_speed
    say(f"baseline: the seed's loop over {config.asins} ASINs at speed {speed:g}")
    # Quotas off: the seed's 2.1 s spacing keeps it under getItemOffers' 0.5 req/s with a 5 %
    # margin, which at this time scale is about 1 ms of real time; loopback jitter would cost it
    # 429s it never saw in production (each one a lost 2.1 s slot).
    with Sandbox(bench.scenario, speed=speed, seed=config.seed, enforce_quotas=False) as sandbox:
        quiet_simulator_gc()
        result = run_baseline(sandbox)
        records = sandbox.requests
    offers = metrics.quota_use(records, "getItemOffers", speed)
    fetch_virtual = result.fetch_seconds * speed
    equiv_wall = fetch_virtual + result.push_seconds
    return {
        **result.as_dict(),
        "sp_api": {"getItemOffers": offers},
        "fetch_virtual_seconds": fetch_virtual,
        "fetch_asins_per_second_equiv": metrics.ratio(result.asins, fetch_virtual),
        "equiv_wall_seconds": equiv_wall,
        "run_asins_per_second_equiv": metrics.ratio(result.asins, equiv_wall),
        "base": metrics.base_budget_use(records, speed),
        "seed_production_asins_per_second": SEED_ASIN_PER_SECOND,
        "speed": speed,
    }
