"""Which pacer reaches the quota: the client's token bucket or Prefect's ``rate_limit``?

Both are asked for ``calls`` permits at the same rate from one thread, and the achieved rate is
``(calls - 1) / (last permit - first permit)``. Nothing is sent anywhere: this measures the
pacers alone. Prefect's limit lives on the Prefect server (a global concurrency limit with
``slot_decay_per_second = rate``), so ``PREFECT_API_URL`` must point at a running server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from ecauto_lib.amazon.pacing import TokenBucket


def achieved_rate(acquire: Callable[[], Any], calls: int) -> float:
    """Permits per second over ``calls`` permits from ``acquire``."""
    stamps = []
    for _ in range(calls):
        acquire()
        stamps.append(time.perf_counter())
    span = stamps[-1] - stamps[0]
    return (calls - 1) / span if span > 0 else float("inf")


def token_bucket_rate(rate: float, calls: int) -> dict[str, float]:
    """The project's :class:`TokenBucket` (burst 1, default 2 % safety margin)."""
    bucket = TokenBucket(rate, 1)
    achieved = achieved_rate(bucket.acquire, calls)
    return {"rate": rate, "calls": calls, "achieved": achieved, "share_of_rate": achieved / rate}


def prefect_rate_limit_rate(rate: float, calls: int) -> dict[str, float]:
    """Prefect's ``rate_limit(name, strict=True)`` on a limit of 1 decaying at ``rate``."""
    from prefect import get_client
    from prefect.concurrency.sync import rate_limit

    name = f"ecauto-bench-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1, slot_decay_per_second=rate)
    try:
        achieved = achieved_rate(lambda: rate_limit(name, occupy=1, strict=True), calls)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name(name)
    return {"rate": rate, "calls": calls, "achieved": achieved, "share_of_rate": achieved / rate}
