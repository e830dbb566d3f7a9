from datetime import UTC, datetime, timedelta

from ecauto_lib.domain import Observation, Outcome
from ecauto_lib.guards import confirm_sell_outs, sell_outs_to_confirm

T1 = datetime(2026, 11, 29, tzinfo=UTC)
T2 = T1 + timedelta(seconds=10)


def test_only_transitions_into_sold_out_need_confirmation():
    obs = [
        Observation("B000000001", Outcome.OUT_OF_STOCK, T1),  # was in stock → confirm
        Observation("B000000002", Outcome.FILTERED_OUT, T1),  # never seen → confirm
        Observation("B000000003", Outcome.OUT_OF_STOCK, T1),  # already out → no
        Observation("B000000004", Outcome.IN_STOCK, T1, price_yen=100),
        Observation("B000000005", Outcome.ERROR, T1),
    ]
    stored = {"B000000001": "in_stock", "B000000003": "out_of_stock", "B000000004": "out_of_stock"}
    assert sell_outs_to_confirm(obs, stored) == ["B000000001", "B000000002"]


def test_confirmation_agrees_disagrees_or_fails():
    first = [
        Observation("B000000001", Outcome.OUT_OF_STOCK, T1, reason="NoBuyableOffers"),
        Observation("B000000002", Outcome.OUT_OF_STOCK, T1, reason="NoBuyableOffers"),
        Observation("B000000003", Outcome.OUT_OF_STOCK, T1, reason="NoBuyableOffers"),
        Observation("B000000004", Outcome.IN_STOCK, T1, price_yen=500),
    ]
    second = [
        Observation("B000000001", Outcome.OUT_OF_STOCK, T2, reason="NoBuyableOffers"),
        Observation("B000000002", Outcome.IN_STOCK, T2, price_yen=900),
        Observation("B000000003", Outcome.ERROR, T2, reason="HTTP 500 InternalFailure"),
    ]
    merged = {o.asin: o for o in confirm_sell_outs(first, second)}
    assert merged["B000000001"].outcome is Outcome.OUT_OF_STOCK and merged["B000000001"].observed_at == T2
    assert merged["B000000002"].outcome is Outcome.IN_STOCK and merged["B000000002"].price_yen == 900
    assert merged["B000000003"].outcome is Outcome.ERROR
    assert (
        merged["B000000003"].reason == "sell-out not confirmed (out_of_stock, then HTTP 500 InternalFailure)"
    )
    assert merged["B000000004"] is first[3]
