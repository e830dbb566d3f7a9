"""Tokens and budgets: LWA/BASE expiry, BASE refresh-token rotation, hourly/daily call budgets."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from ecauto_sandbox import Sandbox, Scenario, VirtualClock
from ecauto_sandbox.probe import SandboxProbe

SHOP = "base_account_1"
INVALID_TOKEN = {"error": "invalid_request", "error_description": "アクセストークンが無効です。"}
BAD_REFRESH = {"error": "invalid_request", "error_description": "不正なリフレッシュトークンです。"}
HOUR_LIMIT = {"error": "hour_api_limit", "error_description": "1時間のAPIの利用上限を超えました。"}


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def fake():
    return FakeMonotonic()


def fake_sandbox(fake: FakeMonotonic, speed: float = 100.0, start_at: datetime | None = None, **options):
    return Sandbox(Scenario.demo(), clock=VirtualClock(speed, start_at, monotonic=fake), **options)


# ------------------------------------------------------------------- LWA
def test_lwa_token_expires_after_3600_virtual_seconds(fake):
    with fake_sandbox(fake, speed=100) as sb:
        probe = SandboxProbe(sb)
        token = probe.lwa_token().json()
        assert token["expires_in"] == 36
        fake.advance(35.9)
        assert probe.item_offers("B0FGQJ45HW").status_code == 200
        fake.advance(0.1)
        expired = probe.item_offers("B0FGQJ45HW")
        assert expired.status_code == 403
        assert (
            expired.json()["errors"][0]["details"]
            == "The access token you provided is revoked, malformed or invalid."
        )
        assert probe.lwa_token().status_code == 200  # the refresh token never expires
        assert probe.item_offers("B0FGQJ45HW").status_code == 200


def test_lwa_expires_in_is_rounded_up_and_the_token_lives_exactly_that_long(fake):
    with fake_sandbox(fake, speed=7) as sb:  # 3600 / 7 = 514.3 s → 515
        probe = SandboxProbe(sb)
        assert probe.lwa_token().json()["expires_in"] == 515
        fake.advance(514.9)
        assert probe.item_offers("B0FGQJ45HW").status_code == 200
        fake.advance(0.1)
        assert probe.item_offers("B0FGQJ45HW").status_code == 403


def test_lwa_refuses_bad_credentials_with_oauth_errors():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        probe = SandboxProbe(sb)
        cases = [
            ({"client_secret": "wrong"}, "invalid_client"),
            ({"client_id": "amzn1.application-oa2-client.unknown"}, "invalid_client"),
            ({"refresh_token": "Atzr|revoked"}, "invalid_grant"),
            ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
            ({"grant_type": ""}, "invalid_request"),
        ]
        for overrides, code in cases:
            response = probe.lwa_token(**overrides)
            assert response.status_code == 400, overrides
            assert response.json()["error"] == code, overrides
            assert set(response.json()) == {"error", "error_description"}
        log = [r for r in sb.requests if r.operation == "lwaToken"]
        assert [r.error_code for r in log] == [code for _, code in cases]


def test_secrets_never_reach_the_request_log_or_reprs():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        probe = SandboxProbe(sb)
        lwa = probe.lwa_token().json()
        base = probe.base_token(SHOP).json()
        secrets = [
            sb.lwa_credentials.client_secret,
            sb.lwa_credentials.refresh_token,
            lwa["access_token"],
            base["access_token"],
            base["refresh_token"],
            sb.shops[0].client_secret,
            sb.shops[0].refresh_token,
        ]
        text = repr(sb.requests) + repr(sb.lwa_credentials) + repr(sb.shops) + repr(sb)
    for secret in secrets:
        assert secret not in text
    assert "***" in text  # fingerprints stand in for them


# ------------------------------------------------------------------ BASE
def test_base_access_token_expires_after_an_hour_of_virtual_time(fake):
    with fake_sandbox(fake, speed=100) as sb:
        probe = SandboxProbe(sb)
        assert probe.base_token(SHOP).json()["expires_in"] == 36
        fake.advance(35.99)
        assert probe.items(SHOP).status_code == 200
        fake.advance(0.01)
        expired = probe.items(SHOP)
        assert (expired.status_code, expired.json()) == (400, INVALID_TOKEN)


def test_base_refresh_tokens_rotate_and_the_old_one_is_refused():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        probe = SandboxProbe(sb)
        initial = sb.shops[0].refresh_token
        first = probe.base_token(SHOP, refresh_token=initial).json()
        assert first["refresh_token"] != initial
        second = probe.base_token(SHOP, refresh_token=first["refresh_token"]).json()
        assert second["refresh_token"] not in (initial, first["refresh_token"])
        assert sb.current_refresh_token(SHOP) == second["refresh_token"]
        for old in (initial, first["refresh_token"]):
            refused = probe.base_token(SHOP, refresh_token=old)
            assert (refused.status_code, refused.json()) == (400, BAD_REFRESH)
        # Access tokens issued before the refresh keep working until they expire.
        assert probe.items(SHOP, token=first["access_token"]).status_code == 200
        # A shop's refresh token is no good with another shop's client.
        other = probe.base_token("base_account_2", refresh_token=second["refresh_token"])
        assert other.json() == BAD_REFRESH


def test_rotation_can_be_switched_off():
    with Sandbox(Scenario.demo(), speed=100, rotate_refresh_tokens=False) as sb:
        probe = SandboxProbe(sb)
        initial = sb.shops[1].refresh_token
        for _ in range(3):
            answer = probe.base_token("base_account_2", refresh_token=initial)
            assert answer.status_code == 200 and answer.json()["refresh_token"] == initial


def test_base_token_endpoint_errors():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        probe = SandboxProbe(sb)
        assert probe.base_token(SHOP, client_secret="nope").json() == {
            "error": "unauthorized_client",
            "error_description": "クライアントが見つかりませんでした。",
        }
        assert (
            probe.base_token(SHOP, client_id="").json()["error_description"]
            == "client_idもしくはclient_secretがありません。"
        )
        assert (
            probe.base_token(SHOP, grant_type="password").json()["error_description"]
            == "不正なgrant_typeです。"
        )
        get = probe.session.get(sb.base_token_url, timeout=5)
        assert (get.status_code, get.json()["error"]) == (400, "access_denied")


def test_base_refresh_token_lapses_after_30_virtual_days(fake):
    with fake_sandbox(fake, speed=3600) as sb:
        probe = SandboxProbe(sb)
        fake.advance(30 * 24)  # 30 virtual days at one virtual hour per real second
        lapsed = probe.base_token(SHOP, refresh_token=sb.shops[0].refresh_token)
        assert lapsed.json() == {
            "error": "invalid_request",
            "error_description": "リフレッシュトークンの有効期限が切れています。",
        }


def test_expire_tokens_kills_every_access_token_issued_so_far():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        probe = SandboxProbe(sb)
        assert probe.item_offers("B0FGQJ45HW").status_code == 200
        assert probe.items(SHOP).status_code == 200
        assert sb.expire_tokens() == 2
        assert probe.item_offers("B0FGQJ45HW").status_code == 403
        assert probe.items(SHOP).json() == INVALID_TOKEN
        probe.lwa_token()
        probe.base_token(SHOP)
        assert probe.items(SHOP).status_code == 200


def test_unknown_or_missing_bearer_token_is_refused():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        probe = SandboxProbe(sb)
        assert probe.items(SHOP, token="not-a-token").json() == INVALID_TOKEN
        bare = probe.session.get(sb.url + "/1/items", timeout=5)
        assert (bare.status_code, bare.json()) == (400, INVALID_TOKEN)
        assert [r.shop_id for r in sb.requests] == [None, None]


# --------------------------------------------------------------- budgets
def test_hour_api_limit_counts_item_calls_only_and_resets_at_the_next_virtual_hour(fake):
    start = datetime(2026, 3, 1, 10, 20, tzinfo=UTC)
    with fake_sandbox(fake, speed=60, start_at=start, base_hour_limit=5) as sb:
        probe = SandboxProbe(sb)
        probe.base_token(SHOP)  # token calls are not counted
        statuses = [probe.items(SHOP).status_code for _ in range(5)]
        refused = probe.items(SHOP)
        assert statuses == [200] * 5
        assert (refused.status_code, refused.json()) == (400, HOUR_LIMIT)
        assert probe.items("base_account_2").status_code == 200  # budgets are per shop
        assert sb.base_budget(SHOP) == {"hour": 0, "day": 99_995}
        fake.advance((39 * 60 + 59) / 60)  # 10:59:59 virtual
        assert probe.items(SHOP).json() == HOUR_LIMIT
        fake.advance(1 / 60)  # 11:00:00
        assert probe.items(SHOP).status_code == 200
        log = [r for r in sb.requests if r.shop_id == SHOP and r.operation == "items"]
        assert [r.error_code for r in log].count("hour_api_limit") == 2


def test_day_api_limit_resets_at_the_jst_date_change(fake):
    start = datetime(2026, 3, 1, 14, 50, tzinfo=UTC)  # 23:50 JST
    with fake_sandbox(fake, speed=60, start_at=start, base_day_limit=3) as sb:
        probe = SandboxProbe(sb)
        assert [probe.items(SHOP).status_code for _ in range(3)] == [200] * 3
        assert probe.items(SHOP).json()["error"] == "day_api_limit"
        fake.advance(10)  # 00:00 JST the next day (UTC 15:00)
        assert probe.items(SHOP).status_code == 200
        sb.exhaust_base_day(SHOP)  # the rest of this JST day
        assert probe.items(SHOP).json()["error"] == "day_api_limit"
        assert sb.base_budget(SHOP)["day"] == 0


def test_exhaust_base_hour_in_real_time_at_high_speed():
    start = datetime.now(UTC).replace(minute=59, second=30, microsecond=0)
    with Sandbox(Scenario.demo(), speed=600, start_at=start) as sb:  # the hour turns after 50 ms
        probe = SandboxProbe(sb)
        probe.base_token(SHOP)
        sb.exhaust_base_hour(SHOP)
        assert probe.items(SHOP).json() == HOUR_LIMIT
        assert probe.edit_item(SHOP, 127641203, price=2900).json() == HOUR_LIMIT
        time.sleep(0.06)
        assert probe.items(SHOP).status_code == 200
        assert sb.item(SHOP, 127641203)["price"] == 2830  # the refused edit changed nothing


def test_time_scale_of_token_lifetimes_is_the_same_in_virtual_time(fake):
    lives = {}
    for speed in (1.0, 100.0, 3600.0):
        with fake_sandbox(FakeMonotonic(), speed=speed) as sb:
            probe = SandboxProbe(sb)
            lwa = probe.lwa_token().json()["expires_in"]
            base = probe.base_token(SHOP).json()["expires_in"]
        lives[speed] = (lwa * speed, base * speed)
    assert lives == {1.0: (3600, 3600), 100.0: (3600, 3600), 3600.0: (3600, 3600)}


def test_virtual_clock_runs_speed_times_faster(fake):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with fake_sandbox(fake, speed=100, start_at=start) as sb:
        fake.advance(1.5)
        assert sb.now() == start + timedelta(seconds=150)
        probe = SandboxProbe(sb)
        probe.lwa_token()
        assert sb.requests[-1].vt == start + timedelta(seconds=150)
