"""Server-side quotas: SP-API token buckets per operation and BASE call budgets per shop.

Both run on virtual time (see :mod:`ecauto_sandbox.clock`), so at ``speed=100`` a bucket of
0.1 req/s refills at 10 real req/s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

# JP default usage plans from the official models [sp-api.md §3]: (rate in req/s, burst).
SP_API_USAGE_PLANS: dict[str, tuple[float, int]] = {
    "getItemOffersBatch": (0.1, 1),
    "getItemOffers": (0.5, 1),
    "getCompetitivePricing": (0.5, 1),
    "searchCatalogItems": (2.0, 2),
    "getCatalogItem": (2.0, 2),
}


def client_rates(speed: float) -> str:
    """``ECAUTO_SP_API_RATES`` telling the client the simulator's plans at its time scale.

    At ``speed`` the simulator's quotas are ``rate × speed``; the client's built-in plans must say
    so too, or its first queued calls wait at the unscaled pace until the first
    ``x-amzn-RateLimit-Limit`` arrives (in production the plan and the live rate agree).
    """
    from ecauto_lib.amazon.client import OPERATIONS  # the operations the client paces

    return ",".join(f"{op.name}={SP_API_USAGE_PLANS[op.name][0] * speed:g}" for op in OPERATIONS)


# BASE budgets per shop [base-api.md §5].
BASE_HOUR_LIMIT = 5_000
BASE_DAY_LIMIT = 100_000
# The reset timezone is not documented (UNCONFIRMED; JST is likely). The hourly window is the same
# in UTC and JST (whole-hour offset); the daily window follows the JST date here.
JST = timezone(timedelta(hours=9), "JST")

# Float slack so a client paced exactly at the rate is not refused by a rounding error.
_EPSILON = 1e-9


class TokenBucket:
    """A token bucket on virtual seconds: ``rate`` tokens per second up to ``burst``; starts full.

    Not thread-safe on its own: the sandbox state lock guards it.
    """

    def __init__(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated: float | None = None

    def _refill(self, now: float) -> None:
        if self._updated is not None and now > self._updated:
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        if self._updated is None or now > self._updated:
            self._updated = now

    def try_take(self, now: float) -> bool:
        """Take one token at virtual second ``now``; False (nothing taken) when the bucket is empty."""
        self._refill(now)
        if self._tokens + _EPSILON >= 1.0:
            self._tokens = max(0.0, self._tokens - 1.0)
            return True
        return False

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (for inspection)."""
        self._refill(now)
        return self._tokens


def format_rate(requests_per_second: float) -> str:
    """``x-amzn-RateLimit-Limit`` text: a number string such as ``"10.0"`` or ``"0.5"``."""
    return repr(round(float(requests_per_second), 6))


@dataclass
class BaseBudget:
    """One shop's BASE call counters for the current virtual clock hour and JST day."""

    hour_limit: int = BASE_HOUR_LIMIT
    day_limit: int = BASE_DAY_LIMIT
    hour_key: datetime | None = None
    hour_calls: int = 0
    day_key: str | None = None
    day_calls: int = 0

    def _roll(self, now: datetime) -> None:
        hour = now.replace(minute=0, second=0, microsecond=0)
        if hour != self.hour_key:
            self.hour_key, self.hour_calls = hour, 0
        day = now.astimezone(JST).date().isoformat()
        if day != self.day_key:
            self.day_key, self.day_calls = day, 0

    def refusal(self, now: datetime) -> str | None:
        """``"day_api_limit"`` / ``"hour_api_limit"`` when the next call would exceed a budget, else None.

        The day budget is checked first (it is the longer wait).
        """
        self._roll(now)
        if self.day_calls >= self.day_limit:
            return "day_api_limit"
        if self.hour_calls >= self.hour_limit:
            return "hour_api_limit"
        return None

    def count(self, now: datetime) -> None:
        """Count one call in the windows that contain ``now``."""
        self._roll(now)
        self.hour_calls += 1
        self.day_calls += 1

    def exhaust_hour(self, now: datetime) -> None:
        """Use up the rest of the current hour's budget."""
        self._roll(now)
        self.hour_calls = max(self.hour_calls, self.hour_limit)

    def exhaust_day(self, now: datetime) -> None:
        """Use up the rest of the current JST day's budget."""
        self._roll(now)
        self.day_calls = max(self.day_calls, self.day_limit)

    def remaining(self, now: datetime) -> dict[str, int]:
        """Calls left this hour and this day."""
        self._roll(now)
        return {
            "hour": max(0, self.hour_limit - self.hour_calls),
            "day": max(0, self.day_limit - self.day_calls),
        }
