"""Master DB: listing registration, the listings frame, pushed changes, deferral, delisting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from ecauto_lib.db import (
    LISTING_COLUMNS,
    apply_pushed_changes,
    begin_write,
    load_listings,
    mark_deferred,
    mark_delisted,
    start_run,
    upsert_listings,
    upsert_observations,
)
from ecauto_lib.db.models import change_history, listings, products
from ecauto_lib.domain import ListingRow, Observation, Outcome, PushedChange
from ecauto_lib.errors import InvalidAsinError

T1 = datetime(2025, 2, 1, 0, 0, 0, 250_000, tzinfo=UTC)
T2 = T1 + timedelta(minutes=10)
T3 = T1 + timedelta(minutes=20)
A1, A2, A3 = "B0AAAAAAA1", "B0AAAAAAA2", "B0AAAAAAA3"

EXPECTED_DTYPES = {
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
    "listed_at": "datetime64[ns, UTC]",
}


def stored_listings(engine: sa.Engine) -> dict[tuple[str, str], dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(listings)).mappings().all()
    return {(r["account_id"], r["asin"]): dict(r) for r in rows}


def listing_id(engine: sa.Engine, account_id: str, asin: str) -> int:
    return stored_listings(engine)[(account_id, asin)]["id"]


# ---------------------------------------------------------------------------------- upsert_listings


def test_upsert_listings_inserts_and_creates_bare_products(engine):
    result = upsert_listings(
        engine,
        [
            ListingRow("shop1", A1, 101, base_price=1300, base_visible=True),
            ListingRow("shop1", A2.lower(), 102),  # ASINs are normalised
            ListingRow("shop2", A1, 101),  # another shop may use the same ASIN and item id
        ],
    )
    assert (result.inserted, result.updated, result.unchanged, result.conflicts) == (3, 0, 0, [])
    stored = stored_listings(engine)
    assert set(stored) == {("shop1", A1), ("shop1", A2), ("shop2", A1)}
    first = stored[("shop1", A1)]
    assert (first["base_item_id"], first["base_price"], first["base_visible"], first["status"]) == (
        101,
        1300,
        True,
        "listed",
    )
    assert stored[("shop1", A2)]["base_price"] is None
    with engine.connect() as conn:
        bare = conn.execute(
            sa.select(products.c.asin, products.c.stock_state).order_by(products.c.asin)
        ).all()
    assert bare == [(A1, "unknown"), (A2, "unknown")]


def test_upsert_listings_same_ids_again_is_unchanged_or_refreshed(engine):
    upsert_listings(
        engine, [ListingRow("shop1", A1, 101, 1300, True), ListingRow("shop1", A2, 102, 900, False)]
    )

    again = upsert_listings(engine, [ListingRow("shop1", A1, 101, 1300, True), ListingRow("shop1", A2, 102)])
    assert (again.inserted, again.updated, again.unchanged, again.conflicts) == (0, 0, 2, [])
    assert stored_listings(engine)[("shop1", A2)]["base_price"] == 900  # a None never replaces

    refreshed = upsert_listings(engine, [ListingRow("shop1", A2, 102, base_price=990, base_visible=None)])
    assert (refreshed.inserted, refreshed.updated, refreshed.unchanged) == (0, 1, 0)
    row = stored_listings(engine)[("shop1", A2)]
    assert (row["base_price"], row["base_visible"]) == (990, False)


def test_upsert_listings_reports_conflicts_and_writes_nothing_for_them(engine):
    upsert_listings(engine, [ListingRow("shop1", A1, 101), ListingRow("shop1", A2, 102)])
    result = upsert_listings(
        engine,
        [
            ListingRow("shop1", A1, 999),  # ASIN already listed under another item
            ListingRow("shop1", A3, 102),  # item already registered for another ASIN
            ListingRow("shop1", A2, 101),  # both: A2 is item 102, item 101 is A1
            ListingRow("shop1", A3, 103),  # fine
        ],
    )
    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 0)
    assert result.conflicts == [
        f"account shop1: ASIN {A1} is already listed as BASE item 101; not registered: ASIN {A1} as BASE item 999",
        f"account shop1: BASE item 102 is already registered for ASIN {A2}; not registered: ASIN {A3} as BASE item 102",
        f"account shop1: ASIN {A2} is already listed as BASE item 102 and BASE item 101 is already registered "
        f"for ASIN {A1}; not registered: ASIN {A2} as BASE item 101",
    ]
    stored = stored_listings(engine)
    assert {k: v["base_item_id"] for k, v in stored.items()} == {
        ("shop1", A1): 101,
        ("shop1", A2): 102,
        ("shop1", A3): 103,
    }


def test_upsert_listings_conflict_within_one_import(engine):
    result = upsert_listings(
        engine, [ListingRow("shop1", A1, 101), ListingRow("shop1", A1, 101), ListingRow("shop1", A1, 555)]
    )
    assert (result.inserted, result.updated, result.unchanged) == (1, 0, 1)
    assert result.conflicts == [
        f"account shop1: ASIN {A1} is already listed as BASE item 101; not registered: ASIN {A1} as BASE item 555"
    ]


def test_unique_constraints_hold_in_the_schema(engine):
    upsert_listings(engine, [ListingRow("shop1", A1, 101), ListingRow("shop1", A2, 102)])
    for values in ({"asin": A1, "base_item_id": 777}, {"asin": A2, "base_item_id": 101}):
        with pytest.raises(sa.exc.IntegrityError), begin_write(engine) as conn:
            conn.execute(
                sa.insert(listings).values(account_id="shop1", created_at=T1, updated_at=T1, **values)
            )


def test_delisted_listing_seen_again_is_listed_again(engine):
    upsert_listings(engine, [ListingRow("shop1", A1, 101, 1300, True)])
    mark_delisted(engine, "shop1", 101, "item deleted on BASE", T2)
    row = stored_listings(engine)[("shop1", A1)]
    assert (row["status"], row["delisted_reason"], row["updated_at"]) == (
        "delisted",
        "item deleted on BASE",
        T2,
    )
    assert load_listings(engine).empty

    result = upsert_listings(engine, [ListingRow("shop1", A1, 101)])
    assert (result.inserted, result.updated, result.unchanged, result.conflicts) == (0, 1, 0, [])
    row = stored_listings(engine)[("shop1", A1)]
    assert (row["status"], row["delisted_reason"], row["base_price"]) == ("listed", None, 1300)
    assert load_listings(engine)["asin"].tolist() == [A1]


def test_upsert_listings_rejects_a_malformed_asin_before_writing(engine):
    with pytest.raises(InvalidAsinError, match="malformed ASIN 'NOT-AN-ASIN'"):
        upsert_listings(engine, [ListingRow("shop1", A1, 101), ListingRow("shop1", "NOT-AN-ASIN", 102)])
    assert stored_listings(engine) == {}


# ---------------------------------------------------------------------------------- load_listings


def test_load_listings_columns_dtypes_values_and_deferred_order(engine):
    upsert_listings(
        engine,
        [
            ListingRow("shop1", A1, 101, 1300, True),
            ListingRow("shop1", A2, 9_000_000_001, None, None),
            ListingRow("shop1", A3, 103, 500, False),
            ListingRow("shop2", A1, 201, 1400, True),
        ],
    )
    upsert_observations(
        engine,
        [
            Observation(A1, Outcome.IN_STOCK, T1, price_yen=1000, points=10),
            Observation(A3, Outcome.ERROR, T2, reason="HTTP 503"),
        ],
    )
    mark_deferred(engine, "shop1", [103], T3)
    mark_deferred(engine, "shop2", [201], T2)

    frame = load_listings(engine)
    assert list(frame.columns) == LISTING_COLUMNS
    assert {c: str(t) for c, t in frame.dtypes.items()} == EXPECTED_DTYPES
    # deferred first, oldest first; then by listing id
    ids = {(r.account_id, r.asin): r.listing_id for r in frame.itertuples()}
    assert list(zip(frame["account_id"], frame["asin"], strict=True)) == [
        ("shop2", A1),
        ("shop1", A3),
        ("shop1", A1),
        ("shop1", A2),
    ]
    assert ids[("shop1", A1)] < ids[("shop1", A2)]

    by_key = frame.set_index(["account_id", "asin"])
    a1 = by_key.loc[("shop1", A1)]
    assert (a1["base_item_id"], a1["base_price"], a1["base_visible"]) == (101, 1300, True)
    assert (a1["amazon_price_yen"], a1["points"], a1["stock_state"], a1["last_outcome"]) == (
        1000,
        10,
        "in_stock",
        "in_stock",
    )
    assert a1["price_fetched_at"] == a1["stock_fetched_at"] == pd.Timestamp(T1)
    assert a1["deferred_at"] is pd.NaT and a1["info_fetched_at"] is pd.NaT

    a2 = by_key.loc[("shop1", A2)]
    assert a2["base_item_id"] == 9_000_000_001
    assert a2["base_price"] is pd.NA and a2["base_visible"] is pd.NA and a2["amazon_price_yen"] is pd.NA
    assert a2["stock_state"] == "unknown" and pd.isna(a2["last_outcome"])

    a3 = by_key.loc[("shop1", A3)]
    assert (a3["base_visible"], a3["stock_state"], a3["last_outcome"]) == (False, "unknown", "error")
    assert a3["deferred_at"] == pd.Timestamp(T3)
    assert by_key.loc[("shop2", A1)]["deferred_at"] == pd.Timestamp(T2)


def test_load_listings_filters_accounts_and_keeps_dtypes_when_empty(engine):
    upsert_listings(
        engine, [ListingRow("shop1", A1, 101), ListingRow("shop2", A2, 201), ListingRow("shop3", A3, 301)]
    )
    assert sorted(load_listings(engine, ["shop1", "shop3"])["account_id"]) == ["shop1", "shop3"]
    assert load_listings(engine, ("shop2",))["asin"].tolist() == [A2]
    empty = load_listings(engine, [])
    assert empty.empty
    assert list(empty.columns) == LISTING_COLUMNS
    assert {c: str(t) for c, t in empty.dtypes.items()} == EXPECTED_DTYPES


def _seed_listings(engine: sa.Engine, count: int) -> None:
    """``count`` products and listings, generated inside the database (fast on both backends)."""
    if engine.dialect.name == "sqlite":
        seq = f"WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {count - 1}) "
        source, asin, now = "seq", "'B0' || printf('%08d', i)", "'2025-02-01 00:00:00.000000'"
        deferred = f"CASE WHEN i % 1000 = 0 THEN {now} END"
    else:
        seq, source = "", f"generate_series(0, {count - 1}) AS seq(i)"
        asin, now = "'B0' || lpad(i::text, 8, '0')", "now()"
        deferred = f"CASE WHEN i % 1000 = 0 THEN {now} END"
    with begin_write(engine) as conn:
        conn.execute(
            sa.text(
                f"{seq}INSERT INTO products (asin, amazon_price_yen, points, stock_state, last_outcome, "
                f"price_fetched_at, stock_fetched_at, updated_at) "
                f"SELECT {asin}, 1000 + i, 10, 'in_stock', 'in_stock', {now}, {now}, {now} FROM {source}"
            )
        )
        conn.execute(
            sa.text(
                f"{seq}INSERT INTO listings (account_id, asin, base_item_id, base_price, base_visible, status, "
                f"deferred_at, created_at, updated_at) "
                f"SELECT 'shop' || (i % 3), {asin}, 100000 + i, 1300, true, 'listed', {deferred}, {now}, {now} "
                f"FROM {source}"
            )
        )


def test_load_listings_reads_100k_rows(engine, monkeypatch):
    # Speed is measured in benchmarks/, not asserted here: this checks the bulk path's results.
    from ecauto_lib.db import listings as listings_db

    _seed_listings(engine, 100_000)
    frame = load_listings(engine)  # read in chunks of listings_db._LOAD_CHUNK rows
    assert len(frame) == 100_000
    assert frame["deferred_at"].notna().head(100).all() and frame["deferred_at"].iloc[100:].isna().all()
    assert frame["amazon_price_yen"].sum() == sum(1000 + i for i in range(100_000))
    assert {c: str(t) for c, t in frame.dtypes.items()} == EXPECTED_DTYPES
    monkeypatch.setattr(listings_db, "_LOAD_CHUNK", 1_000_000)  # the same rows read in one piece
    pd.testing.assert_frame_equal(load_listings(engine), frame)


# ---------------------------------------------------------------------------------- changes


def test_apply_pushed_changes_updates_listings_and_writes_history(engine):
    upsert_listings(
        engine, [ListingRow("shop1", A1, 101, 1300, True), ListingRow("shop1", A2, 102, 900, False)]
    )
    mark_deferred(engine, "shop1", [101, 102], T1)
    run_id = start_run(engine, mode="full", accounts=["shop1"], started_at=T1)
    changes = [
        PushedChange("shop1", A1, 101, "price", 1300, 1430, "amazon ¥1,100 × 1.3", T2),
        PushedChange("shop1", A1, 101, "visible", 1, 0, "amazon out_of_stock", T2),
        PushedChange("shop1", A2, 102, "visible", None, 1, "amazon back in stock", T3),
    ]
    apply_pushed_changes(engine, run_id, changes)

    stored = stored_listings(engine)
    a1, a2 = stored[("shop1", A1)], stored[("shop1", A2)]
    assert (a1["base_price"], a1["base_visible"], a1["deferred_at"], a1["updated_at"]) == (
        1430,
        False,
        None,
        T2,
    )
    assert (a2["base_price"], a2["base_visible"], a2["deferred_at"], a2["updated_at"]) == (
        900,
        True,
        None,
        T3,
    )
    with engine.connect() as conn:
        history = conn.execute(sa.select(change_history).order_by(change_history.c.id)).mappings().all()
    assert [
        (
            h["run_id"],
            h["account_id"],
            h["asin"],
            h["base_item_id"],
            h["field"],
            h["old_value"],
            h["new_value"],
        )
        for h in history
    ] == [
        (run_id, "shop1", A1, 101, "price", 1300, 1430),
        (run_id, "shop1", A1, 101, "visible", 1, 0),
        (run_id, "shop1", A2, 102, "visible", None, 1),
    ]
    assert [(h["reason"], h["at"]) for h in history] == [
        ("amazon ¥1,100 × 1.3", T2),
        ("amazon out_of_stock", T2),
        ("amazon back in stock", T3),
    ]


def test_apply_pushed_changes_refuses_an_unknown_field_without_writing(engine):
    upsert_listings(engine, [ListingRow("shop1", A1, 101, 1300, True)])
    good = PushedChange("shop1", A1, 101, "price", 1300, 1500, "r", T2)
    bad = PushedChange("shop1", A1, 101, "title", None, 1, "r", T2)
    with pytest.raises(ValueError, match="unknown change field 'title'"):
        apply_pushed_changes(engine, None, [good, bad])
    assert stored_listings(engine)[("shop1", A1)]["base_price"] == 1300
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(change_history)).scalar_one() == 0


def test_mark_deferred_keeps_the_oldest_time_and_touches_only_given_items(engine):
    upsert_listings(
        engine, [ListingRow("shop1", A1, 101), ListingRow("shop1", A2, 102), ListingRow("shop2", A1, 101)]
    )
    mark_deferred(engine, "shop1", [101], T2)
    mark_deferred(engine, "shop1", [101, 102], T3)  # 101 keeps T2
    mark_deferred(engine, "shop1", [102], T1)  # an earlier time wins
    mark_deferred(engine, "shop1", [], T1)  # nothing to do
    stored = stored_listings(engine)
    assert stored[("shop1", A1)]["deferred_at"] == T2
    assert stored[("shop1", A2)]["deferred_at"] == T1
    assert stored[("shop2", A1)]["deferred_at"] is None
