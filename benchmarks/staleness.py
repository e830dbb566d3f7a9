"""How old is the stock data when the quota cannot refresh everything within the TTL?

A 10,000-ASIN catalogue with a one-hour stock TTL needs 10,000 offers per hour; getItemOffersBatch
gives about 7,000 (0.1 req/s × 20 ASINs × 3,600 s, less the pacer's margin). The simulation runs
an hourly schedule over virtual time with the pipeline's real selection code
(:func:`ecauto_lib.freshness.stale_asins`): each hour, the ASINs it lists are fetched in its order
until the hour's fetch budget is spent, at the quota's pace, and the age of every ASIN's stock
data is sampled every few minutes. Orders compared:

- ``urgent``: the pipeline's order (never fetched, then oldest stock first);
- ``listing``: the same budget spent in listing order from the top every hour (what a loop over
  the listings without a priority would do);
- ``fill``: the pipeline's order with a zero TTL, i.e. every hour's whole budget is spent on the
  oldest data even when it is not yet past the TTL (a what-if, not the pipeline's behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ecauto_lib.config import SyncMode, SyncPolicy
from ecauto_lib.freshness import stale_asins

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StalenessSetup:
    """The catalogue and schedule to simulate."""

    asins: int = 10_000
    asins_per_hour: float = 7_056.0  # the fetch budget of one hourly run
    hours: int = 48
    warmup_hours: int = 12  # ages are sampled after this (the start is "everything stale")
    sample_seconds: float = 300.0
    out_of_stock_share: float = 0.08
    order: str = "urgent"  # "urgent" | "listing" | "fill"


def catalogue(setup: StalenessSetup) -> pd.DataFrame:
    """The listing columns :func:`stale_asins` reads: one listing per ASIN, all a day old."""
    n = setup.asins
    rng = np.random.default_rng(11)
    in_stock = rng.random(n) >= setup.out_of_stock_share
    day_old = pd.Timestamp(EPOCH - timedelta(days=1))
    return pd.DataFrame(
        {
            "asin": [f"B0{i:08d}" for i in range(n)],
            "stock_state": np.where(in_stock, "in_stock", "out_of_stock"),
            "info_fetched_at": pd.Series([pd.Timestamp(EPOCH)] * n, dtype="datetime64[ns, UTC]"),
            "price_fetched_at": pd.Series([day_old] * n, dtype="datetime64[ns, UTC]"),
            "stock_fetched_at": pd.Series([day_old] * n, dtype="datetime64[ns, UTC]"),
        }
    )


def simulate(setup: StalenessSetup, policy: SyncPolicy | None = None) -> dict[str, Any]:
    """Run the hourly schedule; ages (hours) of stock data sampled after the warm-up."""
    policy = policy or SyncPolicy()
    frame = catalogue(setup)
    position = pd.Series(np.arange(len(frame)), index=frame["asin"])
    last = (frame["stock_fetched_at"] - pd.Timestamp(EPOCH)).dt.total_seconds().to_numpy(copy=True)
    in_stock = frame["stock_state"].eq("in_stock").to_numpy()
    per_second = setup.asins_per_hour / 3600.0
    if setup.order == "fill":
        policy = replace(policy, stock_ttl=timedelta(0))
    samples: list[np.ndarray] = []
    fetched_per_run: list[int] = []
    for hour in range(setup.hours):
        start = hour * 3600.0
        frame["stock_fetched_at"] = _timestamps(last)
        frame["price_fetched_at"] = frame["price_fetched_at"].where(~in_stock, frame["stock_fetched_at"])
        stale = stale_asins(frame, policy, EPOCH + timedelta(seconds=start), SyncMode.FULL)
        chosen = stale.loc[stale["needs_offers"], "asin"]
        if setup.order == "listing":
            chosen = chosen.iloc[np.argsort(position[chosen].to_numpy(), kind="stable")]
        chosen = chosen.head(int(setup.asins_per_hour))
        index = position[chosen].to_numpy()
        when = start + np.arange(len(index)) / per_second
        fetched_per_run.append(len(index))
        if hour >= setup.warmup_hours:
            for at in np.arange(start, start + 3600.0, setup.sample_seconds):
                current = last.copy()
                done = when <= at
                current[index[done]] = when[done]
                samples.append((at - current) / 3600.0)
        last[index] = when
    ages = np.concatenate(samples) if samples else np.array([])
    return {
        "asins": setup.asins,
        "asins_per_hour": setup.asins_per_hour,
        "order": setup.order,
        "hours": setup.hours,
        "warmup_hours": setup.warmup_hours,
        "fetched_per_run": int(np.median(fetched_per_run)) if fetched_per_run else 0,
        "age_hours_p50": _pct(ages, 50),
        "age_hours_p95": _pct(ages, 95),
        "age_hours_max": float(ages.max()) if ages.size else None,
        "share_older_than_2h": float((ages > 2.0).mean()) if ages.size else None,
    }


def _timestamps(seconds: np.ndarray) -> pd.Series:
    return pd.Series(pd.Timestamp(EPOCH) + pd.to_timedelta(seconds, unit="s"), dtype="datetime64[ns, UTC]")


def _pct(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None
