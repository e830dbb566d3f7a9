"""The simulator's virtual clock: real elapsed time multiplied by ``speed``.

``virtual_now = start_at + (monotonic() - t0) * speed``. Every quota rate, token lifetime and
BASE budget window runs on this clock, so a run at ``speed=100`` sees the same behaviour as a run
at ``speed=1`` in a hundredth of the real time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class VirtualClock:
    """A monotonic clock that runs ``speed`` times faster than real time, anchored at ``start_at``."""

    def __init__(
        self,
        speed: float = 1.0,
        start_at: datetime | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (isinstance(speed, int | float) and math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed must be a positive finite number, got {speed!r}")
        if start_at is not None and start_at.tzinfo is None:
            raise ValueError("start_at must be timezone-aware (UTC)")
        self.speed = float(speed)
        self.start_at = (start_at or datetime.now(UTC)).astimezone(UTC)
        self._monotonic = monotonic
        self._t0 = monotonic()

    def monotonic(self) -> float:
        """Real monotonic seconds (the clock's own time source)."""
        return self._monotonic()

    def virtual_seconds(self, real_monotonic: float | None = None) -> float:
        """Virtual seconds elapsed since the clock started, at ``real_monotonic`` (default: now)."""
        t = self._monotonic() if real_monotonic is None else real_monotonic
        return (t - self._t0) * self.speed

    def now(self, real_monotonic: float | None = None) -> datetime:
        """The virtual time (UTC-aware) at ``real_monotonic`` (default: now)."""
        return self.start_at + timedelta(seconds=self.virtual_seconds(real_monotonic))

    def real_seconds(self, virtual_seconds: float) -> float:
        """How many real seconds ``virtual_seconds`` of simulated time take."""
        return virtual_seconds / self.speed

    def expires_in(self, virtual_lifetime: float) -> int:
        """A token lifetime as sent to clients: real seconds, rounded up, at least 1."""
        return max(1, math.ceil(virtual_lifetime / self.speed))
