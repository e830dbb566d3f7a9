"""tasks.fetching: the submission window collects task runs as they finish."""

from __future__ import annotations

import concurrent.futures
from types import SimpleNamespace

from tasks.fetching import _take_finished


def _entry(name: str, wrapped: object) -> tuple[str, list[str], object]:
    return name, [name], SimpleNamespace(wrapped_future=wrapped)


def test_a_slow_task_at_the_head_does_not_hold_up_the_finished_ones_behind_it() -> None:
    slow, quick, later = (concurrent.futures.Future() for _ in range(3))
    queued = [_entry("slow", slow), _entry("quick", quick), _entry("later", later)]
    quick.set_result("state")
    assert [kind for kind, _, _ in _take_finished(queued)] == ["quick"]
    assert [kind for kind, _, _ in queued] == ["slow", "later"]
    slow.set_result("state")
    later.set_result("state")
    assert [kind for kind, _, _ in _take_finished(queued)] == ["slow", "later"]  # submission order kept
    assert queued == []


def test_futures_without_a_concurrent_future_are_taken_oldest_first() -> None:
    queued = [_entry("first", None), _entry("second", None)]
    assert [kind for kind, _, _ in _take_finished(queued)] == ["first"]
    assert [kind for kind, _, _ in queued] == ["second"]
