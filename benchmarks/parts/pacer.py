"""The ``pacer`` part: the in-process and shared (DB) pacers against Prefect's ``rate_limit``, alone."""

from __future__ import annotations

from typing import Any

from benchmarks.parts.common import Bench, BenchConfig, postgres_database, say


def run(config: BenchConfig, bench: Bench) -> dict[str, Any]:
    """The pacers alone, at getItemOffersBatch's quota at speed 100 (--quick: at its speed)."""
    from benchmarks import pacer_check

    rate, calls = 0.1 * max(config.speed, 100.0), config.pacer_calls
    say(f"pacer: {calls} permits at {rate:g}/s from each pacer")
    results = {
        "token_bucket": pacer_check.token_bucket(rate, calls),
        "shared_pacer_sqlite": pacer_check.shared_pacer(
            rate, calls, f"sqlite:///{bench.space.root / 'pacer.db'}"
        ),
    }
    if config.postgres_url:
        with postgres_database(config.postgres_url) as url:
            results["shared_pacer_postgresql"] = pacer_check.shared_pacer(rate, calls, url)
    results["prefect_rate_limit"] = pacer_check.prefect_rate_limit(rate, calls)
    return results
