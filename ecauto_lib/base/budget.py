"""BASE's daily call budget: when a shop refused with ``day_api_limit`` may be called again.

BASE documents 5,000 calls an hour and 100,000 a day per shop; the daily count "resets when the date
changes" (base-api.md §5), in a timezone no source states. **JST is assumed** (BASE is a Japanese
service; the reference calls JST likely but UNCONFIRMED). Because it is a guess, a block also ends at
UTC midnight when that comes first: a wrong guess then costs one refused call at the other midnight,
never a lost day of pushes. Until then no call goes to the shop (no push, no journal settling), so
the hourly runs in between spend nothing on it. The hourly limit needs no block: it resets at
minute 00 in every whole-hour timezone, before the next hourly run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta, timezone

from ecauto_lib.domain import BudgetBlock, ItemUpdate
from ecauto_lib.push import PushResult

DAY_LIMIT = "day_api_limit"

JST = timezone(timedelta(hours=9), "JST")
DAILY_RESET_TIMEZONES = (JST, UTC)
"""Where BASE's date may change: JST (assumed) and UTC (insurance: UNCONFIRMED either way)."""


def next_daily_reset(at: datetime) -> datetime:
    """The earliest instant after ``at`` when BASE's daily count may reset, in UTC.

    The next midnight in each of :data:`DAILY_RESET_TIMEZONES`, whichever comes first.
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"next_daily_reset needs an aware datetime, got {at.isoformat()}")

    def next_midnight(tz: timezone) -> datetime:
        local = at.astimezone(tz)
        return datetime.combine(local.date() + timedelta(days=1), time(0), tz)

    return min(next_midnight(tz) for tz in DAILY_RESET_TIMEZONES).astimezone(UTC)


def blocked_push(account_id: str, updates: Sequence[ItemUpdate], block: BudgetBlock) -> PushResult:
    """What a push to a blocked shop does: nothing sent, every update deferred, the block named."""
    return PushResult(account_id=account_id, deferred=list(updates), stopped_by=block.code)
