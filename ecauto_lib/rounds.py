"""Rounds of a run that pushes as it fetches: one at a time, on a side thread.

A run with a time budget and ``push_every`` (a served loop: one long run, its fetch never idle)
hands what its fetch has answered and confirmed to a round every ``push_every``
(:class:`ecauto_lib.fetching.Rounds`); :class:`SideRounds` runs each round's work (the flow's:
write, price, guard, push, compute a fresher queue order) on a thread of its own, so the SP-API
lanes stay busy meanwhile. The thread runs in a copy of the caller's context (as Prefect's
thread-pool task runner does), so the round's task runs belong to the flow run.

One round at a time: a round is not due while the last one is still running. A round that
raised stops the run: ``due`` raises its exception in the fetch's thread (the fetch cancels
what has not started; the push journal makes the crash safe), and so does :meth:`wait`.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ecauto_lib.clock import utc_now
from ecauto_lib.domain import CatalogInfo, Observation
from ecauto_lib.pricing import FLOOR_REASON_PREFIX, PricingPlan, merge_plans
from ecauto_lib.push import STICKY_STOPS, PushResult, merge_push_results

Order = tuple[list[str], list[str]]  # offer ASINs, catalog ASINs: a queue's order
RoundWork = Callable[[list[Observation], list[CatalogInfo]], Order | None]


class SideRounds:
    """:class:`ecauto_lib.fetching.Rounds` whose work runs on a side thread, one round at a time."""

    def __init__(
        self, every: timedelta, work: RoundWork, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if every <= timedelta(0):
            raise ValueError("rounds need a positive interval")
        self._every, self._work, self._clock = every.total_seconds(), work, clock
        self._next = clock() + self._every
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._order: Order | None = None
        self._error: BaseException | None = None
        self.count = 0

    def due(self) -> bool:
        busy = self._thread is not None and self._thread.is_alive()
        self._raise_error()  # after the look: a round that failed meanwhile is raised, not followed
        return not busy and self._clock() >= self._next

    def hand_over(self, observations: list[Observation], infos: list[CatalogInfo]) -> None:
        context = contextvars.copy_context()
        self.count += 1
        self._thread = threading.Thread(
            target=context.run, args=(self._run, observations, infos), name=f"round-{self.count}", daemon=True
        )
        self._thread.start()
        self._next = self._clock() + self._every

    def fresh_order(self) -> Order | None:
        with self._lock:
            order, self._order = self._order, None
        return order

    def wait(self) -> None:
        """Until the round in progress (if any) has ended; raises what a round raised."""
        if self._thread is not None:
            self._thread.join()
        self._raise_error()

    def stop(self) -> None:
        """Until the round in progress has ended, raising nothing (the fetch failed: its error
        is the one the run reports; a round's own error is logged by its task runs)."""
        if self._thread is not None:
            self._thread.join()
        self._error = None

    def wait_until_due(self, deadline: datetime | None) -> bool:
        self.wait()
        left = None if deadline is None else (deadline - utc_now()).total_seconds()
        pause = self._next - self._clock()
        if left is not None and left <= pause:
            time.sleep(max(0.0, left))
            return False
        time.sleep(max(0.0, pause))
        return True

    def _run(self, observations: list[Observation], infos: list[CatalogInfo]) -> None:
        try:
            order = self._work(observations, infos)
        except BaseException as exc:  # handed to the fetch's thread: the run stops there
            self._error = exc
            return
        with self._lock:
            self._order = order

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


@dataclass
class RoundsSoFar:
    """What a run's rounds have planned and pushed so far (each round plans every listing)."""

    plans: list[PricingPlan] = field(default_factory=list)
    results: list[dict[str, PushResult]] = field(default_factory=list)

    def add(self, plan: PricingPlan, results: dict[str, PushResult]) -> None:
        self.plans.append(plan)
        self.results.append(results)

    def breaker_counts(self) -> dict[tuple[str, str], int]:
        """Per (shop, ``"hide"`` | ``"cut"``), the items earlier rounds hid or cut the price of
        (the circuit breaker counts a whole run: :func:`ecauto_lib.guards.hold_risky_changes`)."""
        counts: dict[tuple[str, str], int] = {}
        for results in self.results:
            for account_id, result in results.items():
                for c in result.pushed:
                    if c.reason.startswith(FLOOR_REASON_PREFIX):
                        continue  # the floor's hides come after the guards: never the breaker's
                    hide = c.field == "visible" and c.new_value == 0
                    cut = c.field == "price" and c.old_value is not None and c.new_value < c.old_value
                    if hide or cut:
                        key = (account_id, "hide" if hide else "cut")
                        counts[key] = counts.get(key, 0) + 1
        return counts

    def calls(self, account_id: str) -> int:
        """BASE calls earlier rounds spent on this shop (they come out of its hourly budget)."""
        return sum(r[account_id].calls for r in self.results if account_id in r)

    def stopped(self) -> dict[str, PushResult]:
        """The shops whose push an earlier round stopped for the rest of the run (the shop's
        lock lost, the run's BASE budget spent, the token refused), with the result that says
        why: later rounds send them nothing. A BASE outage or hourly limit is tried again by
        the next round (a few calls, every ``push_every``)."""
        out: dict[str, PushResult] = {}
        for results in self.results:
            for account_id, result in results.items():
                if result.stopped_by in STICKY_STOPS and account_id not in out:
                    out[account_id] = result
        return out

    def merged(self) -> tuple[PricingPlan, dict[str, PushResult]]:
        """The run's plan and push results, as one (for its report)."""
        return merge_plans(self.plans), merge_push_results(self.results)
