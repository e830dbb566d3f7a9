"""flows/connect_shop.py against the simulated BASE: loopback listener, pasted answers, refusals, --status."""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from ecauto_lib import db
from ecauto_lib.base.auth import BaseAuth
from ecauto_lib.base.client import BaseClient
from ecauto_lib.config import environment
from ecauto_sandbox import Sandbox, Scenario
from ecauto_sandbox.probe import SandboxProbe
from flows.connect_shop import main
from tests.marketplace import calls, rows

ROOT = Path(__file__).resolve().parent.parent
SHOP, OTHER = "base_account_1", "base_account_2"
AUTHORIZE = re.compile(r"(http://127\.0\.0\.1:\d+/1/oauth/authorize\?\S+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect_env(sb: Sandbox, tmp_path: Path, *, refresh_tokens: bool = False, **overrides) -> dict[str, str]:
    """Settings pointing at ``sb``; the accounts file holds no refresh token (a new seller's)."""
    config = sb.accounts_config()
    for entry in config["accounts"]:
        if not refresh_tokens:
            del entry["refresh_token"]
        entry.update(overrides.get(entry["id"], {}))
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps(config, ensure_ascii=False))
    return {
        **sb.env(),
        "ECAUTO_ACCOUNTS_FILE": str(path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'master.db'}",
        "ECAUTO_SECRET_KEY": os.environ["ECAUTO_SECRET_KEY"],  # the session's (conftest): pairs are sealed
    }


def browser_allows(url: str, shop_id: str, *, follow: bool = True) -> requests.Response:
    """What the seller does: open the consent page, pick the shop, press allow (follows the 302)."""
    page = requests.get(url, timeout=5)
    assert page.status_code == 200, page.text
    form = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
    }
    action = urlsplit(url)._replace(path="/1/oauth/authorize", query="").geturl()
    return requests.post(
        action, data={**form, "shop_id": shop_id, "decision": "allow"}, allow_redirects=follow, timeout=30
    )


def run_cli(env: dict[str, str], capsys, *args: str) -> tuple[int, str]:
    with environment({"REFRESH_TOKEN": None, **env}):
        code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def stored(database_url: str) -> dict[str, tuple]:
    return {
        r[0]: r[1:]
        for r in rows(
            database_url,
            "select account_id, base_shop_id, authorised_at is not null, refusal from base_tokens",
        )
    }


def live_client(sb: Sandbox, env: dict[str, str], shop_index: int = 0) -> BaseClient:
    """A BASE client reading its pair from the master DB, as a sync does."""
    shop = sb.shops[shop_index]
    store = db.DbTokenStore(db.make_engine(env["DATABASE_URL"]))
    auth = BaseAuth(
        shop.id,
        client_id=shop.client_id,
        client_secret=shop.client_secret,
        redirect_uri=shop.redirect_uri,
        initial_refresh_token="",
        store=store,
        token_url=sb.base_token_url,
    )
    return BaseClient(sb.url, auth)


def no_secret_in(texts: list[str], sb: Sandbox, database_url: str, *extra: str) -> None:
    secrets = {sb.lwa_credentials.client_secret, *extra}
    for shop in sb.shops:
        secrets |= {shop.client_secret, shop.refresh_token}
    secrets |= {r[0] for r in rows(database_url, "select access_token from base_tokens")}
    secrets |= {r[0] for r in rows(database_url, "select refresh_token from base_tokens")}
    haystack = "\n".join(texts)
    assert [s[:6] for s in secrets if s and s in haystack] == []


def test_loopback_listener_catches_the_code_through_a_real_redirect(tmp_path):
    port = free_port()
    with Sandbox(Scenario.demo(), speed=100, base_redirect_uri=f"http://127.0.0.1:{port}/callback") as sb:
        env = connect_env(sb, tmp_path)
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "flows/connect_shop.py"), "--account", SHOP, "--timeout", "60"],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            lines = []
            while not any("Waiting" in line for line in lines):  # the listener is bound before this line
                line = process.stdout.readline()
                assert line, process.stderr.read()
                lines.append(line)
            (url,) = [m.group(1) for line in lines for m in [AUTHORIZE.search(line)] if m]
            page = browser_allows(url, SHOP)  # the 302 goes to the listener, which answers the browser
            out, err = process.communicate(timeout=60)
        finally:
            process.kill()
        assert process.returncode == 0, err
        assert page.status_code == 200 and "you can close this tab" in page.text and "森のBAZAAR" in page.text
        output = "".join(lines) + out + err
        assert "BASE shop '森のBAZAAR' (base_account_1" in output
        assert stored(env["DATABASE_URL"]) == {SHOP: (SHOP, 1, None)}
        grants = [r.body["grant_type"] for r in calls(sb, "baseToken")]
        assert grants == ["authorization_code"] and [r.status for r in calls(sb, "usersMe")] == [200]
        assert live_client(sb, env).list_items(limit=1)  # the stored pair works for syncing
        no_secret_in([output, page.text], sb, env["DATABASE_URL"])


def test_pasted_redirect_url_and_pasted_code(tmp_path, capsys):
    with Sandbox(Scenario.demo(), speed=100) as sb:  # redirect_uri http://127.0.0.1/… : no port, paste
        env = connect_env(sb, tmp_path)
        code, first = run_cli(env, capsys, "--account", SHOP)
        assert code == 0 and "--redirect-url" in first and stored(env["DATABASE_URL"]) == {}
        (url,) = AUTHORIZE.findall(first)
        redirect = browser_allows(url, SHOP, follow=False)
        assert redirect.status_code == 302
        address = redirect.headers["Location"]
        code, out = run_cli(env, capsys, "--account", SHOP, "--redirect-url", address)
        assert code == 0 and "'森のBAZAAR'" in out

        issued = sb.authorize(OTHER)  # the code as the seller copies it from the address bar
        code, out2 = run_cli(env, capsys, "--account", OTHER, "--code=" + issued)
        assert code == 0 and "'バイヤー氏屋【精神科医】'" in out2
        assert stored(env["DATABASE_URL"]) == {SHOP: (SHOP, 1, None), OTHER: (OTHER, 1, None)}
        assert live_client(sb, env, 1).list_items(limit=1)
        no_secret_in([first, out, out2], sb, env["DATABASE_URL"], issued, address)


def test_state_mismatch_and_a_used_code_are_refused_with_nothing_written(tmp_path, capsys):
    with Sandbox(Scenario.demo(), speed=100) as sb:
        env = connect_env(sb, tmp_path)
        code, first = run_cli(env, capsys, "--account", OTHER)
        (url,) = AUTHORIZE.findall(first)
        address = browser_allows(url, OTHER, follow=False).headers["Location"]  # a URL built for OTHER
        before = len(sb.requests)
        code, out = run_cli(env, capsys, "--account", SHOP, "--redirect-url", address)
        assert code == 1 and "state mismatch" in out
        assert calls(sb, "baseToken", before) == []  # the code was not even sent
        tampered = re.sub(r"state=[^&]+", "state=forged.0000", address)
        code, out2 = run_cli(env, capsys, "--account", OTHER, "--redirect-url", tampered)
        assert code == 1 and "state mismatch" in out2

        used = sb.authorize(SHOP)
        shop = sb.shops[0]
        spent = SandboxProbe(sb).base_token(
            SHOP, grant_type="authorization_code", code=used, refresh_token="", redirect_uri=shop.redirect_uri
        )
        assert spent.status_code == 200  # someone (an earlier attempt) already used it
        code, out3 = run_cli(env, capsys, "--account", SHOP, "--code=" + used)
        assert code == 1 and "不正な認可コードです。" in out3 and "ask for a new code" in out3
        assert stored(env["DATABASE_URL"]) == {}
        no_secret_in([first, out, out2, out3], sb, env["DATABASE_URL"], used, address)


def test_a_live_pair_is_replaced_only_with_force_a_dead_one_freely(tmp_path, capsys):
    with Sandbox(Scenario.demo(), speed=100) as sb:
        env = connect_env(sb, tmp_path)
        assert run_cli(env, capsys, "--account", SHOP, "--code=" + sb.authorize(SHOP))[0] == 0
        code, out = run_cli(env, capsys, "--account", SHOP, "--code=" + sb.authorize(SHOP))
        assert code == 2 and "already connected" in out and "--force" in out
        code, out = run_cli(env, capsys, "--account", SHOP, "--code=" + sb.authorize(SHOP), "--force")
        assert code == 0 and "re-connected" in out

        # BASE lapses the token; the next refresh is refused and recorded: no --force needed then
        sb.expire_refresh_tokens(SHOP)
        sb.expire_tokens()
        with pytest.raises(Exception, match="connect_shop.py --account base_account_1"):
            live_client(sb, env).list_items(limit=1)
        assert stored(env["DATABASE_URL"])[SHOP][2].startswith("invalid_request")
        code, out = run_cli(env, capsys, "--account", SHOP, "--code=" + sb.authorize(SHOP))
        assert code == 0 and stored(env["DATABASE_URL"])[SHOP][2] is None
        assert live_client(sb, env).list_items(limit=1)


def test_a_code_for_another_shop_is_refused_without_force(tmp_path, capsys):
    with Sandbox(Scenario.demo(), speed=100, shared_base_app=True) as sb:
        env = connect_env(sb, tmp_path)
        assert run_cli(env, capsys, "--account", SHOP, "--code=" + sb.authorize(SHOP))[0] == 0
        sb.expire_refresh_tokens(SHOP)  # dead (BASE refuses it, and that is recorded): replaceable,
        sb.expire_tokens()  # but only by the same BASE shop
        with pytest.raises(Exception, match="re-authorise"):
            live_client(sb, env).list_items(limit=1)
        code, out = run_cli(env, capsys, "--account", SHOP, "--code=" + sb.authorize(OTHER))
        assert code == 1 and "'バイヤー氏屋【精神科医】'" in out and "nothing was saved" in out
        assert stored(env["DATABASE_URL"])[SHOP][0] == SHOP


@pytest.mark.parametrize(
    ("args", "overrides", "exit_code", "message"),
    [
        (
            ["--account", "ghost"],
            {},
            2,
            "unknown account id 'ghost' (accounts file has: base_account_1, base_account_2)",
        ),
        (
            ["--account", SHOP],
            {SHOP: {"client_secret": "${UNSET_SECRET}"}},
            2,
            "client_secret: refers to ${UNSET_SECRET}",
        ),
        ([], {}, 2, "--account ID is required"),
    ],
)
def test_usage_and_configuration_errors_exit_2(tmp_path, capsys, args, overrides, exit_code, message):
    with Sandbox(Scenario.demo(), speed=100) as sb:
        env = connect_env(sb, tmp_path, **overrides)
        with environment(env):
            try:
                code = main(args)
            except SystemExit as exc:  # argparse
                code = exc.code
        captured = capsys.readouterr()
        assert code == exit_code and message in captured.err
        assert not (tmp_path / "master.db").exists()


def test_a_wrong_client_secret_is_a_configuration_error(tmp_path, capsys):
    with Sandbox(Scenario.demo(), speed=100) as sb:
        env = connect_env(sb, tmp_path, **{SHOP: {"client_secret": "not-the-secret"}})
        code, out = run_cli(env, capsys, "--account", SHOP, "--code=" + sb.authorize(SHOP))
        assert code == 2 and "client_id and client_secret of account base_account_1" in out
        assert stored(env["DATABASE_URL"]) == {}


def test_status_prints_every_shops_token_health(tmp_path, capsys):
    with Sandbox(Scenario.demo(), speed=100) as sb:
        env = connect_env(sb, tmp_path)
        code, out = run_cli(env, capsys, "--status")
        assert code == 1  # nothing connected yet
        assert (
            out.count("❌ 未接続 (not connected)") == 2 and "connect_shop.py --account base_account_2" in out
        )
        assert run_cli(env, capsys, "--account", SHOP, "--code=" + sb.authorize(SHOP))[0] == 0
        assert run_cli(env, capsys, "--account", OTHER, "--code=" + sb.authorize(OTHER))[0] == 0
        code, out = run_cli(env, capsys, "--status")
        assert code == 0
        lines = [line for line in out.splitlines() if line.startswith("| base_account")]
        assert len(lines) == 2 and all("| 30 | OK |" in line for line in lines)
        assert "森のBAZAAR" in lines[0] and "JST" in lines[0]  # the seller's time (#15 §3)
        no_secret_in([out], sb, env["DATABASE_URL"])
