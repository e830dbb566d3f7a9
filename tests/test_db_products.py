"""Master DB: products upserts (observations and catalog), the NULL rule and the error rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ecauto_lib.db import upsert_catalog, upsert_observations
from ecauto_lib.db.models import products
from ecauto_lib.domain import CatalogInfo, Observation, Outcome, PriceSource

T1 = datetime(2025, 1, 10, 3, 0, 0, 500, tzinfo=UTC)
T2 = T1 + timedelta(hours=1)
T3 = T1 + timedelta(hours=2)
ASIN = "B0FGQJ45HW"


def product(engine: sa.Engine, asin: str = ASIN) -> dict:
    with engine.connect() as conn:
        row = conn.execute(sa.select(products).where(products.c.asin == asin)).mappings().one()
    return dict(row)


def product_count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(products)).scalar_one()


def test_in_stock_then_error_then_out_of_stock(engine):
    in_stock = Observation(
        ASIN, Outcome.IN_STOCK, T1, price_yen=1980, shipping_yen=300, points=19, offer_count=4
    )
    assert upsert_observations(engine, [in_stock]) == 1
    row = product(engine)
    assert {k: row[k] for k in ("amazon_price_yen", "shipping_yen", "points", "offer_count")} == {
        "amazon_price_yen": 1980,
        "shipping_yen": 300,
        "points": 19,
        "offer_count": 4,
    }
    assert (row["stock_state"], row["last_outcome"], row["last_reason"]) == ("in_stock", "in_stock", None)
    assert row["price_fetched_at"] == row["stock_fetched_at"] == T1
    assert row["last_error_at"] is None and row["info_fetched_at"] is None

    error = Observation(ASIN, Outcome.ERROR, T2, reason="HTTP 500 InternalFailure")
    upsert_observations(engine, [error])
    row = product(engine)
    # an error records the fetch outcome only: stock state, price and fetch times stay
    assert (row["stock_state"], row["amazon_price_yen"], row["points"], row["offer_count"]) == (
        "in_stock",
        1980,
        19,
        4,
    )
    assert row["price_fetched_at"] == row["stock_fetched_at"] == T1
    assert (row["last_outcome"], row["last_reason"], row["last_error_at"]) == (
        "error",
        "HTTP 500 InternalFailure",
        T2,
    )

    out = Observation(ASIN, Outcome.OUT_OF_STOCK, T3, offer_count=0, reason="NoBuyableOffers")
    upsert_observations(engine, [out])
    row = product(engine)
    assert (row["stock_state"], row["offer_count"], row["stock_fetched_at"]) == ("out_of_stock", 0, T3)
    # price columns untouched by an out-of-stock answer
    assert (row["amazon_price_yen"], row["shipping_yen"], row["points"], row["price_fetched_at"]) == (
        1980,
        300,
        19,
        T1,
    )
    assert (row["last_outcome"], row["last_reason"], row["last_error_at"]) == (
        "out_of_stock",
        "NoBuyableOffers",
        T2,
    )
    assert row["updated_at"].tzinfo is UTC


def test_null_never_overwrites_a_stored_value(engine):
    upsert_observations(
        engine, [Observation(ASIN, Outcome.IN_STOCK, T1, price_yen=1000, points=10, offer_count=3)]
    )
    upsert_observations(engine, [Observation(ASIN, Outcome.IN_STOCK, T2, price_yen=1100)])
    row = product(engine)
    assert (row["amazon_price_yen"], row["points"], row["offer_count"], row["price_fetched_at"]) == (
        1100,
        10,
        3,
        T2,
    )

    upsert_observations(engine, [Observation(ASIN, Outcome.FILTERED_OUT, T3, reason="ships in 5 days")])
    row = product(engine)
    assert (row["stock_state"], row["offer_count"], row["stock_fetched_at"]) == ("filtered_out", 3, T3)
    assert row["amazon_price_yen"] == 1100


def test_price_source_and_total_offer_count_are_recorded_with_the_price(engine):
    from_summary = Observation(
        ASIN, Outcome.IN_STOCK, T1, price_yen=2980, offer_count=28, price_source=PriceSource.SUMMARY
    )
    upsert_observations(engine, [from_summary])
    row = product(engine)
    assert (row["amazon_price_yen"], row["price_source"], row["offer_count"]) == (2980, "summary", 28)
    # an error or a sell-out leaves the price and its source alone
    upsert_observations(engine, [Observation(ASIN, Outcome.ERROR, T2, reason="incomplete")])
    upsert_observations(engine, [Observation(ASIN, Outcome.FILTERED_OUT, T2, offer_count=5)])
    row = product(engine)
    assert (row["amazon_price_yen"], row["price_source"], row["offer_count"]) == (2980, "summary", 5)
    listed = Observation(
        ASIN, Outcome.IN_STOCK, T3, price_yen=3100, offer_count=6, price_source=PriceSource.OFFER
    )
    upsert_observations(engine, [listed])
    assert (product(engine)["price_source"], product(engine)["amazon_price_yen"]) == ("offer", 3100)


def test_error_on_a_new_asin_inserts_unknown_stock(engine):
    upsert_observations(
        engine, [Observation("B000000001", Outcome.ERROR, T1, reason="HTTP 400 InvalidInput")]
    )
    row = product(engine, "B000000001")
    assert (row["stock_state"], row["last_outcome"], row["last_error_at"]) == ("unknown", "error", T1)
    assert row["stock_fetched_at"] is None and row["amazon_price_yen"] is None


def test_several_observations_of_one_asin_apply_in_order(engine):
    batch = [
        Observation(ASIN, Outcome.IN_STOCK, T1, price_yen=500),
        Observation("B000000002", Outcome.OUT_OF_STOCK, T1, offer_count=0),
        Observation(ASIN, Outcome.ERROR, T2, reason="timeout"),
    ]
    assert upsert_observations(engine, batch) == 3
    row = product(engine)
    assert (row["stock_state"], row["amazon_price_yen"], row["last_outcome"], row["last_error_at"]) == (
        "in_stock",
        500,
        "error",
        T2,
    )
    assert product(engine, "B000000002")["stock_state"] == "out_of_stock"


def test_invalid_observations_are_refused_before_writing(engine):
    naive = datetime(2025, 1, 1, 12, 0)
    with pytest.raises(ValueError, match=f"observed_at of {ASIN} must be timezone-aware"):
        upsert_observations(
            engine,
            [
                Observation("B000000003", Outcome.IN_STOCK, T1, price_yen=1),
                Observation(ASIN, Outcome.ERROR, naive),
            ],
        )
    with pytest.raises(ValueError, match=f"in_stock observation of {ASIN} has no price_yen"):
        upsert_observations(engine, [Observation(ASIN, Outcome.IN_STOCK, T1)])
    assert product_count(engine) == 0
    assert upsert_observations(engine, []) == 0


def test_rows_are_written_in_chunks_in_order_and_all_or_nothing(engine, monkeypatch):
    from ecauto_lib.db import products as products_db

    monkeypatch.setattr(products_db, "_WRITE_CHUNK", 2)
    batch = [
        Observation(ASIN, Outcome.IN_STOCK, T1, price_yen=500),
        Observation("B000000002", Outcome.OUT_OF_STOCK, T1, offer_count=0),
        Observation(ASIN, Outcome.IN_STOCK, T2, price_yen=600),  # next chunk: applied after the first
        Observation("B000000003", Outcome.IN_STOCK, T1, price_yen=700),
        Observation(ASIN, Outcome.OUT_OF_STOCK, T3, offer_count=0),  # third chunk
    ]
    assert upsert_observations(engine, iter(batch)) == 5
    row = product(engine)
    assert (
        row["stock_state"],
        row["amazon_price_yen"],
        row["price_fetched_at"],
        row["stock_fetched_at"],
    ) == (
        "out_of_stock",
        600,
        T2,
        T3,
    )
    assert product_count(engine) == 3

    # a bad observation in a later chunk rolls back the chunks already sent
    bad = [Observation(f"B00000001{i}", Outcome.IN_STOCK, T1, price_yen=1) for i in range(4)]
    bad.append(Observation("B000000020", Outcome.ERROR, datetime(2025, 1, 1, 12, 0)))
    with pytest.raises(ValueError, match="must be timezone-aware"):
        upsert_observations(engine, bad)
    assert product_count(engine) == 3


def test_upsert_catalog_inserts_and_keeps_non_null_values(engine):
    upsert_observations(engine, [Observation(ASIN, Outcome.IN_STOCK, T1, price_yen=700)])
    info = CatalogInfo(
        ASIN, T2, title="Kettle 1.2L", brand="Acme", image_url="https://m.media-amazon.com/images/I/x.jpg"
    )
    assert upsert_catalog(engine, [info, CatalogInfo("B000000004", T2, title="New thing")]) == 2
    row = product(engine)
    assert (row["title"], row["brand"], row["image_url"], row["info_fetched_at"]) == (
        "Kettle 1.2L",
        "Acme",
        "https://m.media-amazon.com/images/I/x.jpg",
        T2,
    )
    assert (row["amazon_price_yen"], row["stock_state"]) == (
        700,
        "in_stock",
    )  # catalog leaves price/stock alone
    new = product(engine, "B000000004")
    assert (new["title"], new["brand"], new["stock_state"]) == ("New thing", None, "unknown")

    upsert_catalog(engine, [CatalogInfo(ASIN, T3, title=None, brand="Acme Japan")])
    row = product(engine)
    assert (row["title"], row["brand"], row["image_url"], row["info_fetched_at"]) == (
        "Kettle 1.2L",
        "Acme Japan",
        "https://m.media-amazon.com/images/I/x.jpg",
        T3,
    )
    # and an observation afterwards leaves the catalog facts alone
    upsert_observations(engine, [Observation(ASIN, Outcome.OUT_OF_STOCK, T3, offer_count=0)])
    assert product(engine)["title"] == "Kettle 1.2L"


def test_ten_thousand_observations_in_one_bulk_upsert(engine):
    asins = [f"B0{i:08d}" for i in range(10_000)]
    outcomes = [Outcome.IN_STOCK, Outcome.OUT_OF_STOCK, Outcome.FILTERED_OUT, Outcome.ERROR]
    batch = [
        Observation(a, outcomes[i % 4], T1, price_yen=1000 + i if i % 4 == 0 else None, offer_count=i % 7)
        for i, a in enumerate(asins)
    ]
    assert upsert_observations(engine, batch) == 10_000  # speed: see benchmarks/, not asserted here
    with engine.connect() as conn:
        states = dict(
            conn.execute(
                sa.select(products.c.stock_state, sa.func.count()).group_by(products.c.stock_state)
            ).all()
        )
        price = conn.execute(
            sa.select(products.c.amazon_price_yen).where(products.c.asin == asins[8])
        ).scalar_one()
    assert states == {"in_stock": 2500, "out_of_stock": 2500, "filtered_out": 2500, "unknown": 2500}
    assert price == 1008


# ---------------------------------------------------------------------------------------------
# Two runs overlap: an older answer never overwrites a newer one (#12 §6)


def test_an_older_observation_written_late_never_overwrites_a_newer_one(engine):
    # run B fetched at T3 and wrote first; run A fetched at T2 and writes afterwards
    upsert_observations(engine, [Observation(ASIN, Outcome.IN_STOCK, T1, price_yen=1000, offer_count=2)])
    upsert_observations(
        engine, [Observation(ASIN, Outcome.OUT_OF_STOCK, T3, offer_count=0, reason="NoBuyableOffers")]
    )
    upsert_observations(engine, [Observation(ASIN, Outcome.IN_STOCK, T2, price_yen=1500, offer_count=3)])
    row = product(engine)
    # stock: T3's sell-out stands; price: T2's price is the newest price anyone saw
    assert (row["stock_state"], row["stock_fetched_at"], row["offer_count"]) == ("out_of_stock", T3, 0)
    assert (row["amazon_price_yen"], row["price_fetched_at"]) == (1500, T2)
    assert (row["last_outcome"], row["last_reason"]) == ("out_of_stock", "NoBuyableOffers")


def test_an_older_error_written_late_does_not_hide_a_newer_answer(engine):
    upsert_observations(engine, [Observation(ASIN, Outcome.IN_STOCK, T3, price_yen=1000)])
    upsert_observations(engine, [Observation(ASIN, Outcome.ERROR, T2, reason="HTTP 500 InternalFailure")])
    row = product(engine)
    assert (row["last_outcome"], row["last_reason"], row["last_error_at"]) == ("in_stock", None, None)
    # a newer error is still recorded
    upsert_observations(
        engine, [Observation(ASIN, Outcome.ERROR, T3 + timedelta(minutes=1), reason="HTTP 503")]
    )
    assert product(engine)["last_outcome"] == "error"


def test_older_catalog_facts_written_late_never_overwrite_newer_ones(engine):
    upsert_catalog(engine, [CatalogInfo(ASIN, T3, title="新しい")])
    upsert_catalog(engine, [CatalogInfo(ASIN, T2, title="古い")])
    row = product(engine)
    assert (row["title"], row["info_fetched_at"]) == ("新しい", T3)
