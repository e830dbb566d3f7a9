"""Registering listings: from a shop's BASE items, or from a CSV file, and planning the import.

Bad rows are reported with what is wrong (and, for a CSV, the line number); good rows are still
imported. Nothing here talks to the database: it turns input into :class:`ListingRow` values and
decides (:func:`plan_listing_import`) which of them insert or update which stored listings;
:func:`ecauto_lib.db.upsert_listings` reads the stored listings and writes the plan.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ecauto_lib.asin import asin_in_identifier, is_isbn10, normalize_asin
from ecauto_lib.domain import ListingRow, Variation
from ecauto_lib.errors import InvalidAsinError
from ecauto_lib.stock import item_stock

if TYPE_CHECKING:
    from _csv import Reader

CSV_COLUMNS = ("account_id", "asin", "base_item_id")
# Each column's accepted header names, the first being the canonical one (compared ignoring
# case, width and spaces, so ＡＳＩＮ, asin and "商品 ID" match).
CSV_COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "account_id": ("account_id", "account", "アカウント", "アカウントID"),
    "asin": ("asin", "ASIN"),
    "base_item_id": ("base_item_id", "item_id", "商品ID"),
}
# What ``--encoding`` accepts, and the order detection tries them in (name shown in messages).
CSV_ENCODINGS = {"utf-8": "UTF-8", "cp932": "CP932"}


@dataclass
class ParsedListings:
    """Rows to register and the problems found on the way."""

    rows: list[ListingRow] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: int = 0  # items that are simply not Amazon listings (no ASIN in the identifier)
    isbns: list[str] = field(default_factory=list)  # identifiers read as a book's ISBN-10 (to say so)


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
        if is_isbn10(asin):
            parsed.isbns.append(
                f"{account_id}: item {item_id}: identifier {item.get('identifier')!r} taken as the "
                f"ISBN-10 (book ASIN) {asin}"
            )
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


def listings_from_csv(
    path: str | Path, known_accounts: set[str], encoding: str | None = None
) -> ParsedListings:
    """Rows of a CSV with the columns ``account_id,asin,base_item_id`` (header required; the names
    a seller types in Japanese are accepted too, see :data:`CSV_COLUMN_NAMES`).

    The file may be UTF-8 (with or without BOM), CP932 (Shift_JIS, as Excel saves "CSV" on
    Japanese Windows) or UTF-16 with BOM (Excel's "Unicode テキスト", tab-separated); ``encoding``
    (``utf-8`` or ``cp932``) forces one. A line that cannot be decoded is a line-numbered problem
    like any other bad row.
    """
    parsed = ParsedListings()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        parsed.problems.append(f"{path}: cannot be read ({exc.strerror})")
        return parsed
    lines, undecodable = decode_lines(data, encoding)
    parsed.problems += [f"{path}: line {n}: {problem}" for n, problem in undecodable]
    if not lines or lines[0] is None:
        return parsed  # no header to read (its line was reported above, or the file is empty)
    delimiter = "\t" if "\t" in lines[0] and "," not in lines[0] else ","
    reader = csv.reader((line if line is not None else "" for line in lines), delimiter=delimiter)
    header = next(reader, [])
    columns, problem = csv_columns(header)
    if problem:
        parsed.problems.append(f"{path}: line 1: {problem}")
        return parsed
    by_asin: dict[tuple[str, str], tuple[int, int]] = {}
    by_item: dict[tuple[str, int], tuple[str, int]] = {}
    for line, record in _numbered_rows(reader, columns, parsed, path):
        if lines[line - 1] is None:
            continue  # undecodable: reported above
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


def _numbered_rows(
    reader: Reader, columns: dict[str, int], parsed: ParsedListings, path: str | Path
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, {column: value})`` per non-empty row; a malformed row is a problem."""
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. an unterminated quote at the end of the file
            parsed.problems.append(f"{path}: line {getattr(reader, 'line_num', '?')}: not valid CSV ({exc})")
            return
        if not any(v.strip() for v in values):
            continue
        line = reader.line_num
        yield line, {name: values[i] if i < len(values) else "" for name, i in columns.items()}


def decode_lines(data: bytes, encoding: str | None = None) -> tuple[list[str | None], list[tuple[int, str]]]:
    """The file's lines as text (None for a line that cannot be decoded), and a problem per such line.

    Detection: a BOM says UTF-8 or UTF-16; otherwise the whole file is tried as UTF-8, then as
    CP932, and a file neither decodes whole is read line by line, each line in whichever of the
    two decodes it (the file's better one first).
    """
    if encoding is not None and encoding not in CSV_ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(CSV_ENCODINGS)}, got {encoding!r}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and encoding is None:
        try:
            return _split(data.decode("utf-16")), []
        except UnicodeDecodeError as exc:
            return [], [(1, f"cannot be read as UTF-16 ({exc.reason}); save the file as CSV UTF-8")]
    if data.startswith(b"\xef\xbb\xbf") and encoding in (None, "utf-8"):
        data, encoding = data[3:], "utf-8"
    candidates = [encoding] if encoding else list(CSV_ENCODINGS)
    for candidate in candidates:
        try:
            return _split(data.decode(candidate)), []
        except UnicodeDecodeError:
            continue
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    candidates.sort(key=lambda c: -sum(_decodes(raw, c) for raw in raw_lines))
    names = " or ".join(CSV_ENCODINGS[c] for c in candidates)
    lines: list[str | None] = []
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(raw_lines, start=1):
        text = next((raw.decode(c) for c in candidates if _decodes(raw, c)), None)
        if text is None:
            error = _decode_error(raw, candidates[0])
            problems.append(
                (
                    number,
                    f"cannot be read as {names} (byte 0x{error.object[error.start]:02x} at column "
                    f"{error.start + 1}); fix the line or save the file as CSV UTF-8",
                )
            )
        lines.append(None if text is None else text.rstrip("\r") + "\n")
    return lines, problems


def _split(text: str) -> list[str | None]:
    return [line + "\n" for line in text.splitlines()]


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _decode_error(raw: bytes, encoding: str) -> UnicodeDecodeError:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc
    raise AssertionError("decodes")  # pragma: no cover - only called for lines that do not


def csv_columns(header: Sequence[str]) -> tuple[dict[str, int], str | None]:
    """Which position holds each of :data:`CSV_COLUMNS` (by any of its names), or what is wrong."""
    found: dict[str, int] = {}
    for position, raw in enumerate(header):
        name = _column_key(raw)
        for column, names in CSV_COLUMN_NAMES.items():
            if name in {_column_key(n) for n in names}:
                if column in found:
                    return {}, f"columns {header[found[column]]!r} and {raw!r} both give {column}"
                found[column] = position
    missing = [c for c in CSV_COLUMNS if c not in found]
    if not missing:
        return found, None
    expected = ", ".join(
        f"{names[0]} (or {', '.join(names[1:])})" if len(names) > 1 else names[0]
        for names in CSV_COLUMN_NAMES.values()
    )
    has = ", ".join(h.strip() for h in header) or "nothing"
    return {}, f"missing column(s) {', '.join(missing)}; the header needs {expected}; it has {has}"


def _column_key(name: str) -> str:
    """Header names compared as a seller types them: full-width or not, any case, spaces ignored."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split()).lstrip("\ufeff")


def _csv_row(record: dict[str, str], known_accounts: set[str]) -> tuple[str | None, ListingRow | None]:
    record = {k: unicodedata.normalize("NFKC", v) for k, v in record.items()}  # full-width digits
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


# --------------------------------------------------------------------------------------------
# planning an import against the stored listings (the DB side is ecauto_lib.db.listings)


@dataclass
class KnownListing:
    """A listing as stored (``id`` None: about to be inserted by this import)."""

    id: int | None
    account_id: str
    asin: str
    base_item_id: int
    base_price: int | None
    base_visible: bool | None
    listed: bool
    base_stock: int | None = None
    base_variations: tuple[Variation, ...] | None = None


@dataclass
class ImportPlan:
    """What an import will write: new listings, changed stored listings, counts and conflicts."""

    inserts: list[KnownListing] = field(default_factory=list)
    updates: dict[int, KnownListing] = field(default_factory=dict)  # stored id → new values
    updated: int = 0
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)


def plan_listing_import(known: Iterable[KnownListing], rows: Iterable[ListingRow]) -> ImportPlan:
    """Decide, without touching the DB, what registering ``rows`` does against ``known`` listings.

    Same (account, ASIN, item id) → unchanged, or updated when it was delisted or BASE's price /
    visibility / stock / variations differ (a None never replaces a stored value). Same (account, ASIN) with another
    item id, or same (account, item id) with another ASIN → conflict. Otherwise → insert.
    Rows are taken in order, so a later row in the same import conflicts with an earlier one.
    """
    by_asin: dict[tuple[str, str], KnownListing] = {}
    by_item: dict[tuple[str, int], KnownListing] = {}
    for entry in known:
        by_asin[(entry.account_id, entry.asin)] = entry
        by_item[(entry.account_id, entry.base_item_id)] = entry
    plan = ImportPlan()
    for row in rows:
        same_asin = by_asin.get((row.account_id, row.asin))
        same_item = by_item.get((row.account_id, row.base_item_id))
        if same_asin is not None and same_asin.base_item_id == row.base_item_id:
            _plan_known_listing(plan, same_asin, row)
        elif same_asin is not None or same_item is not None:
            plan.conflicts.append(_conflict_message(row, same_asin, same_item))
        else:
            entry = KnownListing(
                None,
                row.account_id,
                row.asin,
                row.base_item_id,
                row.base_price,
                row.base_visible,
                True,
                row.base_stock,
                row.base_variations,
            )
            plan.inserts.append(entry)
            by_asin[(row.account_id, row.asin)] = entry
            by_item[(row.account_id, row.base_item_id)] = entry
    return plan


def _plan_known_listing(plan: ImportPlan, entry: KnownListing, row: ListingRow) -> None:
    """Count ``row`` (same ids as ``entry``) as updated or unchanged, refreshing ``entry``."""
    price = row.base_price if row.base_price is not None else entry.base_price
    visible = row.base_visible if row.base_visible is not None else entry.base_visible
    stock = row.base_stock if row.base_stock is not None else entry.base_stock
    variations = row.base_variations if row.base_variations is not None else entry.base_variations
    changed = (
        not entry.listed
        or price != entry.base_price
        or visible != entry.base_visible
        or stock != entry.base_stock
        or variations != entry.base_variations
    )
    entry.base_price, entry.base_visible, entry.listed = price, visible, True
    entry.base_stock, entry.base_variations = stock, variations
    if entry.id is None:  # a repeat of a row this import inserts: the insert carries the values
        plan.unchanged += 1
    elif changed:
        plan.updated += 1
        plan.updates[entry.id] = entry
    else:
        plan.unchanged += 1


def _conflict_message(row: ListingRow, same_asin: KnownListing | None, same_item: KnownListing | None) -> str:
    """Why ``row`` was refused, naming the account, ASINs and BASE item ids involved."""
    problems = []
    if same_asin is not None:
        problems.append(f"ASIN {row.asin} is already listed as BASE item {same_asin.base_item_id}")
    if same_item is not None and same_item.asin != row.asin:
        problems.append(f"BASE item {row.base_item_id} is already registered for ASIN {same_item.asin}")
    return (
        f"account {row.account_id}: {' and '.join(problems)}; "
        f"not registered: ASIN {row.asin} as BASE item {row.base_item_id}"
    )
