"""What every task module shares: the retry policy and database engines per process."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any, Generic, ParamSpec, TypeVar, cast

import requests
import sqlalchemy as sa
from prefect import State, Task
from prefect.client.schemas.objects import TaskRun
from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings
from prefect.tasks import exponential_backoff
from prefect.utilities.annotations import quote

from ecauto_lib.config import Settings
from ecauto_lib.db import make_engine
from ecauto_lib.errors import TransientError, describe
from ecauto_lib.settings_table import default

__all__ = [
    "Answers",
    "quiet_prefect",
    "answers",
    "as_is",
    "api_retries",
    "describe",
    "engine_for",
    "retry_transient",
    "with_retry_policy",
]

T = TypeVar("T")


def quiet_prefect(*, one_shot: bool = True) -> None:
    """Prefect settings every command line sets unless the seller did: no usage telemetry from
    Prefect's temporary server (offline it logs an error per attempt), and time for that server to
    start on a busy machine. Called by each flow's ``main`` before the first flow run.

    A ``one_shot`` command (everything but ``flows/serve.py``) also keeps the temporary server's own
    log at CRITICAL: Prefect stops that server the moment the command's flow ends, and a write it
    was flushing at that moment is cancelled and logged as an ERROR traceback on the seller's
    terminal, after a run that had ended cleanly. What went wrong in a run reaches the seller through
    the client and the report, not the server's log; a long-lived served loop keeps it."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # the server's own process reads it
    if one_shot:
        os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")  # the server's process reads it
    if "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS" in os.environ:
        return
    # This process read its settings when Prefect was imported, so the environment alone is too late
    # for the wait on the temporary server (it stayed at Prefect's 20 s): set it for the rest of the
    # command (entered for good: a command line runs one main).
    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "90"
    _QUIET.enter_context(temporary_settings(updates={PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 90}))


_QUIET = ExitStack()


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def retry_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only what can succeed later: 429, 5xx, timeouts, connection errors."""
    try:
        state.result()
    except (TransientError, requests.ConnectionError, requests.Timeout):
        return True
    except Exception:
        return False
    return False


RETRY_JITTER = 0.5  # each delay ±50 %, so runs that failed together do not retry together


def api_retries(retries: int, base_delay_seconds: float | None = None) -> dict[str, Any]:
    """The one retry policy of every task that calls an API, as task options: only transient
    failures (:func:`retry_transient`), ``retries`` times, after ``base_delay_seconds`` doubled
    each time (2, 4, 8, 16, 32 s by default: ECAUTO_RETRY_BASE_DELAY_SECONDS), with jitter."""
    base = default("ECAUTO_RETRY_BASE_DELAY_SECONDS") if base_delay_seconds is None else base_delay_seconds
    return {
        "retries": retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=base),
        "retry_jitter_factor": RETRY_JITTER,
        "retry_condition_fn": retry_transient,
    }


P = ParamSpec("P")
R = TypeVar("R")


def with_retry_policy(task: Task[P, R], settings: Settings) -> Task[P, R]:
    """``task`` with the retry policy at this run's ECAUTO_RETRY_BASE_DELAY_SECONDS (Prefect fixes
    a task's delays when it is defined: a setting read at run time is applied here)."""
    options = api_retries(task.retries, settings.retry_base_delay_seconds)
    return task.with_options(**options)


def engine_for(database_url: str) -> sa.Engine:
    """One engine (connection pool) per database URL and process; tasks pass URLs, not engines."""
    with _engines_lock:
        engine = _engines.get(database_url)
        if engine is None:
            engine = _engines[database_url] = make_engine(database_url)
        return engine


class Answers(Generic[T]):
    """A fetch task's list of answers, returned as one object.

    Prefect links each element of a returned list to its task run, in a dict kept until the flow
    ends (one entry per ASIN: about 30 MB at 100k ASINs); a single object is linked once.
    """

    # Weak-referenceable: Prefect keys results by id() and checks identity through a weak reference,
    # so a later object at a freed result's address is not mistaken for it.
    __slots__ = ("items", "__weakref__")

    def __init__(self, items: list[T]) -> None:
        self.items = items

    def __iter__(self) -> Iterator[T]:  # an older version reading a newer cached result iterates it
        return iter(self.items)

    def __repr__(self) -> str:
        return f"Answers({len(self.items)} items)"


def answers(result: Any) -> list[Any]:
    """The list inside a fetch task's result (a plain list: a result cached by an earlier version)."""
    return result.items if isinstance(result, Answers) else list(result)


_Value = TypeVar("_Value")


def as_is(value: _Value) -> _Value:
    """``value`` handed to a task without Prefect walking it for futures (Prefect's ``quote``: 19 s
    at 100k observations otherwise). Typed as the value, which is what the task receives."""
    return cast(_Value, quote(value))
