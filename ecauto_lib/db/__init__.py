"""The master DB: schema (Alembic migrations), engines, bulk reads/writes, the BASE token store.

One module per table group: ``products``, ``listings`` (with ``changes`` for what BASE confirmed,
``change_history``), ``runs``, ``held``, ``journal``, ``locks``, ``quota``, ``tokens``, ``blocks``;
``bulk`` has the helpers they share. The names below are the ones callers use.

SQLite at ``data/master.db`` by default, or any SQLAlchemy URL in ``DATABASE_URL`` (PostgreSQL,
``postgresql+psycopg://...``, when several workers write). Plain Python: no Prefect here.
"""

from ecauto_lib.db.changes import apply_pushed_changes
from ecauto_lib.db.engine import (
    DEFAULT_DATABASE_URL,
    begin_write,
    check_database,
    make_engine,
    safe_url,
    schema_is_current,
    upgrade,
)
from ecauto_lib.db.listings import (
    LISTING_COLUMNS,
    LISTING_DTYPES,
    ImportResult,
    load_listings,
    load_variations,
    mark_deferred,
    mark_delisted,
    record_item_stock,
    upsert_listings,
)
from ecauto_lib.db.models import UtcDateTime
from ecauto_lib.db.products import stock_states, upsert_catalog, upsert_observations
from ecauto_lib.db.runs import finish_run, start_run
from ecauto_lib.db.tokens import DbTokenStore, TokenStoreError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "LISTING_COLUMNS",
    "LISTING_DTYPES",
    "DbTokenStore",
    "ImportResult",
    "TokenStoreError",
    "UtcDateTime",
    "apply_pushed_changes",
    "begin_write",
    "check_database",
    "finish_run",
    "load_listings",
    "load_variations",
    "make_engine",
    "mark_deferred",
    "mark_delisted",
    "record_item_stock",
    "safe_url",
    "schema_is_current",
    "start_run",
    "stock_states",
    "upgrade",
    "upsert_catalog",
    "upsert_listings",
    "upsert_observations",
]
