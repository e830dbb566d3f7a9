"""What every task module shares: the retry rule and database engines per process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

import requests
import sqlalchemy as sa

from ecauto_lib.db import make_engine
from ecauto_lib.errors import TransientError, describe

__all__ = ["Answers", "answers", "describe", "engine_for", "retry_transient"]

T = TypeVar("T")

_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def retry_transient(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's callback signature
    """Retry only what can succeed later: 429, 5xx, timeouts, connection errors."""
    try:
        state.result()
    except (TransientError, requests.ConnectionError, requests.Timeout):
        return True
    except Exception:
        return False
    return False


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
