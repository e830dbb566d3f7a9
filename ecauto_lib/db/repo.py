"""Reads and writes of the master DB: bulk, column-wise, one short transaction per call.

Rules every writer here keeps:

* **A NULL never overwrites a stored value.** Upserts are ``INSERT ... ON CONFLICT DO UPDATE SET
  col = COALESCE(excluded.col, table.col)``: race-free on PostgreSQL with several workers, and
  on SQLite inside a ``BEGIN IMMEDIATE`` transaction (:func:`~ecauto_lib.db.engine.begin_write`).
* **An error never changes stock state.** An ``error`` observation records only the fetch
  outcome (``last_outcome``, ``last_reason``, ``last_error_at``).
* **An older answer never overwrites a newer one.** Products columns are written only when the
  incoming observation (or catalog fact) is at least as new as the stored one, by its fetch
  time: two runs that overlap may write in either order.
* Timestamps must be timezone-aware; they are stored as UTC.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from ecauto_lib.asin import normalize_asin
from ecauto_lib.db.engine import begin_write, dialect_insert
from ecauto_lib.db.models import (
    CHANGE_FIELDS,
    UtcDateTime,
    change_history,
    listings,
    products,
    runs,
)
from ecauto_lib.domain import (
    CatalogInfo,
    ItemStock,
    ListingRow,
    Observation,
    Outcome,
    PushedChange,
    StockState,
    Variation,
)

# Columns of load_listings(), in order, with their pandas dtypes.
LISTING_DTYPES: dict[str, str] = {
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

_IN_CHUNK = 500  # ids per IN (...) list: far below every backend's bound-parameter limit
_WRITE_CHUNK = 2_000  # observation rows built and sent at a time
_LOAD_CHUNK = 10_000  # listing rows read and typed at a time


# --------------------------------------------------------------------------------------------
# helpers


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _require_aware(value: datetime, what: str) -> datetime:
    """``value`` if it is timezone-aware, else a ValueError naming ``what``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


def _occurrence_rounds(rows: list[dict[str, Any]], key: str) -> list[list[dict[str, Any]]]:
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


def _batched(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to ``size`` items from any iterable (``itertools.batched`` is Python 3.12+)."""
    iterator = iter(values)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


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
# products


_OBSERVATION_COLUMNS = (
    "asin",
    "amazon_price_yen",
    "shipping_yen",
    "points",
    "price_fetched_at",
    "price_source",
    "stock_state",
    "offer_count",
    "stock_fetched_at",
    "last_outcome",
    "last_reason",
    "last_error_at",
    "updated_at",
)
# An older answer never overwrites a newer one (two runs can overlap: the one that fetched first
# may write last). Each group of columns is written only when the observation is at least as new
# as what the row holds for that group, judged by the group's own fetch time; within a group a
# NULL still never overwrites.
_PRICE_COLUMNS = (  # by price_fetched_at
    "amazon_price_yen",
    "shipping_yen",
    "points",
    "price_fetched_at",
    "price_source",
)
_STOCK_COLUMNS = ("offer_count", "stock_fetched_at")  # and stock_state, by stock_fetched_at
_OUTCOME_COLUMNS = ("last_error_at",)  # and last_outcome/last_reason, by the observation's own time


def observation_row(observation: Observation, updated_at: datetime) -> dict[str, Any]:
    """The ``products`` columns one observation writes (None = leave the stored value alone).

    * in_stock: price, shipping, points, where the price came from, offer count, stock state, both
      fetch times;
    * out_of_stock / filtered_out: stock state, offer count, stock fetch time (price untouched);
    * error: only ``last_error_at`` (``stock_state`` is ``unknown`` for a brand-new row only; the
      upsert keeps the stored state).

    ``last_outcome`` and ``last_reason`` are always written as a pair, ``last_reason`` even when
    None: a reason left over from an earlier outcome would describe the wrong fetch.
    """
    observed_at = _require_aware(observation.observed_at, f"observed_at of {observation.asin}")
    outcome = Outcome(observation.outcome)
    row: dict[str, Any] = dict.fromkeys(_OBSERVATION_COLUMNS)
    row.update(
        asin=observation.asin,
        last_outcome=outcome.value,
        last_reason=observation.reason,
        updated_at=updated_at,
    )
    if outcome is Outcome.ERROR:
        row.update(stock_state=StockState.UNKNOWN.value, last_error_at=observed_at)
        return row
    row.update(stock_state=outcome.value, offer_count=observation.offer_count, stock_fetched_at=observed_at)
    if outcome is Outcome.IN_STOCK:
        if observation.price_yen is None:
            raise ValueError(f"in_stock observation of {observation.asin} has no price_yen")
        row.update(
            amazon_price_yen=observation.price_yen,
            shipping_yen=observation.shipping_yen,
            points=observation.points,
            price_fetched_at=observed_at,
            price_source=None if observation.price_source is None else str(observation.price_source),
        )
    return row


def upsert_observations(engine: sa.Engine, observations: Iterable[Observation]) -> int:
    """Write SP-API observations into ``products`` in one transaction; returns how many.

    Missing products are inserted. See :func:`observation_row` for which columns each outcome
    writes; NULLs never overwrite, and an error keeps the stored ``stock_state``. Several
    observations of one ASIN are applied in the order given. Rows are built and sent
    :data:`_WRITE_CHUNK` at a time (100k row dicts at once cost ~100 MB).
    """
    now = _utcnow()

    def upsert(stmt: Any) -> Any:
        excluded = stmt.excluded
        newer_stock = _at_least_as_new(excluded.stock_fetched_at, products.c.stock_fetched_at)
        observed = sa.func.coalesce(excluded.stock_fetched_at, excluded.last_error_at)
        newest_answer = sa.and_(
            _not_older(observed, products.c.stock_fetched_at), _not_older(observed, products.c.last_error_at)
        )
        return stmt.on_conflict_do_update(
            index_elements=[products.c.asin],
            set_={
                **_when(
                    _at_least_as_new(excluded.price_fetched_at, products.c.price_fetched_at),
                    stmt,
                    _PRICE_COLUMNS,
                ),
                **_when(newer_stock, stmt, _STOCK_COLUMNS),
                # an error has no stock_fetched_at: it never changes the stored stock state
                "stock_state": sa.case((newer_stock, excluded.stock_state), else_=products.c.stock_state),
                **_when(newest_answer, stmt, _OUTCOME_COLUMNS),
                "last_outcome": sa.case(
                    (newest_answer, excluded.last_outcome), else_=products.c.last_outcome
                ),
                "last_reason": sa.case((newest_answer, excluded.last_reason), else_=products.c.last_reason),
                "updated_at": excluded.updated_at,
            },
        )

    return _upsert_products(engine, observations, upsert, lambda o: observation_row(o, now))


def _at_least_as_new(new: Any, stored: Any) -> sa.ColumnElement[bool]:
    """The incoming time is set and not older than the stored one (or nothing is stored)."""
    return sa.and_(new.is_not(None), _not_older(new, stored))


def _not_older(new: Any, stored: Any) -> sa.ColumnElement[bool]:
    return sa.or_(stored.is_(None), new >= stored)


def _when(condition: sa.ColumnElement[bool], stmt: Any, columns: Iterable[str]) -> dict[str, Any]:
    """SET clauses writing ``columns`` (a NULL never overwrites) only where ``condition`` holds."""
    return {
        c: sa.case((condition, sa.func.coalesce(stmt.excluded[c], products.c[c])), else_=products.c[c])
        for c in columns
    }


def upsert_catalog(engine: sa.Engine, infos: Iterable[CatalogInfo]) -> int:
    """Write catalog facts (title, brand, image URL, fetch time) in one transaction; returns how many.

    Missing products are inserted (stock ``unknown``); a None field keeps the stored value. Rows
    are built and sent :data:`_WRITE_CHUNK` at a time.
    """
    now = _utcnow()

    def upsert(stmt: Any) -> Any:
        return stmt.on_conflict_do_update(
            index_elements=[products.c.asin],
            set_={
                **_when(
                    _at_least_as_new(stmt.excluded.info_fetched_at, products.c.info_fetched_at),
                    stmt,
                    ("title", "brand", "image_url", "info_fetched_at"),
                ),
                "updated_at": stmt.excluded.updated_at,
            },
        )

    def row(info: CatalogInfo) -> dict[str, Any]:
        return {
            "asin": info.asin,
            "title": info.title,
            "brand": info.brand,
            "image_url": info.image_url,
            "info_fetched_at": _require_aware(info.observed_at, f"observed_at of {info.asin}"),
            "updated_at": now,
        }

    return _upsert_products(engine, infos, upsert, row)


def _upsert_products(
    engine: sa.Engine,
    items: Iterable[Any],
    upsert: Callable[[Any], Any],
    to_row: Callable[[Any], dict[str, Any]],
) -> int:
    """Upsert ``items`` into ``products`` in one transaction, :data:`_WRITE_CHUNK` rows at a time;
    ``upsert`` turns the dialect's INSERT into its ON CONFLICT statement. Several rows of one
    ASIN are applied in the order given. Returns how many were written (nothing opened for none)."""
    chunks = _batched(items, _WRITE_CHUNK)
    first = next(chunks, None)
    if first is None:
        return 0
    written = 0
    with begin_write(engine) as conn:
        stmt = upsert(dialect_insert(conn, products))
        for chunk in itertools.chain([first], chunks):
            rows = [to_row(item) for item in chunk]
            for batch in _occurrence_rounds(rows, "asin"):
                conn.execute(stmt, batch)
            written += len(rows)
    return written


# --------------------------------------------------------------------------------------------
# listings


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
    now = _utcnow()
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


def apply_pushed_changes(engine: sa.Engine, run_id: int | None, changes: Iterable[PushedChange]) -> None:
    """Record changes BASE confirmed, in one transaction.

    Each change sets ``listings.base_price`` (field ``price``), ``listings.base_visible`` (field
    ``visible``, 1/0 → True/False) or ``listings.base_stock`` (field ``stock`` of the item itself)
    of its (account, item id), clears ``deferred_at``, sets ``updated_at`` to the change's time,
    and adds one ``change_history`` row. A variation's stock change is history only: the item's
    stock and variations are recorded from BASE's answer (:func:`record_item_stock`).
    """
    changes = _checked_changes(changes)
    if not changes:
        return
    with begin_write(engine) as conn:
        write_pushed_changes(conn, run_id, changes)


def _checked_changes(changes: Iterable[PushedChange]) -> list[PushedChange]:
    changes = list(changes)
    for change in changes:
        if change.field not in CHANGE_FIELDS:
            raise ValueError(f"unknown change field {change.field!r} (expected one of {CHANGE_FIELDS})")
        _require_aware(change.at, f"time of the {change.field} change of item {change.base_item_id}")
    return changes


def write_pushed_changes(conn: sa.Connection, run_id: int | None, changes: Sequence[PushedChange]) -> None:
    """The body of :func:`apply_pushed_changes`, inside the caller's transaction."""
    changes = _checked_changes(changes)
    if not changes:
        return
    for field_name, column in (("price", "base_price"), ("visible", "base_visible"), ("stock", "base_stock")):
        params = [
            {
                "_account": c.account_id,
                "_item": c.base_item_id,
                "_new": bool(c.new_value) if field_name == "visible" else c.new_value,
                "_at": c.at,
            }
            # sorted (stably) so concurrent writers lock rows in the same order
            for c in sorted(changes, key=lambda c: (c.account_id, c.base_item_id))
            if c.field == field_name and c.variation_id is None
        ]
        if params:
            conn.execute(_listing_change_update(column), params)
    conn.execute(
        sa.insert(change_history),
        [
            {
                "run_id": run_id,
                "account_id": c.account_id,
                "asin": c.asin,
                "base_item_id": c.base_item_id,
                "field": c.field,
                "old_value": c.old_value,
                "new_value": c.new_value,
                "reason": c.reason,
                "at": c.at,
                "variation_id": c.variation_id,
            }
            for c in changes
        ],
    )


def _listing_change_update(column: str) -> sa.Update:
    """UPDATE of one listing column by (account, item id), clearing the deferral."""
    value_type: sa.types.TypeEngine[Any] = sa.Boolean() if column == "base_visible" else sa.Integer()
    return (
        sa.update(listings)
        .where(
            listings.c.account_id == sa.bindparam("_account"),
            listings.c.base_item_id == sa.bindparam("_item", type_=sa.BigInteger()),
        )
        .values(
            {
                column: sa.bindparam("_new", type_=value_type),
                "deferred_at": None,
                "updated_at": sa.bindparam("_at", type_=UtcDateTime()),
            }
        )
    )


def mark_deferred(engine: sa.Engine, account_id: str, base_item_ids: Iterable[int], at: datetime) -> None:
    """Flag items whose change the hourly BASE budget held back, so they go first next run.

    An item already deferred keeps its older ``deferred_at``. ``updated_at`` is left alone: a
    deferral schedules a change, it does not change the listing.
    """
    _require_aware(at, "deferral time")
    item_ids = sorted({int(i) for i in base_item_ids})
    if not item_ids:
        return
    at_value = sa.literal(at, UtcDateTime())
    deferred_at = sa.case(
        (sa.or_(listings.c.deferred_at.is_(None), listings.c.deferred_at > at_value), at_value),
        else_=listings.c.deferred_at,
    )
    with begin_write(engine) as conn:
        for chunk in _batched(item_ids, _IN_CHUNK):
            conn.execute(
                sa.update(listings)
                .where(listings.c.account_id == account_id, listings.c.base_item_id.in_(chunk))
                .values(deferred_at=deferred_at)
            )


def mark_delisted(engine: sa.Engine, account_id: str, base_item_id: int, reason: str, at: datetime) -> None:
    """Set a listing to ``delisted`` (it drops out of :func:`load_listings`); no-op if unknown."""
    _require_aware(at, "delisting time")
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


def stock_states(engine: sa.Engine, asins: Iterable[str]) -> dict[str, str]:
    """The stored stock state of each of ``asins`` the products table knows."""
    wanted = sorted(set(asins))
    states: dict[str, str] = {}
    with engine.connect() as conn:
        for chunk in _batched(wanted, _IN_CHUNK):
            stmt = sa.select(products.c.asin, products.c.stock_state).where(products.c.asin.in_(chunk))
            states.update({r.asin: r.stock_state for r in conn.execute(stmt)})
    return states


# --------------------------------------------------------------------------------------------
# runs


def start_run(engine: sa.Engine, *, mode: str, accounts: Sequence[str], started_at: datetime) -> int:
    """Record the start of a run (status ``running``); returns its id.

    ``accounts`` is stored comma-separated.
    """
    _require_aware(started_at, "started_at")
    if isinstance(accounts, str):
        raise TypeError("accounts must be a sequence of account ids, not one string")
    with begin_write(engine) as conn:
        result = conn.execute(
            sa.insert(runs).values(
                started_at=started_at, mode=mode, accounts=",".join(accounts), status="running"
            )
        )
        return int(result.inserted_primary_key[0])


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
    _require_aware(finished_at, "finished_at")
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
