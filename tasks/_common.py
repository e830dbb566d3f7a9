"""What every task module shares: the retry rule and database engines per process."""

from __future__ import annotations

import threading

import requests
import sqlalchemy as sa

from ecauto_lib.db import make_engine
from ecauto_lib.errors import TransientError

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
