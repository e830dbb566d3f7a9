"""The ``runs`` table: one row per sync run, its mode, accounts, status, exit code and counts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ecauto_lib.db.bulk import require_aware
from ecauto_lib.db.engine import begin_write
from ecauto_lib.db.models import runs


def start_run(engine: sa.Engine, *, mode: str, accounts: Sequence[str], started_at: datetime) -> int:
    """Record the start of a run (status ``running``); returns its id.

    ``accounts`` is stored comma-separated.
    """
    require_aware(started_at, "started_at")
    if isinstance(accounts, str):
        raise TypeError("accounts must be a sequence of account ids, not one string")
    with begin_write(engine) as conn:
        result = conn.execute(
            sa.insert(runs).values(
                started_at=started_at, mode=mode, accounts=",".join(accounts), status="running"
            )
        )
        key = result.inserted_primary_key
        if key is None:  # only for an executemany or a RETURNING insert, neither of which this is
            raise RuntimeError("the database gave no id for the new run")
        return int(key[0])


def finish_run(
    engine: sa.Engine,
    run_id: int,
    *,
    status: str,
    exit_code: int,
    counts: Mapping[str, Any],
    finished_at: datetime,
) -> None:
    """Record how a run ended. ``counts`` is stored as JSON (numpy scalars become numbers).

    Raises LookupError when there is no run ``run_id``.
    """
    require_aware(finished_at, "finished_at")
    with begin_write(engine) as conn:
        result = conn.execute(
            sa.update(runs)
            .where(runs.c.id == run_id)
            .values(status=status, exit_code=exit_code, counts=_jsonable(counts), finished_at=finished_at)
        )
        if result.rowcount != 1:
            raise LookupError(f"no run with id {run_id}")


def _jsonable(value: Mapping[str, Any]) -> Any:
    """``value`` as plain JSON types (numpy/pandas scalars → numbers, datetimes → ISO text)."""
    return json.loads(json.dumps(dict(value), default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def last_tail(engine: sa.Engine, mode: str) -> timedelta | None:
    """How long the last finished run of ``mode`` went on after its fetch ended (its length less
    ``counts["fetch"]["ended_after_seconds"]``); None when no recent run of it recorded a fetch."""
    query = (
        sa.select(runs.c.started_at, runs.c.finished_at, runs.c.counts)
        .where(runs.c.mode == mode, runs.c.finished_at.is_not(None))
        .order_by(runs.c.id.desc())
        .limit(10)
    )
    with engine.connect() as conn:
        for started_at, finished_at, counts in conn.execute(query):
            ended_after = ((counts or {}).get("fetch") or {}).get("ended_after_seconds")
            if isinstance(ended_after, int | float):
                length = (finished_at - started_at).total_seconds()
                return timedelta(seconds=max(0.0, length - float(ended_after)))
    return None
