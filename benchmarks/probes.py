"""Phase timers: wall time and CPU time of named functions, wrapped from outside.

The benchmark does not edit the pipeline to measure it: it wraps functions where the flow and
its tasks look them up (module attributes) and restores them afterwards. Each wrapped call
adds its wall seconds, the process CPU seconds spent meanwhile (all threads) and the calling
thread's own CPU seconds to a :class:`PhaseClock` entry.

Process CPU is the right measure for phases the flow runs one after another (nothing else is
busy then); thread CPU is the right one for calls that run in parallel worker threads (the
per-item DB writes of the BASE push).
"""

from __future__ import annotations

import functools
import gc
import importlib
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class PhaseTotals:
    """What one named phase cost over all its calls."""

    calls: int = 0
    wall: float = 0.0
    process_cpu: float = 0.0
    thread_cpu: float = 0.0
    peak_rss_mb_after: float = 0.0  # the process's peak RSS when the phase last ended


class PhaseClock:
    """Thread-safe accumulator of :class:`PhaseTotals` by phase name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phases: dict[str, PhaseTotals] = {}

    def add(self, name: str, wall: float, process_cpu: float, thread_cpu: float) -> None:
        peak = peak_rss_mb()
        with self._lock:
            totals = self.phases.setdefault(name, PhaseTotals())
            totals.calls += 1
            totals.wall += wall
            totals.process_cpu += process_cpu
            totals.thread_cpu += thread_cpu
            totals.peak_rss_mb_after = max(totals.peak_rss_mb_after, peak)

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as one call of phase ``name``."""
        wall0, cpu0, thread0 = time.perf_counter(), time.process_time(), time.thread_time()
        try:
            yield
        finally:
            self.add(
                name,
                time.perf_counter() - wall0,
                time.process_time() - cpu0,
                time.thread_time() - thread0,
            )

    def wrap(
        self, name: str, func: Callable[..., Any], label: Callable[[Any], str] | None = None
    ) -> Callable[..., Any]:
        """``func`` timed as phase ``name`` (same signature and result).

        ``func`` may be any callable (a Prefect task too); with ``label`` the phase is
        ``name[label(first argument)]``.
        """

        def timed(*args: Any, **kwargs: Any) -> Any:
            phase = f"{name}[{label(args[0])}]" if label is not None and args else name
            with self.measure(phase):
                return func(*args, **kwargs)

        functools.update_wrapper(timed, func, updated=())
        return timed

    def as_dict(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {name: _rounded(asdict(t)) for name, t in sorted(self.phases.items())}


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


@dataclass(frozen=True)
class Probe:
    """Wrap ``module.attribute`` (``attribute`` may be dotted: ``Class.method``) as phase ``phase``.

    With ``label``, the phase name gets a suffix computed from the call's first argument (for a
    method: ``self``), e.g. the shop a BASE client belongs to.
    """

    module: str
    attribute: str
    phase: str
    label: Callable[[Any], str] | None = None


@contextmanager
def installed(clock: PhaseClock, probes: Iterable[Probe]) -> Iterator[list[str]]:
    """Wrap every probe's target for the ``with`` block; yields the probes that were missing.

    A target that does not exist (renamed upstream) is skipped and reported, never fatal: the
    benchmark then shows that phase as absent rather than crashing.
    """
    saved: list[tuple[Any, str, Any]] = []
    missing: list[str] = []
    try:
        for probe in probes:
            owner: Any = importlib.import_module(probe.module)
            *path, name = probe.attribute.split(".")
            for part in path:
                owner = getattr(owner, part, None)
            original = getattr(owner, name, None) if owner is not None else None
            if original is None:
                missing.append(f"{probe.module}.{probe.attribute}")
                continue
            saved.append((owner, name, original))
            setattr(owner, name, clock.wrap(probe.phase, original, probe.label))
        yield missing
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``. Not ``ru_maxrss``: Linux folds the parent's
    high-water mark into it across fork + exec, so a process started by a big parent would
    report the parent's peak. Elsewhere ``ru_maxrss`` (KiB on Linux/BSD, bytes on macOS).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0


def process_cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class GcPauses:
    """Records the garbage collector's pauses (``gc.callbacks``) while installed.

    A full (generation 2) collection of a large heap stops every thread for tens of
    milliseconds: long enough, at a high time scale, to delay a paced call.
    """

    def __init__(self, threshold_seconds: float = 0.02) -> None:
        self.threshold = threshold_seconds
        self.count = 0
        self.total = 0.0
        self.longest = 0.0
        self.long_pauses: list[tuple[float, int, float]] = []  # (monotonic start, generation, seconds)
        self._started: float | None = None

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.monotonic()
            return
        if self._started is None:
            return
        pause = time.monotonic() - self._started
        self.count += 1
        self.total += pause
        self.longest = max(self.longest, pause)
        if pause >= self.threshold:
            self.long_pauses.append((self._started, int(info.get("generation", -1)), pause))
        self._started = None

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc_info: object) -> None:
        gc.callbacks.remove(self._callback)

    def as_dict(self) -> dict[str, Any]:
        return {
            "collections": self.count,
            "total_seconds": round(self.total, 4),
            "longest_seconds": round(self.longest, 4),
            "long_pauses": [(round(t, 4), g, round(p, 4)) for t, g, p in self.long_pauses],
        }
