"""Helpers the table modules share: UTC times, chunking, one-row-per-statement rounds.

Every writer in ``ecauto_lib.db`` sends its rows in bulk, column-wise, one short transaction per
call; timestamps must be timezone-aware and are stored as UTC.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

IN_CHUNK = 500  # ids per IN (...) list: far below every backend's bound-parameter limit


def utcnow() -> datetime:
    return datetime.now(UTC)


def require_aware(value: datetime, what: str) -> datetime:
    """``value`` if it is timezone-aware, else a ValueError naming ``what``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


def occurrence_rounds(rows: list[dict[str, Any]], key: str) -> list[list[dict[str, Any]]]:
    """Split ``rows`` so no round holds the same ``key`` twice, keeping each key's order.

    One upsert statement must not touch a row twice (PostgreSQL refuses it when batched);
    round *k* holds the *k*-th occurrence of every key. Usually there is a single round. Each
    round is sorted by ``key``, so concurrent writers lock rows in the same order (no deadlock).
    """
    seen: Counter[Any] = Counter()
    rounds: list[list[dict[str, Any]]] = []
    for row in rows:
        index = seen[row[key]]
        seen[row[key]] += 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(row)
    return [sorted(batch, key=lambda row: row[key]) for batch in rounds]


def batched(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to ``size`` items from any iterable (``itertools.batched`` is Python 3.12+)."""
    iterator = iter(values)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
