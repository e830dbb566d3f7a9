"""The ``listings`` table: the frame a run starts from, registering listings, BASE's stock.

A NULL never overwrites a stored value; timestamps must be timezone-aware and are stored as UTC.
Which listings an import inserts or updates is decided without the DB, by
:func:`ecauto_lib.listings_import.plan_listing_import`; this module reads and writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import pandas as pd
import sqlalchemy as sa

from ecauto_lib.asin import normalize_asin
from ecauto_lib.db.bulk import IN_CHUNK, batched, require_aware, utcnow
from ecauto_lib.db.engine import begin_write, dialect_insert
from ecauto_lib.db.models import UtcDateTime, listings, products
from ecauto_lib.domain import ItemStock, ListingRow, Variation
from ecauto_lib.listings_import import KnownListing, plan_listing_import

# Columns of load_listings(), in order, with their pandas dtypes.
ListingDtype = Literal["int64", "Int64", "str", "boolean", "datetime64[ns, UTC]"]
LISTING_DTYPES: dict[str, ListingDtype] = {
    "listing_id": "int64",
    "account_id": "str",
    "asin": "str",
    "base_item_id": "int64",
    "base_price": "Int64",
    "base_visible": "boolean",
    "base_stock": "Int64",
    "deferred_at": "datetime64[ns, UTC]",
    "amazon_price_yen": "Int64",
    "points": "Int64",
    "stock_state": "str",
    "last_outcome": "str",
    "info_fetched_at": "datetime64[ns, UTC]",
    "price_fetched_at": "datetime64[ns, UTC]",
    "stock_fetched_at": "datetime64[ns, UTC]",
    "listed_at": "datetime64[ns, UTC]",  # listings.created_at: when the listing was registered
}
LISTING_COLUMNS: list[str] = list(LISTING_DTYPES)

_LOAD_CHUNK = 10_000  # listing rows read and typed at a time


# --------------------------------------------------------------------------------------------
# listings → frame


def load_listings(engine: sa.Engine, account_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Listed (not delisted) listings of ``account_ids`` (all accounts if None), joined with products.

    Columns and dtypes are :data:`LISTING_DTYPES`; missing strings are NaN (pandas ``str`` dtype),
    missing integers ``<NA>``, missing timestamps ``NaT``. Rows are ordered deferred first
    (oldest ``deferred_at`` first), then by ``listing_id``.
    """
    dialect = engine.dialect.name
    stmt = (
        sa.select(
            listings.c.id.label("listing_id"),
            listings.c.account_id,
            listings.c.asin,
            listings.c.base_item_id,
            listings.c.base_price,
            _raw(listings.c.base_visible, dialect),
            listings.c.base_stock,
            _raw(listings.c.deferred_at, dialect),
            products.c.amazon_price_yen,
            products.c.points,
            products.c.stock_state,
            products.c.last_outcome,
            _raw(products.c.info_fetched_at, dialect),
            _raw(products.c.price_fetched_at, dialect),
            _raw(products.c.stock_fetched_at, dialect),
            _raw(listings.c.created_at, dialect).label("listed_at"),
        )
        .select_from(listings.outerjoin(products, listings.c.asin == products.c.asin))
        .where(listings.c.status == "listed")
    )
    if account_ids is not None:
        stmt = stmt.where(listings.c.account_id.in_(list(account_ids)))
    iso_text = dialect == "sqlite"
    with engine.connect() as conn:
        # In chunks, each cast to its dtypes at once: the raw rows of 100k listings as Python
        # objects would cost ~80 MB at the peak.
        parts = [
            _listing_frame_dtypes(chunk, iso_text=iso_text)
            for chunk in pd.read_sql(stmt, conn, chunksize=_LOAD_CHUNK)
        ]
    # (no rows: read_sql still yields one empty frame with the columns, so ``parts`` is never empty)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    # Sorted here rather than by ORDER BY: a vectorised sort is cheaper than SQLite's temp B-tree.
    # NaT sorts last, so deferred rows come first, oldest first; ties (and the rest) by listing_id.
    frame = frame.sort_values(["deferred_at", "listing_id"], na_position="last", kind="stable")
    return frame.reset_index(drop=True)


def _raw(column: sa.Column[Any], dialect: str) -> sa.ColumnElement[Any]:
    """``column`` without per-row Python conversion; pandas converts whole columns at once.

    SQLite hands back its stored naive-UTC text and 0/1 for booleans; PostgreSQL timestamps
    come as epoch microseconds.
    """
    if dialect == "sqlite":
        raw_type: sa.types.TypeEngine[Any] = (
            sa.Integer() if isinstance(column.type, sa.Boolean) else sa.String()
        )
        return sa.type_coerce(column, raw_type).label(column.name)
    if dialect == "postgresql" and isinstance(column.type, UtcDateTime):
        # Integer microseconds since the epoch: pandas converts integers far faster than
        # datetime objects.
        micros = sa.extract("epoch", column) * 1_000_000
        return sa.cast(micros, sa.BigInteger()).label(column.name)
    return column


def _listing_frame_dtypes(frame: pd.DataFrame, *, iso_text: bool) -> pd.DataFrame:
    """Cast ``frame`` to :data:`LISTING_DTYPES` (works for an empty frame too)."""
    columns: dict[str, pd.Series] = {}
    for name, dtype in LISTING_DTYPES.items():
        series = frame[name]
        if dtype.startswith("datetime64"):
            columns[name] = _utc_timestamps(series, iso_text=iso_text)
        else:  # "str" keeps None as NaN (pandas 3 string dtype)
            columns[name] = series.astype(dtype)
    return pd.DataFrame(columns, columns=LISTING_COLUMNS)


def _utc_timestamps(series: pd.Series, *, iso_text: bool) -> pd.Series:
    """A ``datetime64[ns, UTC]`` column from naive-UTC ISO text or aware datetimes."""
    if iso_text:
        # SQLite stores naive UTC text ("2025-01-01 12:00:00.000000"): parse and tag as UTC.
        parsed = pd.to_datetime(series.astype(object), format="ISO8601", utc=True)
    else:
        # PostgreSQL: microseconds since the epoch (see _raw); float64 holds them exactly.
        parsed = pd.to_datetime(series.astype("float64"), unit="us", utc=True)
    return parsed.astype("datetime64[ns, UTC]")


# --------------------------------------------------------------------------------------------
# registering listings


@dataclass
class ImportResult:
    """What :func:`upsert_listings` did with each row it was given.

    ``updated`` counts known listings whose stored row changed (listed again after a delisting,
    or a new BASE price/visibility); ``unchanged`` known listings with nothing to write.
    ``conflicts`` has one message per refused row, naming account, ASIN and item ids.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)


def upsert_listings(engine: sa.Engine, rows: Iterable[ListingRow]) -> ImportResult:
    """Register listings in one transaction; unknown ASINs get a bare ``products`` row.

    See :func:`plan_listing_import` for how each row is classified; conflicting rows are not
    written but reported in :attr:`ImportResult.conflicts`. A delisted listing seen again with
    the same ids is listed again. ASINs are normalised (upper case) and validated first
    (:class:`~ecauto_lib.errors.InvalidAsinError`, nothing written).
    """
    pending = [
        ListingRow(
            r.account_id,
            normalize_asin(r.asin),
            int(r.base_item_id),
            r.base_price,
            r.base_visible,
            r.base_stock,
            r.base_variations,
        )
        for r in rows
    ]
    result = ImportResult()
    now = utcnow()
    with begin_write(engine) as conn:
        # PostgreSQL: another worker may insert the same listing between our read and our insert
        # (ON CONFLICT DO NOTHING skips it); those rows are classified again against a new read.
        for _attempt in range(3):
            if not pending:
                break
            plan = plan_listing_import(_read_known(conn, {r.account_id for r in pending}), pending)
            result.updated += plan.updated
            result.unchanged += plan.unchanged
            result.conflicts.extend(plan.conflicts)
            _update_known(conn, sorted(plan.updates.values(), key=lambda e: e.id or 0), now)
            inserted = _insert_new(conn, plan.inserts, now)
            result.inserted += len(inserted)
            pending = [
                ListingRow(
                    e.account_id,
                    e.asin,
                    e.base_item_id,
                    e.base_price,
                    e.base_visible,
                    e.base_stock,
                    e.base_variations,
                )
                for e in plan.inserts
                if (e.account_id, e.asin, e.base_item_id) not in inserted
            ]
        for row in pending:
            result.conflicts.append(
                f"account {row.account_id}: ASIN {row.asin} as BASE item {row.base_item_id} "
                "was changed concurrently by another writer; not registered, import again"
            )
    return result


def _read_known(conn: sa.Connection, account_ids: set[str]) -> list[KnownListing]:
    """Every stored listing (listed or not) of ``account_ids``."""
    stmt = sa.select(
        listings.c.id,
        listings.c.account_id,
        listings.c.asin,
        listings.c.base_item_id,
        listings.c.base_price,
        listings.c.base_visible,
        listings.c.status,
        listings.c.base_stock,
        listings.c.base_variations,
    ).where(listings.c.account_id.in_(sorted(account_ids)))
    return [
        KnownListing(
            r.id,
            r.account_id,
            r.asin,
            r.base_item_id,
            r.base_price,
            r.base_visible,
            r.status == "listed",
            r.base_stock,
            None if r.base_variations is None else variations_from_json(r.base_variations),
        )
        for r in conn.execute(stmt)
    ]


def _update_known(conn: sa.Connection, entries: list[KnownListing], now: datetime) -> None:
    """List again and refresh BASE's price/visibility of stored listings (never with NULL)."""
    if not entries:
        return
    stmt = (
        sa.update(listings)
        .where(listings.c.id == sa.bindparam("_id"))
        .values(
            base_price=sa.func.coalesce(sa.bindparam("_price", type_=sa.Integer()), listings.c.base_price),
            base_visible=sa.func.coalesce(
                sa.bindparam("_visible", type_=sa.Boolean()), listings.c.base_visible
            ),
            base_stock=sa.func.coalesce(sa.bindparam("_stock", type_=sa.Integer()), listings.c.base_stock),
            base_variations=sa.case(
                (
                    sa.bindparam("_has_variations", type_=sa.Boolean()),
                    sa.bindparam("_variations", type_=sa.JSON()),
                ),
                else_=listings.c.base_variations,
            ),
            status="listed",
            delisted_reason=None,
            updated_at=sa.bindparam("_now", type_=UtcDateTime()),
        )
    )
    conn.execute(
        stmt,
        [
            {
                "_id": e.id,
                "_price": e.base_price,
                "_visible": e.base_visible,
                "_stock": e.base_stock,
                "_has_variations": e.base_variations is not None,
                "_variations": None if e.base_variations is None else variations_json(e.base_variations),
                "_now": now,
            }
            for e in entries
        ],
    )


def _insert_new(conn: sa.Connection, entries: list[KnownListing], now: datetime) -> set[tuple[str, str, int]]:
    """Insert new listings (and bare products); the (account, asin, item id) keys actually inserted."""
    if not entries:
        return set()
    entries = sorted(entries, key=lambda e: (e.account_id, e.asin))  # one lock order for all writers
    product_stmt = dialect_insert(conn, products).on_conflict_do_nothing(index_elements=[products.c.asin])
    conn.execute(
        product_stmt, [{"asin": asin, "updated_at": now} for asin in sorted({e.asin for e in entries})]
    )
    stmt = (
        dialect_insert(conn, listings)
        .on_conflict_do_nothing()  # any unique key: a concurrent writer got there first
        .returning(listings.c.account_id, listings.c.asin, listings.c.base_item_id)
    )
    params = [
        {
            "account_id": e.account_id,
            "asin": e.asin,
            "base_item_id": e.base_item_id,
            "base_price": e.base_price,
            "base_visible": e.base_visible,
            "base_stock": e.base_stock,
            "base_variations": None if e.base_variations is None else variations_json(e.base_variations),
            "status": "listed",
            "created_at": now,
            "updated_at": now,
        }
        for e in entries
    ]
    return {(r.account_id, r.asin, r.base_item_id) for r in conn.execute(stmt, params)}


# --------------------------------------------------------------------------------------------
# deferrals, delistings, BASE's stock and variations


def mark_deferred(engine: sa.Engine, account_id: str, base_item_ids: Iterable[int], at: datetime) -> None:
    """Flag items whose change the hourly BASE budget held back, so they go first next run.

    An item already deferred keeps its older ``deferred_at``. ``updated_at`` is left alone: a
    deferral schedules a change, it does not change the listing.
    """
    require_aware(at, "deferral time")
    item_ids = sorted({int(i) for i in base_item_ids})
    if not item_ids:
        return
    at_value = sa.literal(at, UtcDateTime())
    deferred_at = sa.case(
        (sa.or_(listings.c.deferred_at.is_(None), listings.c.deferred_at > at_value), at_value),
        else_=listings.c.deferred_at,
    )
    with begin_write(engine) as conn:
        for chunk in batched(item_ids, IN_CHUNK):
            conn.execute(
                sa.update(listings)
                .where(listings.c.account_id == account_id, listings.c.base_item_id.in_(chunk))
                .values(deferred_at=deferred_at)
            )


def mark_delisted(engine: sa.Engine, account_id: str, base_item_id: int, reason: str, at: datetime) -> None:
    """Set a listing to ``delisted`` (it drops out of :func:`load_listings`); no-op if unknown."""
    require_aware(at, "delisting time")
    with begin_write(engine) as conn:
        conn.execute(
            sa.update(listings)
            .where(listings.c.account_id == account_id, listings.c.base_item_id == base_item_id)
            .values(status="delisted", delisted_reason=reason, deferred_at=None, updated_at=at)
        )


def variations_json(variations: Sequence[Variation]) -> list[dict[str, Any]]:
    """Variations as stored in ``listings.base_variations``."""
    return [
        {"variation_id": v.variation_id, "stock": v.stock, "identifier": v.identifier, "name": v.name}
        for v in variations
    ]


def variations_from_json(value: Any) -> tuple[Variation, ...]:
    """The inverse of :func:`variations_json` (SQLite may hand back the JSON as text)."""
    entries = json.loads(value) if isinstance(value, str) else value
    return tuple(
        Variation(int(e["variation_id"]), e.get("stock"), e.get("identifier"), e.get("name") or "")
        for e in entries or ()
    )


def record_item_stock(engine: sa.Engine, account_id: str, stocks: Mapping[int, ItemStock]) -> None:
    """Record the stock (and variations) BASE showed for these items, in one transaction.

    A None stock keeps the stored one; the variations are replaced by those BASE showed.
    """
    if not stocks:
        return
    stmt = (
        sa.update(listings)
        .where(
            listings.c.account_id == account_id,
            listings.c.base_item_id == sa.bindparam("_item", type_=sa.BigInteger()),
        )
        .values(
            base_stock=sa.func.coalesce(sa.bindparam("_stock", type_=sa.Integer()), listings.c.base_stock),
            base_variations=sa.bindparam("_variations", type_=sa.JSON()),
        )
    )
    params = [
        {"_item": item_id, "_stock": s.stock, "_variations": variations_json(s.variations)}
        for item_id, s in sorted(stocks.items())
    ]
    with begin_write(engine) as conn:
        conn.execute(stmt, params)


def load_variations(
    engine: sa.Engine, account_ids: Sequence[str]
) -> dict[tuple[str, int], tuple[Variation, ...]]:
    """(account, item id) → stored variations, for the listed items of ``account_ids`` that have any."""
    stmt = sa.select(listings.c.account_id, listings.c.base_item_id, listings.c.base_variations).where(
        listings.c.status == "listed",
        listings.c.account_id.in_(list(account_ids)),
        listings.c.base_variations.is_not(None),
    )
    with engine.connect() as conn:
        found = {
            (r.account_id, int(r.base_item_id)): variations_from_json(r.base_variations)
            for r in conn.execute(stmt)
        }
    return {key: value for key, value in found.items() if value}
