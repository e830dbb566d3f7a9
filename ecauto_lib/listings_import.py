"""Registering listings: from a shop's BASE items, or from a CSV file.

Bad rows are reported with what is wrong (and, for a CSV, the line number); good rows are still
imported. Nothing here talks to the database: it turns input into :class:`ListingRow` values.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecauto_lib.asin import asin_in_identifier, normalize_asin
from ecauto_lib.domain import ListingRow
from ecauto_lib.errors import InvalidAsinError
from ecauto_lib.stock import item_stock

CSV_COLUMNS = ("account_id", "asin", "base_item_id")


@dataclass
class ParsedListings:
    """Rows to register and the problems found on the way."""

    rows: list[ListingRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: int = 0  # items that are simply not Amazon listings (no ASIN in the identifier)


def listings_from_base_items(account_id: str, items: Iterable[dict[str, Any]]) -> ParsedListings:
    """Items whose ``identifier`` is an ASIN or holds one as a ``-``-separated token."""
    parsed = ParsedListings()
    seen_asins: dict[str, int] = {}
    for item in items:
        item_id = item.get("item_id")
        asin = asin_in_identifier(item.get("identifier"))
        if asin is None:
            parsed.skipped += 1
            continue
        if not isinstance(item_id, int):
            parsed.problems.append(
                f"{account_id}: item with identifier {item.get('identifier')!r} has no item_id"
            )
            continue
        if asin in seen_asins:
            parsed.problems.append(
                f"{account_id}: ASIN {asin} is listed twice (items {seen_asins[asin]} and {item_id}); "
                f"item {item_id} not imported"
            )
            continue
        seen_asins[asin] = item_id
        price = item.get("price")
        visible = item.get("visible")
        stock = item_stock(item)
        parsed.rows.append(
            ListingRow(
                account_id=account_id,
                asin=asin,
                base_item_id=item_id,
                base_price=price if isinstance(price, int) else None,
                base_visible=None if visible not in (0, 1) else bool(visible),
                base_stock=stock.stock,
                base_variations=stock.variations,
            )
        )
    return parsed


def listings_from_csv(path: str | Path, known_accounts: set[str]) -> ParsedListings:
    """Rows of a CSV with the columns ``account_id,asin,base_item_id`` (header required)."""
    parsed = ParsedListings()
    file = Path(path)
    try:
        handle = file.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        parsed.problems.append(f"{path}: cannot be read ({exc.strerror})")
        return parsed
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            parsed.problems.append(
                f"{path}: line 1: missing column(s) {', '.join(missing)} (need {','.join(CSV_COLUMNS)})"
            )
            return parsed
        by_asin: dict[tuple[str, str], tuple[int, int]] = {}
        by_item: dict[tuple[str, int], tuple[str, int]] = {}
        for record in reader:
            line = reader.line_num
            problem, row = _csv_row(record, known_accounts)
            if problem:
                parsed.problems.append(f"{path}: line {line}: {problem}")
                continue
            assert row is not None
            earlier = by_asin.get((row.account_id, row.asin))
            if earlier and earlier[0] == row.base_item_id:
                continue  # an exact duplicate row: harmless
            if earlier:
                parsed.problems.append(
                    f"{path}: line {line}: {row.account_id} {row.asin} has item {row.base_item_id} here but "
                    f"item {earlier[0]} on line {earlier[1]}"
                )
                continue
            other = by_item.get((row.account_id, row.base_item_id))
            if other:
                parsed.problems.append(
                    f"{path}: line {line}: {row.account_id} item {row.base_item_id} is given for {row.asin} here "
                    f"but for {other[0]} on line {other[1]}"
                )
                continue
            by_asin[(row.account_id, row.asin)] = (row.base_item_id, line)
            by_item[(row.account_id, row.base_item_id)] = (row.asin, line)
            parsed.rows.append(row)
    return parsed


def _csv_row(record: dict[str, str | None], known_accounts: set[str]) -> tuple[str | None, ListingRow | None]:
    account_id = (record.get("account_id") or "").strip()
    if account_id not in known_accounts:
        return f"unknown account id {account_id!r}", None
    try:
        asin = normalize_asin(record.get("asin") or "")
    except InvalidAsinError as exc:
        return str(exc), None
    raw_id = (record.get("base_item_id") or "").strip()
    if not raw_id.isdigit() or int(raw_id) <= 0:
        return f"base_item_id must be a positive whole number, got {raw_id!r}", None
    return None, ListingRow(account_id=account_id, asin=asin, base_item_id=int(raw_id))
