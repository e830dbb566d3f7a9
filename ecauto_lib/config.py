"""Settings: environment (and ``.env``), the accounts file, and the sync policy.

Everything is validated up front, before any API call or database write: a missing or malformed
setting raises :class:`~ecauto_lib.errors.ConfigError` naming it, and the CLI exits with 2.
Secrets live in fields excluded from ``repr`` so a settings object can be logged safely.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from ecauto_lib.errors import ConfigError
from ecauto_lib.guards import GuardPolicy
from ecauto_lib.settings_table import (
    BY_ENV,
    MARGIN_PCT_MAX_DECIMALS,
    MARKUP_MAX,
    MARKUP_MAX_DECIMALS,
    Setting,
    default,
    in_group,
    parse_markup,
)

# Each default is written once, in the settings table (ecauto_lib.settings_table); these names
# are kept for the code that imports them.
DEFAULT_SP_API_ENDPOINT: str = default("SP_API_ENDPOINT")
DEFAULT_LWA_TOKEN_URL: str = default("LWA_TOKEN_URL")
JP_MARKETPLACE_ID: str = default("SP_API_MARKETPLACE_ID")
DEFAULT_BASE_API_URL: str = default("BASE_API_URL")
DEFAULT_ACCOUNTS_FILE: str = default("ECAUTO_ACCOUNTS_FILE")
DEFAULT_DATABASE_URL: str = default("DATABASE_URL")
DEFAULT_SP_API_SAFETY_MARGIN: float = default("ECAUTO_SP_API_SAFETY_MARGIN")
DEFAULT_SP_API_MIN_SLACK_MS: float = default("ECAUTO_SP_API_MIN_SLACK_MS")
# BASE stock put back after a sale while Amazon has the product (issue #11 §2), per shop. BASE
# documents no maximum stock (UNCONFIRMED): 999,999 is ours, the simulator's too.
DEFAULT_STOCK_QUANTITY = 1
STOCK_QUANTITY_MAX = 999_999

__all__ = [
    "DEFAULT_ACCOUNTS_FILE",
    "DEFAULT_BASE_API_URL",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_LWA_TOKEN_URL",
    "DEFAULT_SP_API_ENDPOINT",
    "DEFAULT_SP_API_MIN_SLACK_MS",
    "DEFAULT_SP_API_SAFETY_MARGIN",
    "DEFAULT_STOCK_QUANTITY",
    "JP_MARKETPLACE_ID",
    "MARGIN_PCT_MAX_DECIMALS",
    "MARKUP_MAX",
    "MARKUP_MAX_DECIMALS",
    "STOCK_QUANTITY_MAX",
    "AccountConfig",
    "Settings",
    "SpApiConfig",
    "SyncMode",
    "SyncPolicy",
    "environment",
    "load_accounts",
    "load_settings",
    "merged_environment",
    "parse_markup",
    "readable_by_others",
]


class SyncMode(StrEnum):
    """What a run refreshes and pushes."""

    FULL = "full"  # catalog info, price and stock; pushes price and visibility
    PRICE = "price"  # `--price-only`: stale prices; pushes price changes only
    STOCK = "stock"  # `--stock-only`: stale stock; pushes visibility changes only


@dataclass(frozen=True)
class SpApiConfig:
    """Amazon SP-API and Login-with-Amazon settings (one seller × application pair)."""

    endpoint: str
    lwa_token_url: str
    marketplace_id: str
    app_id: str
    client_secret: str = field(repr=False)
    refresh_token: str = field(repr=False)


@dataclass(frozen=True)
class AccountConfig:
    """One BASE shop. ``refresh_token`` is optional, only the initial one: ``flows/connect_shop.py``
    obtains a pair by the authorisation-code flow, and every pair lives in the master DB."""

    id: str
    name: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str = ""
    refresh_token: str = field(repr=False, default="")
    markup: Decimal = default("ECAUTO_MARKUP")
    active: bool = True
    guards: GuardPolicy | None = None  # None: the global guard settings
    stock_quantity: int = DEFAULT_STOCK_QUANTITY  # BASE stock restored after a sale (issue #11 §2)


@dataclass(frozen=True)
class SyncPolicy:
    """The rules of a sync: data freshness, pricing and the delivery filter (defaults: the table)."""

    info_ttl: timedelta = default("ECAUTO_INFO_TTL_HOURS")
    price_ttl: timedelta = default("ECAUTO_PRICE_TTL_HOURS")
    stock_ttl: timedelta = default("ECAUTO_STOCK_TTL_HOURS")
    # Data this close to its TTL counts as stale, so a run scheduled every TTL (hourly stock
    # sync) refreshes what the previous run fetched a few minutes after its start.
    ttl_slack: timedelta = default("ECAUTO_TTL_SLACK_MINUTES")
    # The fairness floor of the refresh order (ecauto_lib.value): an ASIN whose stock is older than
    # this many stock TTLs goes first, whatever its value.
    max_stock_age_ttls: float = default("ECAUTO_MAX_STOCK_AGE_TTLS")
    # A run's time budget (timedelta(0): none): the fetch starts no call after it, and spends it
    # on the most valuable ASINs once the stale ones are done (issue #17 §2).
    run_budget: timedelta = default("ECAUTO_RUN_BUDGET_MINUTES")
    # In a budgeted run, price and push what is confirmed this often while the fetch goes on
    # (timedelta(0): once, after the fetch): a long run is a served loop (issue #17 §2).
    push_every: timedelta = default("ECAUTO_PUSH_EVERY_MINUTES")
    value_order: bool = default("ECAUTO_VALUE_ORDER")  # by value (ecauto_lib.value), else oldest first
    markup: Decimal = default("ECAUTO_MARKUP")  # default for accounts that set none
    rounding_yen: int = default("ECAUTO_PRICE_ROUNDING_YEN")  # new prices are rounded half-up to this unit
    min_price_change_yen: int = default(
        "ECAUTO_MIN_PRICE_CHANGE_YEN"
    )  # push a price only when it moves this much
    max_delivery_hours: int = default(
        "ECAUTO_MAX_DELIVERY_HOURS"
    )  # an offer must ship within this many hours
    # BASE documents no minimum or maximum price (UNCONFIRMED): these bounds are ours. A computed
    # price outside them is skipped and flagged in the report, never clamped.
    min_price_yen: int = default("ECAUTO_MIN_PRICE_YEN")
    max_price_yen: int = default("ECAUTO_MAX_PRICE_YEN")
    # Never sell at a loss: a price must be at least Amazon price × (1 + pct/100) + yen.
    min_margin_pct: Decimal = default("ECAUTO_MIN_MARGIN_PCT")
    min_margin_yen: int = default("ECAUTO_MIN_MARGIN_YEN")
    base_calls_per_hour: int = default("ECAUTO_BASE_CALLS_PER_HOUR")  # BASE's documented budget per shop
    # A listing whose Amazon state has been unknown (every fetch failed) for longer than this since
    # its last good answer, or since it was listed, is hidden (issue #11 §3); None: never.
    unknown_hide_after: timedelta | None = default("ECAUTO_UNKNOWN_HIDE_HOURS")
    # A shop's push stops after this many 5xx answers / timeouts in a row and defers the rest.
    # Five: a blip of one or two (the fault suite injects 20 %) does not stop a shop, while an
    # outage costs five edits (and five journal entries to settle) instead of the whole plan.
    base_outage_errors: int = default("ECAUTO_BASE_OUTAGE_ERRORS")

    @property
    def max_stock_age(self) -> timedelta:
        return self.stock_ttl * self.max_stock_age_ttls


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated."""

    sp_api: SpApiConfig | None
    base_api_url: str
    accounts: tuple[AccountConfig, ...]
    database_url: str
    policy: SyncPolicy
    accounts_file: str = default("ECAUTO_ACCOUNTS_FILE")
    # First retry delay of SP-API/BASE tasks; doubled each retry (2, 4, 8, 16, 32 s), with jitter.
    retry_base_delay_seconds: float = default("ECAUTO_RETRY_BASE_DELAY_SECONDS")
    # An alert (ecauto.sp-api.failing) when at least this % of a run's ASINs had no usable answer.
    alert_fetch_failed_pct: float = default("ECAUTO_ALERT_FETCH_FAILED_PCT")
    # Pace SP-API through a bucket in the master DB shared by every process of this seller
    # (several workers at once never exceed the quota together); off: a bucket per process.
    shared_quota: bool = default("ECAUTO_SHARED_QUOTA")
    # Known usage-plan rates (req/s) by operation, for sellers above Amazon's defaults; the pacer
    # still adapts to x-amzn-RateLimit-Limit (ECAUTO_SP_API_RATES="getItemOffersBatch=0.5").
    sp_api_rates: tuple[tuple[str, float], ...] = default("ECAUTO_SP_API_RATES")
    # The SP-API pacer runs this much below the quota (0.02 = 98 %): room for network jitter.
    sp_api_safety_margin: float = default("ECAUTO_SP_API_SAFETY_MARGIN")
    # ... and at least this many milliseconds per call above the quota's spacing (jitter does not
    # shrink with the interval: 2 % of getItemOffers' 2 s is 40 ms, of searchCatalogItems' 0.5 s 10 ms).
    sp_api_min_slack_ms: float = default("ECAUTO_SP_API_MIN_SLACK_MS")
    # HTTP (connect, read) timeouts of every API call; a call past them is retried as transient.
    http_timeout: tuple[float, float] = default("ECAUTO_HTTP_TIMEOUT_SECONDS")
    # Hide only on a re-checked sell-out: a new "out of stock" is re-fetched once in the same run.
    recheck_sell_outs: bool = default("ECAUTO_RECHECK_SELL_OUTS")
    guards: GuardPolicy = GuardPolicy()
    # When the LWA client secret was last rotated in Seller Central (LWA_SECRET_ROTATED_AT): runs
    # warn before Amazon retires it (ecauto_lib.token_health); None: not known, no warning.
    lwa_secret_rotated_at: date | None = default("LWA_SECRET_ROTATED_AT")
    # The Fernet key the BASE tokens in the master DB are encrypted with (ECAUTO_SECRET_KEY).
    secret_key: str | None = field(default=None, repr=False)
    # Files holding secrets that other users of this machine can read (said at every start).
    warnings: tuple[str, ...] = ()

    def guard_policies(self) -> dict[str, GuardPolicy]:
        """Each account's guard limits (its own, or the global ones)."""
        return {a.id: a.guards or self.guards for a in self.accounts}

    def account(self, account_id: str) -> AccountConfig:
        for acc in self.accounts:
            if acc.id == account_id:
                return acc
        known = ", ".join(a.id for a in self.accounts) or "none"
        raise ConfigError("--account", f"unknown account id {account_id!r} (accounts file has: {known})")

    def select_accounts(self, account_ids: list[str] | None) -> tuple[AccountConfig, ...]:
        """The named accounts (each must exist), or every active account when none is named."""
        if account_ids:
            return tuple(self.account(a) for a in dict.fromkeys(account_ids))
        return tuple(a for a in self.accounts if a.active)

    def secrets(self) -> list[str]:
        """Every secret value in these settings (for tests and log scrubbing)."""
        values: list[str] = []
        if self.sp_api:
            values += [self.sp_api.client_secret, self.sp_api.refresh_token]
        for acc in self.accounts:
            values += [acc.client_secret, acc.refresh_token]
        values.append(self.secret_key or "")
        return [v for v in values if v]


def merged_environment(
    env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = ".env"
) -> dict[str, str]:
    """The environment with ``.env`` values filled in underneath (the real environment wins)."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(os.environ if env is None else env)
    return merged


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    dotenv_path: str | Path | None = ".env",
    require_sp_api: bool = True,
    require_accounts: bool = True,
) -> Settings:
    """Read and validate every setting of the table (ecauto_lib.settings_table). Raises
    :class:`ConfigError` naming the first bad one."""
    values = merged_environment(env, dotenv_path)
    sp_api = _sp_api_config(values) if require_sp_api else _optional_sp_api_config(values)
    policy = SyncPolicy(**_read_group(values, "policy"))
    if policy.min_price_yen >= policy.max_price_yen:
        raise ConfigError("ECAUTO_MIN_PRICE_YEN", "must be lower than ECAUTO_MAX_PRICE_YEN")
    guards = GuardPolicy(**_read_group(values, "guards"))
    accounts_file = _read(values, "ECAUTO_ACCOUNTS_FILE")
    accounts = load_accounts(accounts_file, values, policy.markup, guards) if require_accounts else ()
    fields = _read_group(values, "settings")
    files = [Path(dotenv_path)] if dotenv_path is not None else []
    if require_accounts:
        files.append(Path(accounts_file))
    return Settings(
        sp_api=sp_api,
        accounts=accounts,
        policy=policy,
        guards=guards,
        warnings=readable_by_others(files),
        **fields,
    )


def _read(values: Mapping[str, str], env: str) -> Any:
    return BY_ENV[env].read(values)


def _read_group(values: Mapping[str, str], group: str) -> dict[str, Any]:
    """The values of the table's settings aimed at ``group``, by target field (in table order)."""
    return {setting.field: setting.read(values) for setting in in_group(group)}


def readable_by_others(paths: list[Path]) -> tuple[str, ...]:
    """A warning for each existing file of ``paths`` that its group or other users can read
    (``.env`` and the accounts file hold secrets)."""
    warnings = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & 0o044:
            who = " and ".join(w for w, bit in (("its group", 0o040), ("every user", 0o004)) if mode & bit)
            warnings.append(
                f"{path} holds secrets and is readable by {who} of this machine "
                f"(mode {mode & 0o777:o}): run `chmod 600 {path}`"
            )
    return tuple(warnings)


def _sp_api_config(values: Mapping[str, str]) -> SpApiConfig:
    return SpApiConfig(**_read_group(values, "sp_api"))


def _optional_sp_api_config(values: Mapping[str, str]) -> SpApiConfig | None:
    try:
        return _sp_api_config(values)
    except ConfigError:
        return None


def _shop_guards(entry: Mapping[str, Any], base: GuardPolicy, where: str) -> GuardPolicy:
    """An account entry's guard limits over ``base`` (a key left out or null: the global one)."""
    changes = {
        setting.field: setting.parse(entry[setting.shop_key], f"{where}.{setting.shop_key}")
        for setting in in_group("guards")
        if setting.shop_key is not None and entry.get(setting.shop_key) not in (None, "")
    }
    return replace(base, **changes)


_MARKUP: Setting = BY_ENV["ECAUTO_MARKUP"]
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_REQUIRED_ACCOUNT_FIELDS = ("id", "name", "client_id", "client_secret", "redirect_uri")
_OPTIONAL_ACCOUNT_FIELDS = ("refresh_token",)  # the initial one; flows/connect_shop.py obtains one


def load_accounts(
    path: str | Path, env: Mapping[str, str], default_markup: Decimal, guards: GuardPolicy | None = None
) -> tuple[AccountConfig, ...]:
    """Read the accounts file (``{"accounts": [...]}``); values may be ``${ENV_VAR}`` references."""
    setting = f"ECAUTO_ACCOUNTS_FILE ({path})"
    file = Path(path)
    if not file.is_file():
        raise ConfigError(setting, "file not found (copy config/accounts.example.json and fill it in)")
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            setting, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("accounts"), list):
        raise ConfigError(setting, 'must be a JSON object with an "accounts" list')
    accounts = tuple(
        _account(entry, f"{setting} accounts[{i}]", env, default_markup, guards or GuardPolicy())
        for i, entry in enumerate(document["accounts"])
    )
    seen: set[str] = set()
    for acc in accounts:
        if acc.id in seen:
            raise ConfigError(setting, f"account id {acc.id!r} appears more than once")
        seen.add(acc.id)
    if not accounts:
        raise ConfigError(setting, "lists no accounts")
    return accounts


def _account(
    entry: Any, where: str, env: Mapping[str, str], default_markup: Decimal, guards: GuardPolicy
) -> AccountConfig:
    if not isinstance(entry, dict):
        raise ConfigError(where, "must be a JSON object")
    resolved: dict[str, str] = {}
    for key in _REQUIRED_ACCOUNT_FIELDS:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}.{key}", "is missing or empty")
        resolved[key] = _expand(value, f"{where}.{key}", env)
    for key in _OPTIONAL_ACCOUNT_FIELDS:
        value = entry.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{where}.{key}", "must be a string")
        resolved[key] = _expand(value, f"{where}.{key}", env)
    try:
        active = entry.get("active", True)
        if not isinstance(active, bool):
            raise ConfigError(f"{where}.active", "must be true or false")
        key = _MARKUP.shop_key or "markup"
        markup = default_markup if entry.get(key) is None else _MARKUP.parse(entry[key], f"{where}.{key}")
        shop_guards = _shop_guards(entry, guards, where)
        stock_quantity = _stock_quantity(entry.get("stock_quantity"), f"{where}.stock_quantity")
    except ConfigError as exc:  # name the shop as well as its entry: "accounts[1].markup: shop 'x': ..."
        raise ConfigError(exc.setting, f"shop {resolved['id']!r}: {exc.problem}") from None
    return AccountConfig(
        markup=markup, active=active, guards=shop_guards, stock_quantity=stock_quantity, **resolved
    )


def _stock_quantity(raw: object, setting: str) -> int:
    """A whole number of items, 1..STOCK_QUANTITY_MAX (None: the default)."""
    if raw is None:
        return DEFAULT_STOCK_QUANTITY
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= STOCK_QUANTITY_MAX:
        raise ConfigError(setting, f"must be a whole number from 1 to {STOCK_QUANTITY_MAX:,}, got {raw!r}")
    return int(raw)


def _expand(value: str, where: str, env: Mapping[str, str]) -> str:
    match = _ENV_REF.match(value.strip())
    if not match:
        return value
    name = match.group(1)
    if not env.get(name):
        raise ConfigError(where, f"refers to ${{{name}}}, which is not set")
    return env[name]


@contextmanager
def environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``changes`` applied (None removes a variable), restored afterwards."""
    saved = {k: os.environ.get(k) for k in changes}
    try:
        _set_environ(changes)
        yield
    finally:
        _set_environ(saved)


def _set_environ(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
