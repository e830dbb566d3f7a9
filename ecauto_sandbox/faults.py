"""Fault injection, deterministic under a seed.

Each decision is a hash of ``(seed, kind, key)`` turned into a number in [0, 1), compared with a
rate. Keys are call sequence numbers per operation (or per ASIN for item errors), so a client
that makes the same calls in the same order meets the same faults; a retried ASIN gets a fresh
draw. Every injected fault is written to the request log (``RequestRecord.fault``).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# A 429 storm: a number of consecutive SP-API calls, or a virtual-time window [start, end).
Storm = int | tuple[datetime, datetime] | None

_RATE_FIELDS = (
    "sp_5xx_rate",
    "sp_429_rate",
    "item_error_rate",
    "slow_rate",
    "base_5xx_rate",
    "malformed_json_rate",
    "auth_5xx_rate",
    "base_page_shift_rate",
)


@dataclass(frozen=True)
class Faults:
    """Which faults the simulator injects, and how often (rates are probabilities per call).

    - ``sp_5xx_rate``: an SP-API call answers 500 ``InternalFailure`` (or 503 ``ServiceUnavailable``).
    - ``sp_429_rate``: an SP-API call answers 429 ``QuotaExceeded`` although the bucket had a token.
    - ``item_error_rate``: one item of a getItemOffersBatch answers per-item 500 ``InternalFailure``.
    - ``slow_rate`` / ``slow_seconds``: an SP-API or BASE call is answered after ``slow_seconds`` real seconds.
    - ``base_5xx_rate``: a BASE items call answers 503 with nginx's HTML error page.
    - ``malformed_json_rate``: an SP-API or BASE 200 answer has a truncated JSON body.
    - ``storm_429``: the next N authenticated SP-API calls (an int), or every call whose virtual
      time falls in ``(start, end)``, answer 429.
    - ``auth_5xx_rate``: an LWA or BASE token call answers 500 (``server_error`` for BASE).
    - ``sp_operations``: SP-API operation names (e.g. ``("getItemOffers",)``) the SP-API call faults
      above (429s, storms, 5xx) apply to; empty means every operation.
    - ``base_page_shift_rate``: a ``GET /1/items`` page at an offset > 0 starts one item later, as
      when an item in front of it was deleted or moved between two page requests: a scan skips the
      item at the page boundary although BASE still has it (``items/detail`` finds it).
    - ``base_limit_status``: the HTTP status of BASE's ``hour_api_limit`` / ``day_api_limit``
      answers. BASE documents 400 for every error; another status (a proxy's 429, a 503) tests that
      a client reads the error code first. Not a draw: every budget refusal gets it.
    - ``base_operations``: BASE items operation names (e.g. ``("itemsEdit",)``) ``base_5xx_rate``
      applies to; empty means every items call (a BASE outage that refuses edits but still lists).
    """

    seed: int = 0
    sp_5xx_rate: float = 0.0
    sp_429_rate: float = 0.0
    item_error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    base_5xx_rate: float = 0.0
    malformed_json_rate: float = 0.0
    storm_429: Storm = None
    auth_5xx_rate: float = 0.0
    sp_operations: tuple[str, ...] = ()
    base_page_shift_rate: float = 0.0
    base_limit_status: int = 400
    base_operations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in _RATE_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1], got {value!r}")
        if self.slow_seconds < 0:
            raise ValueError("Faults.slow_seconds must be >= 0")
        if isinstance(self.sp_operations, str) or not all(isinstance(o, str) for o in self.sp_operations):
            raise ValueError("Faults.sp_operations must be a sequence of SP-API operation names")
        object.__setattr__(self, "sp_operations", tuple(self.sp_operations))
        status = self.base_limit_status
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("Faults.base_limit_status must be an HTTP error status (400-599)")
        if isinstance(self.base_operations, str) or not all(isinstance(o, str) for o in self.base_operations):
            raise ValueError("Faults.base_operations must be a sequence of BASE operation names")
        object.__setattr__(self, "base_operations", tuple(self.base_operations))
        storm = self.storm_429
        if isinstance(storm, bool) or not (
            storm is None
            or (isinstance(storm, int) and storm >= 0)
            or (isinstance(storm, tuple) and len(storm) == 2 and all(isinstance(t, datetime) for t in storm))
        ):
            raise ValueError("Faults.storm_429 must be None, a count >= 0 or a (start, end) datetime pair")

    def to_json(self) -> dict[str, Any]:
        """A JSON-friendly dict (the storm window as ISO strings)."""
        data = dataclasses.asdict(self)
        if isinstance(self.storm_429, tuple):
            data["storm_429"] = [t.isoformat() for t in self.storm_429]
        return data


def chance(seed: int, kind: str, key: object) -> float:
    """A deterministic number in [0, 1) for ``(seed, kind, key)``."""
    digest = hashlib.blake2b(f"{seed}|{kind}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FaultInjector:
    """Decides, call by call, which fault (if any) applies. Guarded by the sandbox state lock."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._storm_left = storm_count(faults.storm_429)
        self._calls: Counter[str] = Counter()

    def update(self, **changes: Any) -> Faults:
        """Replace some settings; a new ``storm_429`` count restarts the storm."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(Faults)}
        if unknown:
            raise TypeError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        self.faults = dataclasses.replace(self.faults, **changes)
        if "storm_429" in changes:
            self._storm_left = storm_count(self.faults.storm_429)
        return self.faults

    def _targets(self, operation: str) -> bool:
        return not self.faults.sp_operations or operation in self.faults.sp_operations

    def _draw(self, kind: str, key: object, rate: float) -> bool:
        return rate > 0.0 and chance(self.faults.seed, kind, key) < rate

    def next_call(self, operation: str) -> int:
        """Number this call of ``operation`` (1, 2, ...): the key of its fault draws."""
        self._calls[operation] += 1
        return self._calls[operation]

    def sp_throttle(self, operation: str, call_no: int, now: datetime) -> str | None:
        """``"storm_429"`` / ``"sp_429"`` when this SP-API call must be throttled, else None."""
        if not self._targets(operation):
            return None
        storm = self.faults.storm_429
        if isinstance(storm, tuple) and storm[0] <= now < storm[1]:
            return "storm_429"
        if self._storm_left > 0:
            self._storm_left -= 1
            return "storm_429"
        if self._draw("sp_429", f"{operation}#{call_no}", self.faults.sp_429_rate):
            return "sp_429"
        return None

    def sp_server_error(self, operation: str, call_no: int) -> int | None:
        """500 or 503 when this SP-API call must fail as a server error, else None."""
        if not self._targets(operation):
            return None
        key = f"{operation}#{call_no}"
        if self._draw("sp_5xx", key, self.faults.sp_5xx_rate):
            return 503 if chance(self.faults.seed, "sp_5xx_kind", key) < 0.25 else 500
        return None

    def item_error(self, asin: str) -> bool:
        """Whether this fetch of ``asin`` (counted per ASIN) fails inside its batch."""
        self._calls[f"item:{asin}"] += 1
        return self._draw("item_error", f"{asin}#{self._calls[f'item:{asin}']}", self.faults.item_error_rate)

    def base_server_error(self, operation: str, call_no: int) -> bool:
        if self.faults.base_operations and operation not in self.faults.base_operations:
            return False
        return self._draw("base_5xx", f"{operation}#{call_no}", self.faults.base_5xx_rate)

    def page_shift(self, call_no: int) -> bool:
        """Whether this ``GET /1/items`` page (at an offset > 0) starts one item late."""
        return self._draw("page_shift", f"items#{call_no}", self.faults.base_page_shift_rate)

    def auth_server_error(self, operation: str, call_no: int) -> bool:
        return self._draw("auth_5xx", f"{operation}#{call_no}", self.faults.auth_5xx_rate)

    def malformed(self, operation: str, call_no: int) -> bool:
        return self._draw("malformed_json", f"{operation}#{call_no}", self.faults.malformed_json_rate)

    def slow(self, operation: str, call_no: int) -> float:
        """Real seconds to hold this answer back (0 when not slowed)."""
        if self.faults.slow_seconds > 0 and self._draw(
            "slow", f"{operation}#{call_no}", self.faults.slow_rate
        ):
            return self.faults.slow_seconds
        return 0.0

    @property
    def storm_left(self) -> int:
        """Calls still to be throttled by a counted storm."""
        return self._storm_left


def storm_count(storm: Storm) -> int:
    return storm if isinstance(storm, int) else 0
