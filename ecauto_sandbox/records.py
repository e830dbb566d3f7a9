"""The request log: one :class:`RequestRecord` per HTTP call, with secrets redacted."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Form/JSON keys whose values are secrets: never stored in the log, only a short fingerprint.
SECRET_KEYS = frozenset({"client_secret", "refresh_token", "access_token", "code"})


def fingerprint(secret: str) -> str:
    """A non-reversible stand-in for a secret: ``"***"`` + 8 hex digits of its SHA-256.

    Two log entries with the same fingerprint used the same token, which is all a test needs.
    """
    return "***" + hashlib.sha256(secret.encode()).hexdigest()[:8]


def redact(value: Any) -> Any:
    """A copy of a form dict / JSON document with every secret value replaced by its fingerprint."""
    if isinstance(value, Mapping):
        return {
            k: (fingerprint(v) if k in SECRET_KEYS and isinstance(v, str) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One call the simulator answered.

    ``t`` real monotonic seconds at arrival; ``vt`` the virtual time then; ``service`` is
    ``"lwa"``, ``"sp-api"``, ``"base"`` or ``"admin"``; ``operation`` the API operation name
    (``getItemOffersBatch``, ``itemsEdit``...); ``body`` the parsed JSON or form dict and
    ``response`` the parsed JSON answer (None when the answer was not JSON), both with secrets
    replaced by fingerprints; ``error_code`` the API's error code (``QuotaExceeded``,
    ``hour_api_limit``...); ``asins`` the ASINs an SP-API call asked for; ``fault`` the injected
    fault, if any (``storm_429``, ``sp_429``, ``sp_5xx``, ``item_error``, ``slow``,
    ``base_5xx``, ``malformed_json``, ``auth_5xx``; several joined with ``+``).
    """

    t: float
    vt: datetime
    service: str
    operation: str
    method: str
    path: str
    query: dict[str, Any]
    body: Any
    status: int
    error_code: str | None
    shop_id: str | None
    asins: tuple[str, ...]
    fault: str | None
    response: Any
    request_id: str | None = None
    duration: float = 0.0


def max_rate(times: list[float], window: int) -> float | None:
    """The highest rate (calls per second) over any ``window`` consecutive calls at ``times``.

    With fewer calls than ``window``, all calls form the one window; None below 2 calls.
    """
    if len(times) < 2:
        return None
    n = min(window, len(times))
    best = 0.0
    for i in range(len(times) - n + 1):
        span = times[i + n - 1] - times[i]
        rate = float("inf") if span <= 0 else (n - 1) / span
        best = max(best, rate)
    return best


def operation_stats(
    records: Iterable[RequestRecord], *, window: int, speed: float
) -> dict[str, dict[str, Any]]:
    """Per operation: calls, statuses (code → count), 429s, faults, and the max rate over ``window`` calls.

    ``max_rate`` is in real calls/s over all calls (what the client sent, 429s included);
    ``max_rate_virtual`` the same on the virtual clock (``max_rate / speed``), comparable with
    Amazon's published rates; ``max_accepted_rate`` counts only calls that were not throttled.
    """
    grouped: dict[str, list[RequestRecord]] = defaultdict(list)
    for record in records:
        grouped[record.operation].append(record)
    stats: dict[str, dict[str, Any]] = {}
    for operation, items in sorted(grouped.items()):
        items.sort(key=lambda r: r.t)
        statuses: dict[int, int] = defaultdict(int)
        faults: dict[str, int] = defaultdict(int)
        for r in items:
            statuses[r.status] += 1
            if r.fault:
                faults[r.fault] += 1
        rate = max_rate([r.t for r in items], window)
        stats[operation] = {
            "service": items[0].service,
            "calls": len(items),
            "statuses": dict(sorted(statuses.items())),
            "throttled": statuses.get(429, 0),
            "faults": dict(faults),
            "max_rate": rate,
            "max_rate_virtual": None if rate is None else rate / speed,
            "max_accepted_rate": max_rate([r.t for r in items if r.status != 429], window),
        }
    return stats
