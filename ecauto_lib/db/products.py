"""The ``products`` table: SP-API observations and catalog facts, one row per ASIN.

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
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ecauto_lib.db.bulk import IN_CHUNK, batched, occurrence_rounds, require_aware, utcnow
from ecauto_lib.db.engine import begin_write, dialect_insert
from ecauto_lib.db.models import products
from ecauto_lib.domain import CatalogInfo, Observation, Outcome, StockState

_WRITE_CHUNK = 2_000  # observation rows built and sent at a time


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
    observed_at = require_aware(observation.observed_at, f"observed_at of {observation.asin}")
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
    now = utcnow()

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
    now = utcnow()

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
            "info_fetched_at": require_aware(info.observed_at, f"observed_at of {info.asin}"),
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
    chunks = batched(items, _WRITE_CHUNK)
    first = next(chunks, None)
    if first is None:
        return 0
    written = 0
    with begin_write(engine) as conn:
        stmt = upsert(dialect_insert(conn, products))
        for chunk in itertools.chain([first], chunks):
            rows = [to_row(item) for item in chunk]
            for batch in occurrence_rounds(rows, "asin"):
                conn.execute(stmt, batch)
            written += len(rows)
    return written


def stock_states(engine: sa.Engine, asins: Iterable[str]) -> dict[str, str]:
    """The stored stock state of each of ``asins`` the products table knows."""
    wanted = sorted(set(asins))
    states: dict[str, str] = {}
    with engine.connect() as conn:
        for chunk in batched(wanted, IN_CHUNK):
            stmt = sa.select(products.c.asin, products.c.stock_state).where(products.c.asin.in_(chunk))
            states.update({r.asin: r.stock_state for r in conn.execute(stmt)})
    return states
