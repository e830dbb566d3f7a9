from datetime import UTC, datetime, timedelta

import pandas as pd

from ecauto_lib.domain import CatalogInfo, Observation, Outcome
from ecauto_lib.observations import apply_catalog, apply_observations
from tests.frames import listings_frame

T0 = datetime(2026, 11, 28, tzinfo=UTC)
T1 = T0 + timedelta(hours=2)


def frame():
    known = {
        "amazon_price_yen": 1000,
        "points": 10,
        "stock_state": "in_stock",
        "price_fetched_at": T0,
        "stock_fetched_at": T0,
        "info_fetched_at": T0,
    }
    return listings_frame(
        [
            {"account_id": "a", "asin": "B000000001", **known},
            {"account_id": "b", "asin": "B000000001", **known},
            {"account_id": "a", "asin": "B000000002", **known},
            {"account_id": "a", "asin": "B000000003", **known},
            {"account_id": "a", "asin": "B000000004", **known},
        ]
    )


def test_in_stock_out_of_stock_and_error_rules():
    result = apply_observations(
        frame(),
        [
            Observation("B000000001", Outcome.IN_STOCK, T1, price_yen=1200, points=12),
            Observation("B000000002", Outcome.OUT_OF_STOCK, T1, reason="NoBuyableOffers"),
            Observation("B000000003", Outcome.ERROR, T1, reason="HTTP 500 InternalFailure"),
        ],
    ).set_index(["account_id", "asin"])
    for account in ("a", "b"):  # every listing of the ASIN is updated
        row = result.loc[(account, "B000000001")]
        assert (row["amazon_price_yen"], row["points"], row["stock_state"]) == (1200, 12, "in_stock")
        assert row["price_fetched_at"] == pd.Timestamp(T1) and row["stock_fetched_at"] == pd.Timestamp(T1)
    oos = result.loc[("a", "B000000002")]
    assert (oos["stock_state"], oos["amazon_price_yen"]) == ("out_of_stock", 1000)  # price kept
    assert oos["stock_fetched_at"] == pd.Timestamp(T1) and oos["price_fetched_at"] == pd.Timestamp(T0)
    err = result.loc[("a", "B000000003")]
    assert (err["stock_state"], err["last_outcome"]) == ("in_stock", "error")  # an error never changes stock
    assert err["stock_fetched_at"] == pd.Timestamp(T0)
    untouched = result.loc[("a", "B000000004")]
    assert untouched["stock_fetched_at"] == pd.Timestamp(T0) and pd.isna(untouched["last_outcome"])


def test_catalog_sets_info_time_only_for_found_asins():
    result = apply_catalog(frame(), [CatalogInfo("B000000002", T1, title="タイトル")])
    assert result.loc[result["asin"] == "B000000002", "info_fetched_at"].tolist() == [pd.Timestamp(T1)]
    assert (result.loc[result["asin"] != "B000000002", "info_fetched_at"] == pd.Timestamp(T0)).all()
