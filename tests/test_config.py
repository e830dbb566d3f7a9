import json
from decimal import Decimal

import pytest

from ecauto_lib.config import SyncPolicy, load_settings
from ecauto_lib.errors import ConfigError

ACCOUNT = {
    "id": "shop1",
    "name": "森のBAZAAR",
    "client_id": "cid",
    "client_secret": "${SHOP1_SECRET}",
    "redirect_uri": "https://example.invalid/cb",
    "refresh_token": "rt-initial",
}


@pytest.fixture
def accounts_file(tmp_path):
    path = tmp_path / "accounts.json"
    path.write_text(
        json.dumps({"accounts": [ACCOUNT, {**ACCOUNT, "id": "shop2", "markup": 1.5, "active": False}]})
    )
    return path


def env(accounts_file, **extra):
    base = {
        "SP_API_REFRESH_TOKEN": "Atzr|secret-refresh",
        "LWA_APP_ID": "amzn1.app",
        "LWA_CLIENT_SECRET": "lwa-secret",
        "ECAUTO_ACCOUNTS_FILE": str(accounts_file),
        "SHOP1_SECRET": "shop-secret",
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def test_defaults_and_env_expansion(accounts_file):
    s = load_settings(env(accounts_file), dotenv_path=None)
    assert s.sp_api.endpoint == "https://sellingpartnerapi-fe.amazon.com"
    assert s.sp_api.lwa_token_url == "https://api.amazon.com/auth/o2/token"
    assert s.sp_api.marketplace_id == "A1VC38T7YXB528"
    assert s.base_api_url == "https://api.thebase.in"
    assert s.database_url == "sqlite:///data/master.db"
    assert s.policy == SyncPolicy()
    shop1, shop2 = s.accounts
    assert shop1.client_secret == "shop-secret" and shop1.markup == Decimal("1.3") and shop1.active
    assert shop2.markup == Decimal("1.5") and not shop2.active
    assert [a.id for a in s.select_accounts(None)] == ["shop1"]
    assert [a.id for a in s.select_accounts(["shop2"])] == ["shop2"]


def test_flags(accounts_file):
    assert load_settings(env(accounts_file), dotenv_path=None).recheck_sell_outs is True
    off = load_settings(env(accounts_file, ECAUTO_RECHECK_SELL_OUTS="false"), dotenv_path=None)
    assert off.recheck_sell_outs is False
    with pytest.raises(ConfigError, match="ECAUTO_RECHECK_SELL_OUTS: must be true or false"):
        load_settings(env(accounts_file, ECAUTO_RECHECK_SELL_OUTS="maybe"), dotenv_path=None)


def test_the_old_name_of_the_sell_out_recheck_setting_still_works_and_is_named_in_errors(accounts_file):
    off = load_settings(env(accounts_file, ECAUTO_CONFIRM_SELL_OUTS="false"), dotenv_path=None)
    assert off.recheck_sell_outs is False
    both = env(accounts_file, ECAUTO_CONFIRM_SELL_OUTS="false", ECAUTO_RECHECK_SELL_OUTS="true")
    assert load_settings(both, dotenv_path=None).recheck_sell_outs is True  # the new name wins
    with pytest.raises(ConfigError, match="ECAUTO_CONFIRM_SELL_OUTS: must be true or false"):
        load_settings(env(accounts_file, ECAUTO_CONFIRM_SELL_OUTS="maybe"), dotenv_path=None)


def test_refresh_token_alias(accounts_file):
    s = load_settings(
        env(accounts_file, SP_API_REFRESH_TOKEN=None, REFRESH_TOKEN="Atzr|alias"), dotenv_path=None
    )
    assert s.sp_api.refresh_token == "Atzr|alias"


def test_dotenv_fills_in_under_the_environment(accounts_file, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("LWA_APP_ID=from-dotenv\nLWA_CLIENT_SECRET=dotenv-secret\n")
    s = load_settings(env(accounts_file, LWA_APP_ID=None, LWA_CLIENT_SECRET=None), dotenv_path=dotenv)
    assert s.sp_api.app_id == "from-dotenv"
    s = load_settings(env(accounts_file, LWA_CLIENT_SECRET=None), dotenv_path=dotenv)
    assert s.sp_api.app_id == "amzn1.app"  # the real environment wins


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"SP_API_REFRESH_TOKEN": None}, "SP_API_REFRESH_TOKEN"),
        ({"LWA_CLIENT_SECRET": None}, "LWA_CLIENT_SECRET"),
        ({"SP_API_ENDPOINT": "sellingpartnerapi-fe.amazon.com"}, "SP_API_ENDPOINT"),
        ({"ECAUTO_STOCK_TTL_HOURS": "one"}, "ECAUTO_STOCK_TTL_HOURS"),
        ({"ECAUTO_MARKUP": "0.9"}, "ECAUTO_MARKUP"),
        ({"SHOP1_SECRET": None}, "accounts[0].client_secret"),
        ({"DATABASE_URL": "data/master.db"}, "DATABASE_URL"),
        ({"ECAUTO_SP_API_RATES": "getItemOffersBatch=fast"}, "ECAUTO_SP_API_RATES"),
        ({"ECAUTO_SP_API_RATES": "getOffers=0.5"}, "ECAUTO_SP_API_RATES"),
        ({"ECAUTO_SECRET_KEY": "not-a-fernet-key"}, "ECAUTO_SECRET_KEY"),
        ({"ECAUTO_BASE_OUTAGE_ERRORS": "0"}, "ECAUTO_BASE_OUTAGE_ERRORS"),
        ({"ECAUTO_BASE_OUTAGE_ERRORS": "2.5"}, "ECAUTO_BASE_OUTAGE_ERRORS"),
    ],
)
def test_bad_setting_is_named(accounts_file, changes, setting):
    with pytest.raises(ConfigError) as err:
        load_settings(env(accounts_file, **changes), dotenv_path=None)
    assert setting in str(err.value)
    assert "secret" not in str(err.value).replace("client_secret", "").replace("SECRET", "")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"shops": []}', '"accounts" list'),
        ('{"accounts": []}', "lists no accounts"),
        (json.dumps({"accounts": [{**ACCOUNT, "name": ""}]}), "accounts[0].name: is missing"),
        (json.dumps({"accounts": [ACCOUNT, ACCOUNT]}), "appears more than once"),
        (json.dumps({"accounts": [{**ACCOUNT, "markup": "abc"}]}), "accounts[0].markup"),
        (json.dumps({"accounts": [{**ACCOUNT, "active": "yes"}]}), "accounts[0].active"),
    ],
)
def test_malformed_accounts_file(tmp_path, content, message):
    path = tmp_path / "accounts.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="ECAUTO_ACCOUNTS_FILE") as err:
        load_settings(env(path), dotenv_path=None)
    assert message in str(err.value)


def test_missing_accounts_file_and_unknown_account(tmp_path, accounts_file):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(env(tmp_path / "nope.json"), dotenv_path=None)
    s = load_settings(env(accounts_file), dotenv_path=None)
    with pytest.raises(ConfigError, match="unknown account id 'shop9'.*shop1, shop2"):
        s.select_accounts(["shop9"])


def test_secrets_stay_out_of_repr(accounts_file):
    key = "q2Jd0hUSpQjVqjKp3bqLkN0gkQb3M2S6zR0A2hY5cUU="
    s = load_settings(env(accounts_file, ECAUTO_SECRET_KEY=key), dotenv_path=None)
    text = repr(s)
    for secret in s.secrets():
        assert secret not in text
    assert "shop-secret" in s.secrets() and "lwa-secret" in s.secrets() and key in s.secrets()


def test_refresh_token_is_optional_connect_shop_obtains_one(tmp_path):
    path = tmp_path / "accounts.json"
    entry = {k: v for k, v in ACCOUNT.items() if k != "refresh_token"}
    path.write_text(json.dumps({"accounts": [entry, {**ACCOUNT, "id": "shop2", "refresh_token": "${RT2}"}]}))
    shop1, shop2 = load_settings(env(path, RT2="rt-two"), dotenv_path=None).accounts
    assert (shop1.refresh_token, shop2.refresh_token) == ("", "rt-two")
    with pytest.raises(ConfigError, match=r"accounts\[1\].refresh_token: refers to \$\{RT2\}"):
        load_settings(env(path), dotenv_path=None)  # a reference to an unset variable is still an error


def test_lwa_secret_rotated_at(accounts_file):
    from datetime import date

    assert load_settings(env(accounts_file), dotenv_path=None).lwa_secret_rotated_at is None
    s = load_settings(env(accounts_file, LWA_SECRET_ROTATED_AT="2026-01-31"), dotenv_path=None)
    assert s.lwa_secret_rotated_at == date(2026, 1, 31)
    for bad in ("31/01/2026", "2026-02-30", "soon"):
        with pytest.raises(ConfigError, match="LWA_SECRET_ROTATED_AT: must be a date"):
            load_settings(env(accounts_file, LWA_SECRET_ROTATED_AT=bad), dotenv_path=None)


def test_the_example_accounts_file_loads_without_refresh_tokens():
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "config" / "accounts.example.json"
    values = {"ECAUTO_ACCOUNTS_FILE": str(example), "BASE_CLIENT_ID": "cid", "BASE_CLIENT_SECRET": "sec"}
    accounts = load_settings(values, dotenv_path=None, require_sp_api=False).accounts
    assert [a.id for a in accounts] == ["base_account_1", "base_account_2"]
    assert all(a.refresh_token == "" and a.client_id == "cid" for a in accounts)
    assert {a.redirect_uri for a in accounts} == {"http://127.0.0.1:8765/callback"}  # one app, one callback


# -- per-shop guard limits and markup precision (issue #10, cases 5 and 6) --------------------


def _accounts(tmp_path, *entries):
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": list(entries)}))
    return path


def test_per_shop_guard_limits_are_read_over_the_global_ones(tmp_path):
    from ecauto_lib.guards import GuardPolicy

    strict = {
        **ACCOUNT,
        "max_price_move_pct": 50,
        "breaker_hide_pct": 10.5,
        "breaker_cut_pct": "20",
        "breaker_min_items": 2,
    }
    partial = {**ACCOUNT, "id": "shop2", "breaker_hide_pct": 60}
    plain = {**ACCOUNT, "id": "shop3"}
    path = _accounts(tmp_path, strict, partial, plain)
    s = load_settings(
        env(path, ECAUTO_MAX_PRICE_MOVE_PCT="40", ECAUTO_BREAKER_MIN_ITEMS="7"), dotenv_path=None
    )
    policies = s.guard_policies()
    assert policies["shop1"] == GuardPolicy(50, 10.5, 20, 2)
    assert policies["shop2"] == GuardPolicy(40, 60, 30, 7)  # the rest from the environment
    assert policies["shop3"] == GuardPolicy(40, 30, 30, 7) == s.guards


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("max_price_move_pct", "lots", "must be a number"),
        ("max_price_move_pct", -5, "must be between 0 and 1000"),
        ("breaker_hide_pct", 150, "must be between 0 and 100"),
        ("breaker_cut_pct", True, "must be a number"),
        ("breaker_min_items", 2.5, "must be a whole number"),
        ("breaker_min_items", [3], "must be a number"),
    ],
)
def test_a_bad_per_shop_guard_limit_names_the_shop_and_the_key(tmp_path, key, value, problem):
    path = _accounts(tmp_path, ACCOUNT, {**ACCOUNT, "id": "shop2", key: value})
    with pytest.raises(ConfigError) as err:
        load_settings(env(path), dotenv_path=None)
    assert err.value.setting == f"ECAUTO_ACCOUNTS_FILE ({path}) accounts[1].{key}"
    assert err.value.problem.startswith("shop 'shop2': ") and problem in err.value.problem


@pytest.mark.parametrize("markup", ["1.3333333333333333", "1.30001", 1.3333333333333333])
def test_a_markup_longer_than_four_decimals_is_refused_by_name(tmp_path, markup):
    path = _accounts(tmp_path, {**ACCOUNT, "markup": markup})
    with pytest.raises(ConfigError) as err:
        load_settings(env(path), dotenv_path=None)
    assert err.value.setting.endswith("accounts[0].markup")
    assert "at most 4 decimal places" in err.value.problem
    with pytest.raises(ConfigError, match="ECAUTO_MARKUP: .*at most 4 decimal places"):
        load_settings(env(accounts_file_of(tmp_path), ECAUTO_MARKUP=str(markup)), dotenv_path=None)


def accounts_file_of(tmp_path):
    return _accounts(tmp_path, ACCOUNT)


def test_four_decimal_markups_and_trailing_zeros_are_accepted(tmp_path):
    path = _accounts(
        tmp_path, {**ACCOUNT, "markup": 1.3333}, {**ACCOUNT, "id": "shop2", "markup": "1.250000"}
    )
    shop1, shop2 = load_settings(env(path), dotenv_path=None).accounts
    assert shop1.markup == Decimal("1.3333") and shop2.markup == Decimal("1.25")


def test_the_minimum_margin_is_limited_to_hundredths_of_a_percent(accounts_file):
    s = load_settings(env(accounts_file, ECAUTO_MIN_MARGIN_PCT="7.25"), dotenv_path=None)
    assert s.policy.min_margin_pct == Decimal("7.25")
    with pytest.raises(ConfigError, match="ECAUTO_MIN_MARGIN_PCT: .*at most 2 decimal places"):
        load_settings(env(accounts_file, ECAUTO_MIN_MARGIN_PCT="5.555"), dotenv_path=None)


def test_base_outage_errors_default_and_setting(accounts_file):
    assert load_settings(env(accounts_file), dotenv_path=None).policy.base_outage_errors == 5
    s = load_settings(env(accounts_file, ECAUTO_BASE_OUTAGE_ERRORS="3"), dotenv_path=None)
    assert s.policy.base_outage_errors == 3


def test_secret_files_readable_by_others_are_warned_about(accounts_file, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("LWA_CLIENT_SECRET=lwa-secret\n")
    dotenv.chmod(0o644)
    accounts_file.chmod(0o640)
    s = load_settings(env(accounts_file), dotenv_path=dotenv)
    assert s.warnings == (
        f"{dotenv} holds secrets and is readable by its group and every user of this machine (mode 644): "
        f"run `chmod 600 {dotenv}`",
        f"{accounts_file} holds secrets and is readable by its group of this machine (mode 640): "
        f"run `chmod 600 {accounts_file}`",
    )
    dotenv.chmod(0o600)
    accounts_file.chmod(0o600)
    assert load_settings(env(accounts_file), dotenv_path=dotenv).warnings == ()


# -- the settings table: one definition, documented as it is ----------------------------------


def test_every_setting_of_the_table_is_documented_with_its_default_in_the_readme_and_env_example():
    import re
    from pathlib import Path

    from ecauto_lib.settings_table import SETTINGS

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    example = (root / ".env.example").read_text(encoding="utf-8")
    for setting in SETTINGS:
        for name in (setting.env, *setting.aliases):
            assert re.search(rf"\b{name}\b", readme), f"{name} is not in the README"
            assert re.search(rf"\b{name}\b", example), f"{name} is not in .env.example"
        if setting.default:
            assert f"`{setting.env}={setting.default}`" in readme, setting.env
            assert re.search(rf"^#? ?{setting.env}={re.escape(setting.default)}(\s|$)", example, re.M), (
                setting.env
            )
    # ... and nothing is documented that the table does not read
    known = {n for s in SETTINGS for n in (s.env, *s.aliases)}
    pattern = r"\b(?:ECAUTO|SP_API|LWA|BASE_API|DATABASE)_[A-Z_]+\b"
    for text in (readme, example):
        assert set(re.findall(pattern, text)) <= known


def test_the_policies_defaults_are_the_tables():
    from dataclasses import MISSING, fields

    from ecauto_lib.config import AccountConfig, Settings
    from ecauto_lib.guards import GuardPolicy
    from ecauto_lib.settings_table import SETTINGS

    credentials = {"SP_API_REFRESH_TOKEN": "rt", "LWA_APP_ID": "app", "LWA_CLIENT_SECRET": "s"}
    read = load_settings(credentials, dotenv_path=None, require_accounts=False)
    groups = {"policy": read.policy, "guards": read.guards, "sp_api": read.sp_api, "settings": read}
    declared = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}
    for setting in SETTINGS:
        if setting.required:
            continue
        expected = setting.parse(setting.default, setting.env)
        assert getattr(groups[setting.group], setting.field) == expected, setting.env  # nothing set
        if setting.group == "settings" and setting.field in declared:
            assert declared[setting.field] == expected, setting.env  # the dataclass default
    assert (SyncPolicy(), GuardPolicy()) == (read.policy, read.guards)
    assert SyncPolicy().info_ttl.total_seconds() == 168 * 3600  # written once, as 168 hours
    assert AccountConfig("a", "n", "c", "s").markup == SyncPolicy().markup
