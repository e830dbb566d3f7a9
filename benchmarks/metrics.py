"""Figures from the simulator's request log and from phase timings. Pure functions.

Time-scale rule: the simulator runs ``speed`` times faster than real time, so a span of real
seconds ``s`` is ``s × speed`` seconds of "real-time-equivalent" (virtual) time. Quotas and
budgets are compared in virtual time; local work (CPU, DB, Prefect) is *not* scaled, because it
would take the same seconds in production.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from ecauto_sandbox.quotas import BASE_HOUR_LIMIT, SP_API_USAGE_PLANS

THROTTLE_GRACE_SECONDS = 60.0
"""429s in the first virtual minute are forgiven (the client learns the live rate from the first answer)."""


class Record(Protocol):
    """What the figures need from :class:`ecauto_sandbox.RequestRecord`."""

    t: float
    vt: datetime
    service: str
    operation: str
    status: int
    error_code: str | None
    shop_id: str | None
    asins: tuple[str, ...]
    duration: float


def quota_use(records: Iterable[Record], operation: str, speed: float) -> dict[str, Any]:
    """How close one SP-API operation's calls came to its quota, in virtual time.

    With ``n`` accepted calls, a perfect client fills the bucket's rate after its burst, so the
    span from the first to the last accepted call is at least ``(n - burst) / rate``:
    ``utilisation = (n - burst) / (rate × span)`` (1.0 = every token used).
    """
    rate, burst = SP_API_USAGE_PLANS[operation]
    calls = sorted((r for r in records if r.operation == operation), key=lambda r: r.t)
    accepted = [r for r in calls if r.status != 429]
    throttled = [r for r in calls if r.status == 429]
    out: dict[str, Any] = {
        "operation": operation,
        "quota_rate": rate,
        "quota_burst": burst,
        "calls": len(calls),
        "accepted": len(accepted),
        "throttled": len(throttled),
        "throttled_after_first_minute": 0,
        "asins": sum(len(r.asins) for r in accepted),
        "span_virtual_seconds": None,
        "calls_per_second_virtual": None,
        "utilisation": None,
    }
    if not calls:
        return out
    first = calls[0].t
    out["throttled_after_first_minute"] = sum(
        1 for r in throttled if (r.t - first) * speed > THROTTLE_GRACE_SECONDS
    )
    gaps = [(b.t - a.t) * speed for a, b in zip(calls, calls[1:], strict=False)]
    out["gap_virtual_seconds"] = {
        "min": min(gaps, default=None),
        "p50": percentile(gaps, 50),
        "p95": percentile(gaps, 95),
        "max": max(gaps, default=None),
    }
    out["gaps_under_quota_spacing"] = sum(1 for g in gaps if g < 1.0 / rate)
    if len(accepted) > burst:
        span = (accepted[-1].t - accepted[0].t) * speed
        if span > 0:
            out["span_virtual_seconds"] = span
            out["calls_per_second_virtual"] = (len(accepted) - burst) / span
            out["utilisation"] = (len(accepted) - burst) / (rate * span)
    return out


def projected_utilisation(
    use: dict[str, Any], speed: float, spacing_at_speed: float, spacing_at_1x: float
) -> float | None:
    """Utilisation at speed 1, keeping the measured *local* delays in real seconds.

    At ``speed`` the pacer spaces calls ``spacing_at_speed`` real seconds apart; whatever the
    mean real gap exceeds that by is local delay (late wake-ups, busy threads, the pause between
    rounds). Local delays take the same real time in production, where the spacing is
    ``spacing_at_1x``: ``utilisation_1x = (1 / rate) / (spacing_at_1x + delay)``. A model, not a
    measurement: it assumes the delays do not grow when calls are further apart.
    """
    span, accepted, burst = use.get("span_virtual_seconds"), use["accepted"], use["quota_burst"]
    if not span or accepted <= burst:
        return None
    mean_gap_real = span / speed / (accepted - burst)
    delay = max(0.0, mean_gap_real - spacing_at_speed)
    return (1.0 / use["quota_rate"]) / (spacing_at_1x + delay)


def service_window(records: Iterable[Record], service: str) -> tuple[float, float] | None:
    """Real monotonic (first arrival, last answer) of one service's calls, or None."""
    calls = [r for r in records if r.service == service]
    if not calls:
        return None
    return min(r.t for r in calls), max(r.t + r.duration for r in calls)


def base_budget_use(
    records: Iterable[Record], speed: float, hour_limit: int = BASE_HOUR_LIMIT
) -> dict[str, dict[str, Any]]:
    """Per shop: items calls and edits, their rate per virtual hour against BASE's hourly budget.

    ``edits_per_hour_equiv`` is the pace while pushing (edits ÷ the push's virtual span);
    ``peak_clock_hour_calls`` what BASE's budget actually counts (calls within one clock hour).
    """
    by_shop: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if r.service == "base" and r.shop_id and r.operation != "baseToken":
            by_shop[r.shop_id].append(r)
    out: dict[str, dict[str, Any]] = {}
    for shop, calls in sorted(by_shop.items()):
        calls.sort(key=lambda r: r.t)
        edits = [r for r in calls if r.operation == "itemsEdit" and r.status == 200]
        refused = sum(1 for r in calls if r.error_code in ("hour_api_limit", "day_api_limit"))
        hours = Counter(int(r.vt.timestamp() // 3600) for r in calls if r.error_code is None)
        span = (edits[-1].t - edits[0].t) * speed if len(edits) > 1 else None
        rate = (len(edits) - 1) / span * 3600 if span else None
        out[shop] = {
            "calls": len(calls),
            "edits": len(edits),
            "refused_by_budget": refused,
            "push_span_virtual_seconds": span,
            "edits_per_hour_equiv": rate,
            "edits_per_hour_vs_budget": rate / hour_limit if rate is not None else None,
            "peak_clock_hour_calls": max(hours.values()) if hours else 0,
            "peak_clock_hour_vs_budget": (max(hours.values()) / hour_limit) if hours else 0.0,
        }
    return out


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) by linear interpolation, or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def linear_fit(xs: Sequence[float], ys: Sequence[float]) -> dict[str, float] | None:
    """Least-squares ``y = intercept + slope × x`` and its R² (None with fewer than 2 points)."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = mean_y - slope * mean_x
    total = sum((y - mean_y) ** 2 for y in ys)
    residual = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return {"intercept": intercept, "slope": slope, "r2": 1.0 - residual / total if total else 1.0}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def send_to_arrival(
    sends: Sequence[float], records: Iterable[Record], operation: str, rate: float
) -> dict[str, Any]:
    """Client send times against the simulator's arrival times for one operation.

    The n-th send is the n-th arrival (one connection per call, in order); for every call that
    arrived less than ``1 / rate`` after the previous one, was the gap already that short when
    the client sent it (``short_at_client``) or did it shrink on the way (``shrunk_in_transit``)?
    Times are real seconds on the machine's monotonic clock (shared by both processes).
    """
    arrivals = sorted(r.t for r in records if r.operation == operation)
    sent = sorted(sends)
    if not sent or len(sent) != len(arrivals):
        return {"matched": False, "sends": len(sent), "arrivals": len(arrivals)}
    spacing = 1.0 / rate
    transit = [a - s for s, a in zip(sent, arrivals, strict=True)]
    short_at_client = shrunk = 0
    for i in range(1, len(sent)):
        if arrivals[i] - arrivals[i - 1] < spacing:
            if sent[i] - sent[i - 1] < spacing:
                short_at_client += 1
            else:
                shrunk += 1
    return {
        "matched": True,
        "calls": len(sent),
        "transit_seconds": {
            "p50": percentile(transit, 50),
            "p99": percentile(transit, 99),
            "max": max(transit),
        },
        "short_gaps_at_client": short_at_client,
        "short_gaps_shrunk_in_transit": shrunk,
    }
