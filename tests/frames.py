"""Builders for listing frames shaped like ``ecauto_lib.db.load_listings`` output."""

from __future__ import annotations

from typing import Any

import pandas as pd

# The exact columns and dtypes load_listings() returns, so test frames match the real ones.
from ecauto_lib.db import LISTING_DTYPES
from ecauto_lib.domain import CHANGE_COLUMNS, HeldChange

_DEFAULTS: dict[str, Any] = {
    "account_id": "acc1",
    "base_price": None,
    "base_visible": True,
    "base_stock": None,
    "deferred_at": None,
    "amazon_price_yen": None,
    "points": None,
    "stock_state": "unknown",
    "last_outcome": None,
    "info_fetched_at": None,
    "price_fetched_at": None,
    "stock_fetched_at": None,
    "listed_at": None,
}


def listings_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A frame from partial rows: missing columns take defaults, ids are numbered."""
    records = []
    for i, row in enumerate(rows):
        record = {"listing_id": i + 1, "base_item_id": 1000 + i, **_DEFAULTS, **row}
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=list(LISTING_DTYPES))
    for column, dtype in LISTING_DTYPES.items():
        if dtype.startswith("datetime"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        else:
            frame[column] = frame[column].astype(dtype)
    return frame


def changes_frame(rows: list[list[Any]]) -> pd.DataFrame:
    """A planned-changes frame (``ecauto_lib.domain.CHANGE_COLUMNS``) from row lists."""
    frame = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    frame["old_value"] = frame["old_value"].astype("Int64")
    return frame


def held_changes(rows: list[list[Any]]) -> list[HeldChange]:
    """Stored held changes (what ``--confirm`` may release) from row lists in CHANGE_COLUMNS order."""
    return [HeldChange(*row) for row in rows]
