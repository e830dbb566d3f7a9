"""The simulator's BASE authorisation-code flow, /1/users/me, shared apps, refresh-token lapse and LWA
secret rotation: what ``flows/connect_shop.py`` and ``flows/doctor.py`` are tested against."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ecauto_sandbox import Sandbox, Scenario, VirtualClock
from ecauto_sandbox.probe import SandboxProbe
from tests.test_sandbox_auth import FakeMonotonic

SHOP = "base_account_1"
OTHER = "base_account_2"
BAD_CODE = {"error": "invalid_request", "error_description": "不正な認可コードです。"}
EXPIRED_CODE = {"error": "invalid_request", "error_description": "認可コードの有効期限が切れています。"}
BAD_PARAMS = {"error": "invalid_request", "error_description": "不正なパラメーターです。"}
EXPIRED_REFRESH = {
    "error": "invalid_request",
    "error_description": "リフレッシュトークンの有効期限が切れています。",
}


def authorize_query(shop, **overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": shop.client_id,
        "redirect_uri": shop.redirect_uri,
        "scope": "read_items write_items",
        "state": "st-123",
        **overrides,
    }


def code_grant(sb: Sandbox, shop, code: str, **overrides: str) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": shop.client_id,
        "client_secret": shop.client_secret,
        "code": code,
        "redirect_uri": shop.redirect_uri,
        **overrides,
    }
    return requests.post(sb.base_token_url, data=form, timeout=5)


def users_me(sb: Sandbox, access_token: str) -> requests.Response:
    return requests.get(
        sb.url + "/1/users/me", headers={"Authorization": f"Bearer {access_token}"}, timeout=5
    )


def test_consent_page_redirects_with_a_single_use_code_for_the_chosen_shop():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        shop = sb.shops[0]
        page = requests.get(sb.url + "/1/oauth/authorize", params=authorize_query(shop), timeout=5)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert 'name="shop_id"' in page.text and OTHER in page.text  # the seller chooses the shop
        form = {**authorize_query(shop), "shop_id": SHOP, "decision": "allow"}
        answer = requests.post(sb.url + "/1/oauth/authorize", data=form, allow_redirects=False, timeout=5)
        assert answer.status_code == 302
        location = urlsplit(answer.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == shop.redirect_uri
        query = parse_qs(location.query)
        assert query["state"] == ["st-123"]
        code = query["code"][0]

        tokens = code_grant(sb, shop, code)
        assert tokens.status_code == 200
        assert set(tokens.json()) == {"access_token", "token_type", "expires_in", "refresh_token"}
        me = users_me(sb, tokens.json()["access_token"])
        assert me.status_code == 200
        user = me.json()["user"]
        assert (user["shop_id"], user["shop_name"]) == (SHOP, "森のBAZAAR")
        assert user["shop_url"].startswith("https://")
        assert code_grant(sb, shop, code).json() == BAD_CODE  # single use
        # The code and tokens never reach the request log.
        logged = repr(sb.requests)
        assert code not in logged and tokens.json()["refresh_token"] not in logged
        assert [r.operation for r in sb.requests] == [
            "baseAuthorize",
            "baseAuthorize",
            "baseToken",
            "usersMe",
            "baseToken",
        ]


def test_denied_consent_and_bad_authorize_requests():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        shop = sb.shops[0]
        form = {**authorize_query(shop), "shop_id": SHOP, "decision": "deny"}
        denied = requests.post(sb.url + "/1/oauth/authorize", data=form, allow_redirects=False, timeout=5)
        assert denied.status_code == 302
        assert parse_qs(urlsplit(denied.headers["Location"]).query) == {
            "error": ["access_denied"],
            "state": ["st-123"],
        }
        # No redirect to an unverified address: an error page instead.
        for overrides in (
            {"response_type": "token"},
            {"client_id": "unknown"},
            {"redirect_uri": "https://evil.invalid/cb"},
        ):
            page = requests.get(
                sb.url + "/1/oauth/authorize", params=authorize_query(shop, **overrides), timeout=5
            )
            assert page.status_code == 400 and "Location" not in page.headers, overrides


def test_code_expires_must_match_its_client_and_redirect_uri():
    fake = FakeMonotonic()
    with Sandbox(Scenario.demo(), clock=VirtualClock(100, monotonic=fake)) as sb:
        shop, other = sb.shops
        code = sb.authorize(SHOP)
        assert code_grant(sb, shop, code, redirect_uri="http://127.0.0.1:1/elsewhere").json() == BAD_PARAMS
        assert code_grant(sb, other, code).json() == BAD_CODE  # issued to another app
        fake.advance(3600 / 100)  # one virtual hour
        assert code_grant(sb, shop, code).json() == EXPIRED_CODE
        fresh = sb.authorize(SHOP)
        assert code_grant(sb, shop, fresh).status_code == 200


def test_one_app_authorised_by_several_shops_the_token_chooses_the_shop():
    with Sandbox(Scenario.demo(), speed=100, shared_base_app=True) as sb:
        first, second = sb.shops
        assert (first.client_id, first.client_secret) == (second.client_id, second.client_secret)
        tokens = {}
        for shop in sb.shops:
            answer = code_grant(sb, shop, sb.authorize(shop.id))
            assert answer.status_code == 200
            tokens[shop.id] = answer.json()
        for shop_id, pair in tokens.items():
            assert users_me(sb, pair["access_token"]).json()["user"]["shop_id"] == shop_id
            items = requests.get(
                sb.url + "/1/items",
                headers={"Authorization": f"Bearer {pair['access_token']}"},
                timeout=5,
            ).json()["items"]
            assert {i["item_id"] for i in items} == {i["item_id"] for i in sb.items(shop_id)}
        # The initial refresh tokens work with the shared client too, each for its own shop.
        probe = SandboxProbe(sb)
        refreshed = probe.base_token(OTHER, refresh_token=second.refresh_token).json()
        assert users_me(sb, refreshed["access_token"]).json()["user"]["shop_id"] == OTHER


def test_a_token_only_carries_the_scopes_the_shop_granted():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        shop = sb.shops[0]
        pair = code_grant(sb, shop, sb.authorize(SHOP, scope="read_items")).json()
        probe = SandboxProbe(sb)
        item_id = sb.items(SHOP)[0]["item_id"]
        assert probe.items(SHOP, token=pair["access_token"]).status_code == 200
        refused = probe.edit_item(SHOP, item_id, token=pair["access_token"], price=5000)
        assert refused.json() == {"error": "invalid_scope", "error_description": "スコープが無効です。"}
        assert users_me(sb, pair["access_token"]).status_code == 200  # read_users is always granted
        # A refresh keeps the scopes of the grant.
        again = probe.base_token(SHOP, refresh_token=pair["refresh_token"]).json()
        assert probe.edit_item(SHOP, item_id, token=again["access_token"], price=5000).json()["error"] == (
            "invalid_scope"
        )


@pytest.mark.parametrize("rotate", [True, False])
def test_refresh_tokens_lapse_30_virtual_days_after_they_were_issued(rotate):
    fake = FakeMonotonic()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with Sandbox(
        Scenario.demo(), clock=VirtualClock(86400, start, monotonic=fake), rotate_refresh_tokens=rotate
    ) as sb:
        probe = SandboxProbe(sb)
        fake.advance(20)  # day 20: a refresh
        refreshed = probe.base_token(SHOP, refresh_token=sb.shops[0].refresh_token)
        assert refreshed.status_code == 200
        fake.advance(11)  # day 31
        answer = probe.base_token(SHOP, refresh_token=refreshed.json()["refresh_token"])
        if rotate:  # a new refresh token was issued on day 20: it lives until day 50
            assert answer.status_code == 200
        else:  # the same token came back on day 20: it lapsed on day 30 (our assumption)
            assert answer.json() == EXPIRED_REFRESH


def test_expire_refresh_tokens_lapses_one_shop_only():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        probe = SandboxProbe(sb)
        answer = probe.admin_post(f"/shops/{SHOP}/expire_refresh_tokens")
        assert answer.json() == {"expired": 1}
        assert probe.base_token(SHOP).json() == EXPIRED_REFRESH
        assert probe.base_token(OTHER).status_code == 200


def test_admin_authorize_issues_a_code_and_the_log_keeps_only_its_fingerprint():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        probe = SandboxProbe(sb)
        answer = probe.admin_post(f"/shops/{OTHER}/authorize", {"scope": "read_items write_items"})
        code = answer.json()["code"]
        assert code_grant(sb, sb.shops[1], code).status_code == 200
        assert code not in repr(sb.requests)
        assert probe.admin_post("/shops/nope/authorize").status_code == 404


def test_retired_lwa_secret_gets_invalid_client():
    with Sandbox(Scenario.demo(), speed=100) as sb:
        old = sb.lwa_credentials.client_secret
        probe = SandboxProbe(sb)
        rotated = probe.admin_post("/lwa/rotate_secret").json()
        assert set(rotated) == {"ok"}  # the new secret is read from env(), never from the log
        new = sb.lwa_credentials.client_secret
        assert new != old and sb.env()["LWA_CLIENT_SECRET"] == new
        refused = probe.lwa_token(client_secret=old)
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_client")
        assert probe.lwa_token().status_code == 200


def test_sp_api_access_can_be_withdrawn_from_a_valid_token():
    with Sandbox(Scenario.demo(), speed=100, enforce_quotas=False) as sb:
        probe = SandboxProbe(sb)
        assert probe.item_offers("B0FGQJ45HW").status_code == 200
        assert probe.admin_post("/sp_api/access", {"allowed": False}).status_code == 200
        denied = probe.item_offers("B0FGQJ45HW")
        assert denied.status_code == 403 and denied.json()["errors"][0]["code"] == "Unauthorized"
        sb.set_sp_api_access(True)
        assert probe.item_offers("B0FGQJ45HW").status_code == 200
