"""Token health: days left before a BASE refresh token or the LWA client secret is expected to lapse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ecauto_lib.config import AccountConfig
from ecauto_lib.domain import BaseShop, TokenRecord
from ecauto_lib.token_health import (
    LWA_SECRET_LIFETIME,
    REFRESH_TOKEN_LIFETIME,
    TokenState,
    lwa_secret_health,
    shop_token_health,
)

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SHOP = AccountConfig("shop1", "森のBAZAAR", "cid", "secret", "https://x.invalid/cb")
WITH_TOKEN = AccountConfig("shop1", "森のBAZAAR", "cid", "secret", "https://x.invalid/cb", "rt")
COMMAND = "python flows/connect_shop.py --account shop1"


def record(**fields) -> TokenRecord:
    return TokenRecord("shop1", saved_at=fields.pop("saved_at", NOW - timedelta(hours=1)), **fields)


def test_a_shop_authorised_ten_days_ago_has_twenty_days_left():
    authorised = NOW - timedelta(days=10)
    health = shop_token_health(
        SHOP,
        record(authorised_at=authorised, refresh_issued_at=authorised, base_shop=BaseShop("m", "M")),
        NOW,
    )
    assert (health.state, health.days_left, health.lapses_at) == (
        TokenState.OK,
        20,
        authorised + timedelta(days=30),
    )
    assert health.message() is None and not health.needs_authorisation


def test_from_seven_days_before_the_lapse_it_warns_naming_the_shop_and_the_command():
    issued = NOW - timedelta(days=24)
    health = shop_token_health(SHOP, record(refresh_issued_at=issued, refreshed_at=issued), NOW)
    assert (health.state, health.days_left) == (TokenState.EXPIRING, 6)
    message = health.message()
    assert "shop1 (森のBAZAAR)" in message and COMMAND in message and "6" in message
    assert not health.needs_authorisation
    on_the_edge = shop_token_health(SHOP, record(refresh_issued_at=NOW - timedelta(days=23)), NOW)
    assert on_the_edge.state is TokenState.EXPIRING  # exactly 7 days left
    day_before = shop_token_health(SHOP, record(refresh_issued_at=NOW - timedelta(days=22, hours=23)), NOW)
    assert day_before.state is TokenState.OK


def test_past_the_lapse_refused_or_never_connected_needs_connect_shop():
    lapsed = shop_token_health(SHOP, record(refresh_issued_at=NOW - REFRESH_TOKEN_LIFETIME), NOW)
    refused = shop_token_health(
        SHOP,
        record(
            refresh_issued_at=NOW - timedelta(days=2),
            refused_at=NOW,
            refusal="invalid_request: 不正なリフレッシュトークンです。",
        ),
        NOW,
    )
    never = shop_token_health(SHOP, None, NOW)
    for health, state in (
        (lapsed, TokenState.LAPSED),
        (refused, TokenState.REFUSED),
        (never, TokenState.NOT_CONNECTED),
    ):
        assert health.state is state and health.needs_authorisation
        assert COMMAND in health.message()
    assert "不正なリフレッシュトークンです。" in refused.message()


def test_an_accounts_file_token_not_used_yet_is_not_a_problem():
    health = shop_token_health(WITH_TOKEN, None, NOW)
    assert health.state is TokenState.NOT_STORED and health.message() is None
    assert not health.needs_authorisation and health.days_left is None


def test_issue_time_unknown_counts_from_the_last_stored_pair():
    health = shop_token_health(
        SHOP, record(saved_at=NOW - timedelta(days=5), refreshed_at=NOW - timedelta(days=5)), NOW
    )
    assert (health.state, health.days_left) == (TokenState.OK, 25)


def test_a_refresh_that_worked_past_the_expected_lapse_restarts_the_estimate():
    # BASE handed back the same refresh token for 31 days and it still worked: its clock evidently
    # restarts on refresh (or it lives longer); count from that refresh.
    issued = NOW - timedelta(days=31)
    health = shop_token_health(
        SHOP, record(refresh_issued_at=issued, refreshed_at=NOW - timedelta(hours=2)), NOW
    )
    assert (health.state, health.days_left) == (TokenState.OK, 30)  # 29 days 22 hours


def test_lwa_secret_warns_from_fourteen_days_before_its_180_days_are_up():
    today = date(2026, 6, 1)
    assert lwa_secret_health(None, today).message() is None
    ok = lwa_secret_health(today - timedelta(days=100), today)
    assert (ok.state, ok.days_left, ok.message()) == (TokenState.OK, 80, None)
    soon = lwa_secret_health(today - timedelta(days=170), today)
    assert (soon.state, soon.days_left) == (TokenState.EXPIRING, 10)
    assert soon.retires_on == today - timedelta(days=170) + LWA_SECRET_LIFETIME
    message = soon.message()
    assert (
        "LWA_CLIENT_SECRET" in message and "LWA_SECRET_ROTATED_AT" in message and "Seller Central" in message
    )
    assert lwa_secret_health(today - timedelta(days=166), today).state is TokenState.EXPIRING
    assert lwa_secret_health(today - timedelta(days=165), today).state is TokenState.OK
    gone = lwa_secret_health(today - timedelta(days=181), today)
    assert gone.state is TokenState.LAPSED and "LWA_CLIENT_SECRET" in gone.message()
