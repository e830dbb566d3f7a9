"""The product's clock: what time it is (UTC) for the decisions that depend on time.

One function so that a test can run a whole sync on the simulator's virtual clock (the sandbox's
``VirtualClock`` can jump a day in a moment): the run's start (TTL diff, how long an ASIN has been
unknown) and the time an observation was made read :func:`utc_now`. Production never changes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime


def _system_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _system_now


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return _source()


@contextmanager
def clock_source(now: Callable[[], datetime]) -> Iterator[None]:
    """Within the block, :func:`utc_now` returns ``now()`` (for tests: ``clock_source(sb.now)``)."""
    global _source
    saved, _source = _source, now
    try:
        yield
    finally:
        _source = saved
