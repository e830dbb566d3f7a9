"""Which pacer reaches the quota: the client's token bucket, the shared DB bucket, or Prefect's?

Each pacer is asked for ``calls`` permits at the same rate from one thread; nothing is sent
anywhere, so this measures the pacers alone:

- ``share_of_rate``: ``(calls - 1) / (last permit - first permit) / rate``;
- ``min_gap_ratio``: the closest two permits came, in units of ``1 / rate`` (below 1.0 a server
  bucket of burst 1 would have answered 429).

Pacers: :class:`~ecauto_lib.amazon.pacing.TokenBucket` (in-process),
:class:`~ecauto_lib.db.quota.SharedPacer` (a bucket row in the master DB, shared by processes),
and Prefect's ``rate_limit`` on a global concurrency limit (``slot_decay_per_second = rate``;
needs ``PREFECT_API_URL``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any


def permit_times(acquire: Callable[[], Any], calls: int) -> list[float]:
    """``perf_counter`` right after each of ``calls`` permits."""
    stamps = []
    for _ in range(calls):
        acquire()
        stamps.append(time.perf_counter())
    return stamps


def pacing_figures(stamps: list[float], rate: float) -> dict[str, float]:
    """Achieved share of ``rate`` and the closest gap (in ``1 / rate`` units)."""
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    span = stamps[-1] - stamps[0]
    achieved = (len(stamps) - 1) / span if span > 0 else float("inf")
    return {
        "rate": rate,
        "calls": len(stamps),
        "achieved": achieved,
        "share_of_rate": achieved / rate,
        "min_gap_ratio": min(gaps) * rate if gaps else None,
        "gaps_under_spacing": sum(1 for g in gaps if g < 1.0 / rate),
    }


def token_bucket(rate: float, calls: int) -> dict[str, float]:
    """The in-process :class:`TokenBucket` (burst 1, default 2 % safety margin)."""
    from ecauto_lib.amazon.pacing import TokenBucket

    return pacing_figures(permit_times(TokenBucket(rate, 1).acquire, calls), rate)


def shared_pacer(rate: float, calls: int, database_url: str) -> dict[str, float]:
    """The master-DB :class:`SharedPacer` on ``database_url`` (burst 1, default margin)."""
    from ecauto_lib import db
    from ecauto_lib.db.quota import SharedPacer

    engine = db.make_engine(database_url)
    try:
        db.upgrade(engine)
        pacer = SharedPacer(engine, f"bench-{uuid.uuid4().hex[:8]}|getItemOffersBatch", rate, 1)
        figures = pacing_figures(permit_times(pacer.acquire, calls), rate)
    finally:
        engine.dispose()
    return {**figures, "database": engine.dialect.name}


def prefect_rate_limit(rate: float, calls: int) -> dict[str, float]:
    """Prefect's ``rate_limit(name, strict=True)`` on a limit of 1 decaying at ``rate``."""
    from prefect import get_client
    from prefect.concurrency.sync import rate_limit

    name = f"ecauto-bench-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1, slot_decay_per_second=rate)
    try:
        stamps = permit_times(lambda: rate_limit(name, occupy=1, strict=True), calls)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)
    return pacing_figures(stamps, rate)
