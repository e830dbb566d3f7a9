"""flows/doctor.py: every check passes against the simulator, and each failure injected shows its ✗ and fix."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ecauto_lib import db
from ecauto_lib.base.authorize import RedirectAnswer
from ecauto_lib.config import load_settings
from ecauto_lib.connect import token_store
from ecauto_lib.doctor import Mark, passed, run_checks, table
from ecauto_lib.shop_connect import finish
from ecauto_sandbox import Faults, Sandbox, Scenario, VirtualClock
from flows.demo import demo_environment
from tests.test_sandbox_auth import FakeMonotonic

ROOT = Path(__file__).resolve().parent.parent
SHOP1 = "BASE base_account_1 (森のBAZAAR)"


def env_for(sb: Sandbox, tmp_path: Path, **overrides: str | None) -> dict[str, str]:
    env = {**demo_environment(sb, tmp_path), **overrides}
    return {k: v for k, v in env.items() if v is not None}


def by_check(results) -> dict[str, tuple[Mark, str, str]]:
    return {r.check: (r.mark, r.detail, r.fix) for r in results}


def secrets_of(sb: Sandbox, database_url: str | None = None) -> set[str]:
    found = {sb.lwa_credentials.client_secret, sb.lwa_credentials.refresh_token}
    for shop in sb.shops:
        found |= {shop.client_secret, shop.refresh_token, sb.current_refresh_token(shop.id)}
    found |= set(sb.state.access_tokens)
    return found


def assert_no_secret(results, sb: Sandbox) -> None:
    text = "\n".join(table(results))
    assert [s[:6] for s in secrets_of(sb) if s and s in text] == []


def test_demo_passes_every_check_and_prints_no_secret(tmp_path):
    # As in a new shell: no ECAUTO_SECRET_KEY exported (the suite's conftest sets one) and no .env
    # where it runs; the demo brings its own key and every check must use it.
    env = {k: v for k, v in os.environ.items() if k != "ECAUTO_SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "flows/doctor.py"), "--demo"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")][1:]
    assert len(lines) == 15 and all(line.startswith("| ✓ |") for line in lines[1:])
    assert "searchCatalogItems for 1 ASIN: 1 request of its 2 req/s quota" in result.stdout
    assert "15 passed, 0 failed" in result.stdout
    assert "amzn1.oa2-cs" not in result.stdout and "Atzr|" not in result.stdout


def test_every_check_passes_and_a_second_run_too(tmp_path):
    with Sandbox(Scenario.demo(), speed=100) as sb:
        env = env_for(sb, tmp_path)
        first = run_checks(env, dotenv_path=None)
        assert passed(first) and all(r.mark is Mark.PASS for r in first)
        again = by_check(run_checks(env, dotenv_path=None))  # the rotated pairs were stored: still fine
        assert again[f"{SHOP1}: token refresh"][0] is Mark.PASS
        assert "at the latest migration" in again["マスターDB (master DB)"][1]
        assert_no_secret(first, sb)


@pytest.mark.parametrize(
    ("overrides", "check", "words"),
    [
        ({"ECAUTO_MARKUP": "abc"}, "設定 (settings: SP-API, policy)", ("ECAUTO_MARKUP",)),
        ({"LWA_APP_ID": None}, "設定 (settings: SP-API, policy)", ("LWA_APP_ID",)),
        ({"ECAUTO_ACCOUNTS_FILE": "missing.json"}, "アカウント (accounts file)", ("file not found",)),
        (
            {"DATABASE_URL": "postgresql+psycopg://ecauto:Pw0rd5ecret@127.0.0.1:1/master"},
            "マスターDB (master DB)",
            ("DATABASE_URL", "***"),
        ),
        ({"PREFECT_API_URL": "http://127.0.0.1:1/api"}, "Prefect API", ("ConnectionError",)),
    ],
)
def test_a_bad_setting_fails_its_check_with_the_fix(tmp_path, overrides, check, words):
    with Sandbox(Scenario.demo(), speed=100) as sb:
        results = run_checks(env_for(sb, tmp_path, **overrides), dotenv_path=None)
        mark, detail, fix = by_check(results)[check]
        assert mark is Mark.FAIL and all(w in detail + fix for w in words), (detail, fix)
        assert not passed(results)
        assert "Pw0rd5ecret" not in "\n".join(table(results))
        assert_no_secret(results, sb)


def test_a_retired_lwa_secret_and_a_withdrawn_sp_api_role(tmp_path):
    with Sandbox(Scenario.demo(), speed=100) as sb:
        env = env_for(sb, tmp_path)
        sb.rotate_lwa_secret()
        checks = by_check(run_checks(env, dotenv_path=None))
        mark, _, fix = checks["LWA"]
        assert mark is Mark.FAIL and fix.startswith("LWA_CLIENT_SECRET:") and "Seller Central" in fix
        assert checks["SP-API"][0] is Mark.SKIP
        assert checks[f"{SHOP1}: token refresh"][0] is Mark.PASS  # BASE is not affected

        sb.set_sp_api_access(False)
        checks = by_check(run_checks(env_for(sb, tmp_path), dotenv_path=None))  # the new secret
        assert checks["LWA"][0] is Mark.PASS
        mark, detail, fix = checks["SP-API"]
        assert (
            mark is Mark.FAIL and "refused (HTTP 403)" in detail and fix.startswith("SP_API_REFRESH_TOKEN:")
        )


def test_a_refused_shop_token_and_base_answering_errors(tmp_path):
    with Sandbox(Scenario.demo(), speed=100) as sb:
        env = env_for(sb, tmp_path)
        assert passed(run_checks(env, dotenv_path=None))  # pairs stored
        sb.expire_refresh_tokens("base_account_1")
        results = run_checks(env, dotenv_path=None)
        checks = by_check(results)
        mark, detail, fix = checks[f"{SHOP1}: token refresh"]
        assert mark is Mark.FAIL and fix == "python flows/connect_shop.py --account base_account_1"
        assert "リフレッシュトークンの有効期限が切れています。" in detail
        assert checks[f"{SHOP1}: /1/users/me"][0] is Mark.SKIP
        assert checks["BASE base_account_2 (バイヤー氏屋【精神科医】): items readable"][0] is Mark.PASS
        assert_no_secret(results, sb)

    (tmp_path / "b5xx").mkdir()
    with Sandbox(Scenario.demo(), speed=100, faults=Faults(base_5xx_rate=1.0)) as sb:
        checks = by_check(run_checks(env_for(sb, tmp_path / "b5xx"), dotenv_path=None))
        assert checks[f"{SHOP1}: token refresh"][0] is Mark.PASS  # the token endpoint still answers
        assert checks[f"{SHOP1}: /1/users/me"][0] is Mark.FAIL and "503" in checks[f"{SHOP1}: /1/users/me"][1]
        assert checks[f"{SHOP1}: items readable"][0] is Mark.FAIL


def test_days_left_and_the_lwa_secret_age_warn_without_failing(tmp_path):
    fake = FakeMonotonic()
    clock = VirtualClock(1.0, datetime.now(UTC) - timedelta(days=25), monotonic=fake)
    with Sandbox(Scenario.demo(), clock=clock, rotate_refresh_tokens=False) as sb:
        rotated = (date.today() - timedelta(days=170)).isoformat()
        env = env_for(sb, tmp_path, LWA_SECRET_ROTATED_AT=rotated)
        settings = load_settings(env, dotenv_path=None, require_sp_api=False)
        engine = db.make_engine(env["DATABASE_URL"])
        db.upgrade(engine)
        for account in settings.accounts:  # connected 25 days ago, by the simulator's clock
            finish(
                settings,
                account,
                token_store(settings, engine),  # with the settings' key, as connect_shop stores them
                RedirectAnswer(code=sb.authorize(account.id)),
                clock=lambda: sb.now().timestamp(),
            )
        fake.advance(25 * 86400)
        results = run_checks(env, dotenv_path=None)
        checks = by_check(results)
        mark, detail, fix = checks[f"{SHOP1}: token days left"]
        assert (mark, fix) == (Mark.WARN, "python flows/connect_shop.py --account base_account_1")
        assert detail.startswith("5 days before the refresh token is expected to lapse")
        mark, detail, fix = checks["LWA client secret age"]
        assert mark is Mark.WARN and "10 days left" in detail and "LWA_CLIENT_SECRET" in fix
        assert passed(results)  # warnings do not fail the preflight
