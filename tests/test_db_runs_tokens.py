"""Master DB: run records, the BASE token store, and writers in several threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from ecauto_lib.db import (
    DbTokenStore,
    TokenStoreError,
    apply_pushed_changes,
    finish_run,
    load_listings,
    make_engine,
    start_run,
    upgrade,
    upsert_listings,
    upsert_observations,
)
from ecauto_lib.db.models import change_history, runs
from ecauto_lib.domain import BaseShop, BaseTokens, ListingRow, Observation, Outcome, PushedChange

T1 = datetime(2025, 4, 1, 8, 0, tzinfo=UTC)
ACCESS = "acc-5f0e2c9d8b7a6e5f4d3c2b1a"
REFRESH = "ref-0a1b2c3d4e5f60718293a4b5"


def run_row(engine: sa.Engine, run_id: int) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().one())


# ---------------------------------------------------------------------------------- runs


def test_start_and_finish_run(engine):
    run_id = start_run(engine, mode="price", accounts=["shop1", "shop2"], started_at=T1)
    row = run_row(engine, run_id)
    assert (row["mode"], row["accounts"], row["status"], row["started_at"]) == (
        "price",
        "shop1,shop2",
        "running",
        T1,
    )
    assert (row["finished_at"], row["exit_code"], row["counts"]) == (None, None, None)

    second = start_run(engine, mode="stock", accounts=[], started_at=T1)
    assert second != run_id

    counts = {"fetched": np.int64(40), "errors": 2, "pushed": {"price": 3, "visible": np.int32(1)}}
    finish_run(
        engine,
        run_id,
        status="finished_with_failures",
        exit_code=1,
        counts=counts,
        finished_at=T1 + timedelta(minutes=3),
    )
    row = run_row(engine, run_id)
    assert (row["status"], row["exit_code"], row["finished_at"]) == (
        "finished_with_failures",
        1,
        T1 + timedelta(minutes=3),
    )
    assert row["counts"] == {"fetched": 40, "errors": 2, "pushed": {"price": 3, "visible": 1}}
    assert run_row(engine, second)["status"] == "running"

    with pytest.raises(LookupError, match="no run with id 4242"):
        finish_run(engine, 4242, status="failed", exit_code=2, counts={}, finished_at=T1)


def test_history_run_id_must_name_a_run(engine):
    upsert_listings(engine, [ListingRow("shop1", "B0AAAAAAA1", 101)])
    change = PushedChange("shop1", "B0AAAAAAA1", 101, "price", None, 1000, "r", T1)
    with pytest.raises(sa.exc.IntegrityError):
        apply_pushed_changes(engine, 999, [change])


# ---------------------------------------------------------------------------------- tokens


def test_token_store_round_trip_and_rotation(engine, db_url):
    store = DbTokenStore(engine)
    assert store.load("shop1") is None

    first = BaseTokens(ACCESS, REFRESH, T1 + timedelta(hours=1))
    store.save("shop1", first)
    assert store.load("shop1") == first
    assert store.load("shop1").expires_at.tzinfo is UTC

    rotated = BaseTokens("acc-new", "ref-new", T1 + timedelta(hours=2))
    store.save("shop1", rotated)
    store.save("shop2", first)

    # committed: a second engine (another process, in effect) sees the rotated pair
    other = make_engine(db_url)
    try:
        other_store = DbTokenStore(other)
        assert other_store.load("shop1") == rotated
        assert other_store.load("shop2") == first
    finally:
        other.dispose()


def test_token_store_records_when_a_pair_was_obtained_and_refused(engine):
    store = DbTokenStore(engine)
    assert store.records(["shop1"]) == {}
    shop = BaseShop("mori", "森のBAZAAR", "https://mori.thebase.in")
    issued = datetime.now(UTC) - timedelta(days=3)
    store.save("shop1", BaseTokens(ACCESS, REFRESH, T1, refresh_issued_at=issued), authorised=shop)
    assert store.load("shop1").refresh_issued_at == issued
    record = store.records(["shop1"])["shop1"]
    assert record.authorised_at is not None and record.refreshed_at is None
    assert (record.base_shop, record.refresh_issued_at, record.refusal) == (shop, issued, None)
    connected_at = record.authorised_at

    store.save("shop1", BaseTokens("acc-2", "ref-2", T1))  # a refresh: the authorisation is kept
    record = store.records()["shop1"]
    assert (record.authorised_at, record.base_shop) == (connected_at, shop)
    assert record.refreshed_at is not None and record.refresh_issued_at is None

    refused_at = datetime.now(UTC)
    assert store.record_refusal(
        "shop1", "invalid_request: リフレッシュトークンの有効期限が切れています。", refused_at
    )
    assert not store.record_refusal("shop9", "invalid_request", refused_at)  # no pair: nothing to mark
    record = store.records()["shop1"]
    assert (record.refused_at, record.refusal) == (
        refused_at,
        "invalid_request: リフレッシュトークンの有効期限が切れています。",
    )
    assert store.refusal("shop1") == record.refusal and store.refusal("shop9") is None
    assert ACCESS not in repr(record) and "ref-2" not in repr(record)

    store.save("shop1", BaseTokens("acc-3", "ref-3", T1), authorised=shop)  # connect_shop revives it
    record = store.records()["shop1"]
    assert (record.refused_at, record.refusal, record.refreshed_at) == (None, None, None)
    assert store.refusal("shop1") is None


def test_token_store_keeps_secrets_out_of_reprs_and_errors(db_url):
    engine = make_engine(db_url)  # no schema: every statement fails
    try:
        store = DbTokenStore(engine)
        with pytest.raises(TokenStoreError) as caught:
            store.save("shop1", BaseTokens(ACCESS, REFRESH, T1))
        assert str(caught.value) in {
            "cannot save BASE tokens of account shop1: OperationalError",  # SQLite: no such table
            "cannot save BASE tokens of account shop1: ProgrammingError",  # PostgreSQL: undefined table
        }
        # nothing chained: a driver message may quote the failing row, tokens included
        assert caught.value.__context__ is None and caught.value.__cause__ is None
        assert ACCESS not in repr(caught.value) and REFRESH not in repr(caught.value)
        with pytest.raises(TokenStoreError, match="cannot load BASE tokens of account shop1"):
            store.load("shop1")
    finally:
        engine.dispose()

    with_password = make_engine("postgresql+psycopg://ecauto:Pw0rd5ecret@127.0.0.1:1/master")
    assert (
        repr(DbTokenStore(with_password))
        == "DbTokenStore(postgresql+psycopg://ecauto:***@127.0.0.1:1/master)"
    )
    assert ACCESS not in repr(BaseTokens(ACCESS, REFRESH, T1))


def test_token_store_refuses_incomplete_pairs_naming_only_the_field(engine):
    store = DbTokenStore(engine)
    with pytest.raises(ValueError, match="^BASE tokens of account shop1: expires_at must be timezone-aware$"):
        store.save("shop1", BaseTokens(ACCESS, REFRESH, datetime(2025, 1, 1)))
    with pytest.raises(
        ValueError, match="^BASE tokens of account shop1: refresh_token is missing or not a string$"
    ):
        store.save("shop1", BaseTokens(ACCESS, None, T1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="access_token is missing"):
        store.save("shop1", BaseTokens("", REFRESH, T1))
    assert store.load("shop1") is None


def test_engine_hides_statement_parameters_in_errors(engine):
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
        conn.execute(sa.insert(runs).values(started_at=T1, mode=None, accounts=REFRESH))
    message = str(caught.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in message
    assert "[parameters:" not in message
    # (PostgreSQL's own DETAIL may still quote the failing row: the token store never chains it.)


# ---------------------------------------------------------------------------------- threads


def test_parallel_writers_do_not_fail(engine):
    """Accounts pushed in parallel: several threads write at once (SQLite must not say 'locked')."""
    accounts = [f"shop{i}" for i in range(4)]
    asins = [f"B0{i:08d}" for i in range(40)]
    upsert_listings(
        engine, [ListingRow(a, asin, 1000 + n, 100, True) for a in accounts for n, asin in enumerate(asins)]
    )
    run_id = start_run(engine, mode="full", accounts=accounts, started_at=T1)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(accounts))

    def push(account: str) -> None:
        try:
            barrier.wait()
            store = DbTokenStore(engine)
            for n, asin in enumerate(asins):
                upsert_observations(engine, [Observation(asin, Outcome.IN_STOCK, T1, price_yen=500 + n)])
                change = PushedChange(account, asin, 1000 + n, "price", 100, 650 + n, "r", T1)
                apply_pushed_changes(engine, run_id, [change])
                if n % 10 == 0:
                    store.save(account, BaseTokens(f"a{n}", f"r{n}", T1))
                    load_listings(engine, [account])
        except BaseException as exc:  # collected and reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(a,)) for a in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(change_history)).scalar_one() == 160
    frame = load_listings(engine)
    assert frame["base_price"].tolist() == [650 + n for _ in accounts for n in range(len(asins))]


def test_concurrent_upserts_of_the_same_asins_in_opposite_orders(db_url):
    """Two workers (separate engines) upsert overlapping batches: no deadlock, no lost row."""
    asins = [f"B0{i:08d}" for i in range(300)]
    engines = [make_engine(db_url) for _ in range(2)]
    upgrade(engines[0])
    errors: list[BaseException] = []

    def work(engine: sa.Engine, order: list[str], price: int) -> None:
        try:
            for _ in range(5):
                upsert_observations(
                    engine, [Observation(a, Outcome.IN_STOCK, T1, price_yen=price) for a in order]
                )
                upsert_listings(
                    engine, [ListingRow("shop1", a, 1000 + n, price) for n, a in enumerate(asins)]
                )
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(engines[0], asins, 700)),
        threading.Thread(target=work, args=(engines[1], asins[::-1], 800)),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        frame = load_listings(engines[0])
        assert len(frame) == 300 and frame["listing_id"].is_unique
        assert set(frame["amazon_price_yen"]) <= {700, 800}
    finally:
        for engine in engines:
            engine.dispose()
