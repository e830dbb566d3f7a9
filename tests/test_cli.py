"""The command lines: arguments, and configuration errors that exit with 2 before any call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ecauto_lib.config import SyncMode
from flows.sync import parse_args
from tests.prefect_home import migrated_prefect_home

ROOT = Path(__file__).resolve().parent.parent


def test_parse_args_modes_and_flags():
    o = parse_args(
        ["--price-only", "--dry-run", "--account", "a", "--account", "b", "--limit", "5", "--confirm"]
    )
    assert (o.mode, o.dry_run, o.accounts, o.limit, o.confirm, o.demo) == (
        SyncMode.PRICE,
        True,
        ["a", "b"],
        5,
        True,
        False,
    )
    assert parse_args(["--stock-only", "--release-held"]).confirm is True
    assert parse_args([]).mode is SyncMode.FULL
    assert parse_args(["--serve"]).serve is True
    with pytest.raises(SystemExit):
        parse_args(["--price-only", "--stock-only"])
    with pytest.raises(SystemExit):
        parse_args(["--limit", "-1"])


def _run(args, tmp_path, env_extra):
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PREFECT_HOME": str(migrated_prefect_home(tmp_path / "prefect")),
        **env_extra,
    }
    return subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def accounts(tmp_path):
    path = tmp_path / "accounts.json"
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "id": "shop1",
                        "name": "n",
                        "client_id": "c",
                        "client_secret": "s-e-c-r-e-t",
                        "redirect_uri": "https://x.invalid/cb",
                        "refresh_token": "r",
                    }
                ]
            }
        )
    )
    return path


CREDENTIALS = {"SP_API_REFRESH_TOKEN": "Atzr|x", "LWA_APP_ID": "app", "LWA_CLIENT_SECRET": "lwa-s-e-c-r-e-t"}
KEY = "q2Jd0hUSpQjVqjKp3bqLkN0gkQb3M2S6zR0A2hY5cUU="  # a Fernet key (test only)


@pytest.mark.parametrize(
    ("script", "args", "env", "message"),
    [
        ("flows/sync.py", [], {}, "SP_API_REFRESH_TOKEN: is not set"),
        ("flows/sync.py", [], {**CREDENTIALS, "ECAUTO_ACCOUNTS_FILE": "nope.json"}, "file not found"),
        (
            "flows/sync.py",
            ["--account", "ghost"],
            {**CREDENTIALS, "ECAUTO_ACCOUNTS_FILE": "{accounts}"},
            "unknown account id 'ghost'",
        ),
        (
            "flows/sync.py",
            [],
            {
                **CREDENTIALS,
                "ECAUTO_ACCOUNTS_FILE": "{accounts}",
                "ECAUTO_SECRET_KEY": KEY,
                "DATABASE_URL": "postgresql+psycopg://u:hunter2@127.0.0.1:1/x",
            },
            "DATABASE_URL",
        ),
        (
            "flows/sync.py",
            [],
            {**CREDENTIALS, "ECAUTO_ACCOUNTS_FILE": "{accounts}"},
            "ECAUTO_SECRET_KEY: is not set",
        ),
        (
            "flows/sync.py",
            [],
            {**CREDENTIALS, "ECAUTO_ACCOUNTS_FILE": "{accounts}", "ECAUTO_SECRET_KEY": "k-e-y"},
            "ECAUTO_SECRET_KEY: must be a Fernet key",
        ),
        ("flows/reconcile.py", [], {"ECAUTO_ACCOUNTS_FILE": "{accounts}"}, "ECAUTO_SECRET_KEY: is not set"),
        ("flows/encrypt_tokens.py", [], {}, "ECAUTO_SECRET_KEY: is not set"),
        (
            "flows/connect_shop.py",
            ["--account", "shop1", "--code=abc"],
            {"ECAUTO_ACCOUNTS_FILE": "{accounts}"},
            "ECAUTO_SECRET_KEY: is not set",
        ),
        (
            "flows/import_listings.py",
            ["--csv", "missing.csv"],
            {"ECAUTO_ACCOUNTS_FILE": "{accounts}"},
            "file not found: missing.csv",
        ),
        (
            "flows/reconcile.py",
            [],
            {"ECAUTO_ACCOUNTS_FILE": "{accounts}", "DATABASE_URL": "sqlite"},
            "DATABASE_URL",
        ),
    ],
)
def test_configuration_errors_exit_2_with_the_setting_named_and_nothing_written(
    tmp_path, accounts, script, args, env, message
):
    env = {k: v.replace("{accounts}", str(accounts)) for k, v in env.items()}
    result = _run([str(ROOT / script), *args], tmp_path, env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr
    for secret in ("hunter2", "s-e-c-r-e-t", "lwa-s-e-c-r-e-t", "k-e-y", KEY):
        assert secret not in result.stderr + result.stdout
    assert not (tmp_path / "data").exists()  # no database was created


def test_an_excel_csv_in_cp932_is_imported_and_a_bad_line_reported_without_a_traceback(tmp_path, accounts):
    csv_file = tmp_path / "出品.csv"
    csv_file.write_bytes(
        "アカウント,ASIN,商品ID,商品名\n".encode("cp932")
        + "shop1,B0FGQJ45HW,101,ワイヤレスイヤホン\n".encode("cp932")
        + b"shop1,B07YV55TNL,102,\x82\xa0\x81\x7f\n"  # line 3: a byte sequence CP932 does not have
        + "shop1,B06Y69FKT2,103,モバイルバッテリー\n".encode("cp932")
    )
    env = {"ECAUTO_ACCOUNTS_FILE": str(accounts), "DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    result = _run([str(ROOT / "flows/import_listings.py"), "--csv", str(csv_file)], tmp_path, env)
    output = result.stdout + result.stderr  # the flow's prints go through Prefect's logger
    # no traceback of ours (Prefect's temporary server may log its own under load)
    assert "UnicodeDecodeError" not in output and "listings_import.py" not in output, output[-3000:]
    assert result.returncode == 1  # a line was refused
    # #15 §6: the summary is on stdout, like sync.py's report; no telemetry noise offline
    assert "listings: 2 new" in result.stdout and "line 3: cannot be read as CP932 or UTF-8" in result.stdout
    assert "telemetry" not in result.stderr.lower()


def test_one_command_encrypts_the_tokens_an_earlier_version_stored_in_plain_text(tmp_path):
    import sqlalchemy as sa

    from ecauto_lib.db import DbTokenStore, make_engine, upgrade
    from ecauto_lib.db.tokens import TokenCipher

    url = f"sqlite:///{tmp_path / 'data' / 'master.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "insert into base_tokens (account_id, access_token, refresh_token, expires_at, updated_at) "
                "values ('shop1', 'acc-plain-1', 'ref-plain-1', '2030-01-01 00:00:00.000000', "
                "'2025-01-01 00:00:00.000000')"
            )
        )
    env = {"DATABASE_URL": url, "ECAUTO_SECRET_KEY": KEY}
    first = _run([str(ROOT / "flows/encrypt_tokens.py")], tmp_path, env)
    assert first.returncode == 0, first.stderr
    assert "1 shops encrypted now, 0 already encrypted" in first.stdout
    assert b"ref-plain-1" not in (tmp_path / "data" / "master.db").read_bytes()
    assert DbTokenStore(engine, TokenCipher(KEY)).load("shop1").refresh_token == "ref-plain-1"
    again = _run([str(ROOT / "flows/encrypt_tokens.py")], tmp_path, env)
    assert "0 shops encrypted now, 1 already encrypted" in again.stdout
    other_key = _run([str(ROOT / "flows/encrypt_tokens.py"), "--new-key"], tmp_path, {}).stdout.strip()
    wrong = _run([str(ROOT / "flows/encrypt_tokens.py")], tmp_path, {**env, "ECAUTO_SECRET_KEY": other_key})
    assert wrong.returncode == 2 and "does not decrypt the BASE tokens of account shop1" in wrong.stderr
    engine.dispose()


def test_the_simulator_writes_an_accounts_file_by_default_and_prints_its_path(tmp_path):
    """#15 §8: the first run's export lines point at an accounts file that exists, so the next
    documented command works without finding --accounts-out in docs/sandbox.md."""
    import os
    import signal

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecauto_sandbox", "--port", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import threading
    import time

    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(line.rstrip("\n") for line in proc.stdout), daemon=True
    )
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("export ECAUTO_ACCOUNTS_FILE=") for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, lines
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    path = tmp_path / "data" / "sandbox" / "accounts.json"
    assert f"# accounts file: {path}" in lines
    assert f"export ECAUTO_ACCOUNTS_FILE={path}" in lines
    accounts = json.loads(path.read_text(encoding="utf-8"))["accounts"]
    assert len(accounts) == 2 and os.stat(path).st_mode & 0o077 == 0  # it holds client secrets


@pytest.mark.parametrize("script", ["flows/sync.py", "flows/reconcile.py"])
def test_a_dry_run_on_a_missing_database_names_its_path_and_creates_nothing(tmp_path, accounts, script):
    """#15 §6: --dry-run writes nothing, not even the DB's directory: a missing one is an error."""
    missing = tmp_path / "nowhere" / "master.db"
    env = {
        **CREDENTIALS,
        "ECAUTO_ACCOUNTS_FILE": str(accounts),
        "ECAUTO_SECRET_KEY": KEY,
        "DATABASE_URL": f"sqlite:///{missing}",
    }
    result = _run([str(ROOT / script), "--dry-run"], tmp_path, env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert str(missing) in result.stderr and "--dry-run" in result.stderr
    assert not (tmp_path / "nowhere").exists()
