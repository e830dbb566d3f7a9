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
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from ecauto_lib.amazon.client import OPERATIONS
from ecauto_lib.errors import ConfigError
from ecauto_lib.guards import GuardPolicy

DEFAULT_SP_API_ENDPOINT = "https://sellingpartnerapi-fe.amazon.com"
DEFAULT_LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
JP_MARKETPLACE_ID = "A1VC38T7YXB528"
DEFAULT_BASE_API_URL = "https://api.thebase.in"
DEFAULT_ACCOUNTS_FILE = "config/accounts.json"
DEFAULT_DATABASE_URL = "sqlite:///data/master.db"
DEFAULT_SP_API_SAFETY_MARGIN = 0.02  # the pacers refill this much slower than the quota
DEFAULT_SP_API_MIN_SLACK_MS = 20  # ... and keep at least this many ms above its spacing
# Markups carry at most this many decimal places, so the pricing arithmetic stays exact in int64:
# the markup's denominator divides 10**4 and Amazon prices fit the products column (32 bits), so
# every product of pricing.target_prices / the floor check stays below 2.2e18 < 2**63.
MARKUP_MAX_DECIMALS = 4
MARKUP_MAX = Decimal("10")
MARGIN_PCT_MAX_DECIMALS = 2  # the minimum margin in hundredths of a percent (basis points)
# BASE stock put back after a sale while Amazon has the product (issue #11 §2), per shop. BASE
# documents no maximum stock (UNCONFIRMED): 999,999 is ours, the simulator's too.
DEFAULT_STOCK_QUANTITY = 1
STOCK_QUANTITY_MAX = 999_999


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
    markup: Decimal = Decimal("1.3")
    active: bool = True
    guards: GuardPolicy | None = None  # None: the global guard settings
    stock_quantity: int = DEFAULT_STOCK_QUANTITY  # BASE stock restored after a sale (issue #11 §2)


@dataclass(frozen=True)
class SyncPolicy:
    """The rules of a sync: data freshness, pricing and the delivery filter."""

    info_ttl: timedelta = timedelta(days=7)
    price_ttl: timedelta = timedelta(hours=24)
    stock_ttl: timedelta = timedelta(hours=1)
    # Data this close to its TTL counts as stale, so a run scheduled every TTL (hourly stock
    # sync) refreshes what the previous run fetched a few minutes after its start.
    ttl_slack: timedelta = timedelta(minutes=10)
    markup: Decimal = Decimal("1.3")  # default for accounts that set none
    rounding_yen: int = 10  # new prices are rounded half-up to this unit
    min_price_change_yen: int = 100  # push a price only when it moves at least this much
    max_delivery_hours: int = 72  # an offer must ship within this many hours
    # BASE documents no minimum or maximum price (UNCONFIRMED): these bounds are ours. A computed
    # price outside them is skipped and flagged in the report, never clamped.
    min_price_yen: int = 300
    max_price_yen: int = 1_000_000
    # Never sell at a loss: a price must be at least Amazon price × (1 + pct/100) + yen.
    min_margin_pct: Decimal = Decimal("5")
    min_margin_yen: int = 0
    base_calls_per_hour: int = 5000  # BASE's documented budget per shop
    # A listing whose Amazon state has been unknown (every fetch failed) for longer than this since
    # its last good answer, or since it was listed, is hidden (issue #11 §3); None: never.
    unknown_hide_after: timedelta | None = timedelta(hours=24)
    # A shop's push stops after this many 5xx answers / timeouts in a row and defers the rest.
    # Five: a blip of one or two (the fault suite injects 20 %) does not stop a shop, while an
    # outage costs five edits (and five journal entries to settle) instead of the whole plan.
    base_outage_errors: int = 5


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated."""

    sp_api: SpApiConfig | None
    base_api_url: str
    accounts: tuple[AccountConfig, ...]
    database_url: str
    policy: SyncPolicy
    accounts_file: str = DEFAULT_ACCOUNTS_FILE
    # First retry delay of SP-API/BASE tasks; doubled each retry (2, 4, 8, 16, 32 s), with jitter.
    retry_base_delay_seconds: float = 2.0
    # Pace SP-API through a bucket in the master DB shared by every process of this seller
    # (several workers at once never exceed the quota together); off: a bucket per process.
    shared_quota: bool = True
    # Known usage-plan rates (req/s) by operation, for sellers above Amazon's defaults; the pacer
    # still adapts to x-amzn-RateLimit-Limit (ECAUTO_SP_API_RATES="getItemOffersBatch=0.5").
    sp_api_rates: tuple[tuple[str, float], ...] = ()
    # The SP-API pacer runs this much below the quota (0.02 = 98 %): room for network jitter.
    sp_api_safety_margin: float = 0.02
    # ... and at least this many milliseconds per call above the quota's spacing (jitter does not
    # shrink with the interval: 2 % of getItemOffers' 2 s is 40 ms, of searchCatalogItems' 0.5 s 10 ms).
    sp_api_min_slack_ms: float = 20.0
    # HTTP (connect, read) timeouts of every API call; a call past them is retried as transient.
    http_timeout: tuple[float, float] = (5.0, 30.0)
    # Hide only on a re-checked sell-out: a new "out of stock" is re-fetched once in the same run.
    recheck_sell_outs: bool = True
    guards: GuardPolicy = GuardPolicy()
    # When the LWA client secret was last rotated in Seller Central (LWA_SECRET_ROTATED_AT): runs
    # warn before Amazon retires it (ecauto_lib.token_health); None: not known, no warning.
    lwa_secret_rotated_at: date | None = None
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
    """Read and validate every setting. Raises :class:`ConfigError` naming the first bad one."""
    values = merged_environment(env, dotenv_path)
    sp_api = _sp_api_config(values) if require_sp_api else _optional_sp_api_config(values)
    policy = _policy(values)
    guards = _guards(values)
    accounts_file = values.get("ECAUTO_ACCOUNTS_FILE") or DEFAULT_ACCOUNTS_FILE
    accounts = load_accounts(accounts_file, values, policy.markup, guards) if require_accounts else ()
    database_url = values.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if "://" not in database_url:
        raise ConfigError("DATABASE_URL", "must be an SQLAlchemy URL such as sqlite:///data/master.db")
    secret_key = values.get("ECAUTO_SECRET_KEY") or None
    if secret_key is not None:
        from ecauto_lib.db.tokens import TokenCipher  # the key's one rule lives with the cipher

        TokenCipher(secret_key)  # a malformed key: ConfigError naming ECAUTO_SECRET_KEY
    files = [Path(dotenv_path)] if dotenv_path is not None else []
    if require_accounts:
        files.append(Path(accounts_file))
    return Settings(
        sp_api=sp_api,
        base_api_url=_url(values, "BASE_API_URL", DEFAULT_BASE_API_URL),
        accounts=accounts,
        database_url=database_url,
        policy=policy,
        accounts_file=accounts_file,
        retry_base_delay_seconds=_number(
            values, "ECAUTO_RETRY_BASE_DELAY_SECONDS", 2.0, minimum=0, maximum=60
        ),
        recheck_sell_outs=_flag(
            values, _given(values, "ECAUTO_RECHECK_SELL_OUTS", "ECAUTO_CONFIRM_SELL_OUTS"), True
        ),
        shared_quota=_flag(values, "ECAUTO_SHARED_QUOTA", True),
        sp_api_rates=_rates(values.get("ECAUTO_SP_API_RATES") or ""),
        sp_api_safety_margin=_number(
            values, "ECAUTO_SP_API_SAFETY_MARGIN", DEFAULT_SP_API_SAFETY_MARGIN, minimum=0, maximum=0.9
        ),
        sp_api_min_slack_ms=_number(
            values, "ECAUTO_SP_API_MIN_SLACK_MS", DEFAULT_SP_API_MIN_SLACK_MS, minimum=0, maximum=10_000
        ),
        http_timeout=(5.0, _number(values, "ECAUTO_HTTP_TIMEOUT_SECONDS", 30, minimum=0.1, maximum=600)),
        guards=guards,
        lwa_secret_rotated_at=_date(values, "LWA_SECRET_ROTATED_AT"),
        secret_key=secret_key,
        warnings=readable_by_others(files),
    )


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
    refresh_token = values.get("SP_API_REFRESH_TOKEN") or values.get("REFRESH_TOKEN")
    if not refresh_token:
        raise ConfigError("SP_API_REFRESH_TOKEN", "is not set (REFRESH_TOKEN is accepted as an alias)")
    for name in ("LWA_APP_ID", "LWA_CLIENT_SECRET"):
        if not values.get(name):
            raise ConfigError(name, "is not set")
    return SpApiConfig(
        endpoint=_url(values, "SP_API_ENDPOINT", DEFAULT_SP_API_ENDPOINT),
        lwa_token_url=_url(values, "LWA_TOKEN_URL", DEFAULT_LWA_TOKEN_URL),
        marketplace_id=values.get("SP_API_MARKETPLACE_ID") or JP_MARKETPLACE_ID,
        app_id=values["LWA_APP_ID"],
        client_secret=values["LWA_CLIENT_SECRET"],
        refresh_token=refresh_token,
    )


def _optional_sp_api_config(values: Mapping[str, str]) -> SpApiConfig | None:
    try:
        return _sp_api_config(values)
    except ConfigError:
        return None


def _url(values: Mapping[str, str], name: str, default: str) -> str:
    url = (values.get(name) or default).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError(name, f"must be an http(s) URL, got {url!r}")
    return url


def _number(values: Mapping[str, str], name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if not minimum <= number <= maximum:
        raise ConfigError(name, f"must be between {minimum:g} and {maximum:g}, got {raw}")
    return number


def _date(values: Mapping[str, str], name: str) -> date | None:
    """An ISO date (``2026-01-31``), or None when the setting is empty."""
    raw = (values.get(name) or "").strip()
    if not raw:
        return None
    parsed = None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        with suppress(ValueError):  # 2026-02-30
            parsed = date.fromisoformat(raw)
    if parsed is None:
        raise ConfigError(name, f"must be a date such as 2026-01-31, got {raw!r}")
    return parsed


def _hours_or_never(hours: float) -> timedelta | None:
    """``hours`` as a timedelta; 0 means "never" (None)."""
    return None if hours == 0 else timedelta(hours=hours)


def _decimal_places(
    values: Mapping[str, str], name: str, default: float, *, maximum: float, places: int
) -> Decimal:
    """A number in [0, maximum] as an exact Decimal with at most ``places`` decimal places."""
    number = _number(values, name, default, minimum=0, maximum=maximum)
    raw = values.get(name) or ""
    exact = Decimal(raw.strip()) if raw.strip() else Decimal(str(number))
    if exact.normalize().as_tuple().exponent < -places:  # type: ignore[operator]
        raise ConfigError(name, f"must have at most {places} decimal places, got {raw}")
    return exact.normalize() + 0


def _whole(values: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    """A whole number setting (``2.5`` is refused, not rounded)."""
    number = _number(values, name, default, minimum=minimum, maximum=maximum)
    if number != int(number):
        raise ConfigError(name, f"must be a whole number, got {values.get(name)!r}")
    return int(number)


def _rates(raw: str) -> tuple[tuple[str, float], ...]:
    """``"getItemOffersBatch=0.5,searchCatalogItems=5"`` → ((name, rate), ...)."""
    known = {op.name for op in OPERATIONS}
    rates = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        raw_name, _, value = part.partition("=")
        name = raw_name.strip()
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not name or not rate > 0:
            raise ConfigError(
                "ECAUTO_SP_API_RATES",
                f"expected operation=rate pairs such as getItemOffersBatch=0.5, got {part!r}",
            )
        if name not in known:
            raise ConfigError(
                "ECAUTO_SP_API_RATES", f"unknown operation {name!r} (known: {', '.join(sorted(known))})"
            )
        rates.append((name, rate))
    return tuple(rates)


def _given(values: Mapping[str, str], name: str, *aliases: str) -> str:
    """``name``, or the first of its ``aliases`` set when ``name`` is not (errors then name the alias)."""
    if values.get(name):
        return name
    return next((alias for alias in aliases if values.get(alias)), name)


def _flag(values: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (values.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be true or false, got {raw!r}")


def _policy(values: Mapping[str, str]) -> SyncPolicy:
    markup = parse_markup(values.get("ECAUTO_MARKUP") or "1.3", "ECAUTO_MARKUP")
    policy = SyncPolicy(
        info_ttl=timedelta(hours=_number(values, "ECAUTO_INFO_TTL_HOURS", 168, minimum=0, maximum=24 * 365)),
        price_ttl=timedelta(hours=_number(values, "ECAUTO_PRICE_TTL_HOURS", 24, minimum=0, maximum=24 * 90)),
        stock_ttl=timedelta(hours=_number(values, "ECAUTO_STOCK_TTL_HOURS", 1, minimum=0, maximum=24 * 30)),
        ttl_slack=timedelta(
            minutes=_number(values, "ECAUTO_TTL_SLACK_MINUTES", 10, minimum=0, maximum=24 * 60)
        ),
        markup=markup,
        rounding_yen=int(_number(values, "ECAUTO_PRICE_ROUNDING_YEN", 10, minimum=1, maximum=10_000)),
        min_price_change_yen=int(
            _number(values, "ECAUTO_MIN_PRICE_CHANGE_YEN", 100, minimum=0, maximum=1_000_000)
        ),
        max_delivery_hours=int(_number(values, "ECAUTO_MAX_DELIVERY_HOURS", 72, minimum=0, maximum=24 * 60)),
        min_price_yen=int(_number(values, "ECAUTO_MIN_PRICE_YEN", 300, minimum=1, maximum=10_000_000)),
        max_price_yen=int(_number(values, "ECAUTO_MAX_PRICE_YEN", 1_000_000, minimum=1, maximum=100_000_000)),
        min_margin_pct=_decimal_places(
            values, "ECAUTO_MIN_MARGIN_PCT", 5, maximum=900, places=MARGIN_PCT_MAX_DECIMALS
        ),
        min_margin_yen=int(_number(values, "ECAUTO_MIN_MARGIN_YEN", 0, minimum=0, maximum=1_000_000)),
        base_calls_per_hour=int(_number(values, "ECAUTO_BASE_CALLS_PER_HOUR", 5000, minimum=1, maximum=5000)),
        unknown_hide_after=_hours_or_never(
            _number(values, "ECAUTO_UNKNOWN_HIDE_HOURS", 24, minimum=0, maximum=24 * 365)
        ),
        base_outage_errors=_whole(
            values, "ECAUTO_BASE_OUTAGE_ERRORS", SyncPolicy.base_outage_errors, minimum=1, maximum=1000
        ),
    )
    if policy.min_price_yen >= policy.max_price_yen:
        raise ConfigError("ECAUTO_MIN_PRICE_YEN", "must be lower than ECAUTO_MAX_PRICE_YEN")
    return policy


_GUARD_SETTINGS = {  # GuardPolicy field → (environment variable, accounts-file key, maximum)
    "max_move_pct": ("ECAUTO_MAX_PRICE_MOVE_PCT", "max_price_move_pct", 1000.0),
    "breaker_hide_pct": ("ECAUTO_BREAKER_HIDE_PCT", "breaker_hide_pct", 100.0),
    "breaker_cut_pct": ("ECAUTO_BREAKER_CUT_PCT", "breaker_cut_pct", 100.0),
    "breaker_min_items": ("ECAUTO_BREAKER_MIN_ITEMS", "breaker_min_items", 1_000_000.0),
}


def _guards(
    values: Mapping[str, str], base: GuardPolicy | None = None, where: str | None = None
) -> GuardPolicy:
    """Guard limits from the environment, or (``where`` given) an account entry over ``base``."""
    base = base or GuardPolicy()
    changes: dict[str, float | int] = {}
    for name, (env_name, key, maximum) in _GUARD_SETTINGS.items():
        setting = env_name if where is None else f"{where}.{key}"
        raw = values.get(env_name if where is None else key)
        if raw is None or raw == "":
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ConfigError(setting, f"must be a number, got {raw!r}")
        number = _number({setting: str(raw)}, setting, 0, minimum=0, maximum=maximum)
        if name == "breaker_min_items":
            if number != int(number):
                raise ConfigError(setting, f"must be a whole number, got {raw}")
            changes[name] = int(number)
        else:
            changes[name] = number
    return replace(base, **changes)


def parse_markup(raw: object, setting: str) -> Decimal:
    """A markup as an exact Decimal in [1, 10] with at most :data:`MARKUP_MAX_DECIMALS` places.

    Below 1.0 would sell under the Amazon price; more decimal places than the pricing arithmetic
    carries exactly (``1.3333333333333333``, a 10**16 denominator, wrapped int64) are refused.
    """
    if isinstance(raw, bool):
        raise ConfigError(setting, f"markup must be a number such as 1.3, got {raw!r}")
    try:
        markup = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ConfigError(setting, f"markup must be a number such as 1.3, got {raw!r}") from None
    if not markup.is_finite() or not Decimal("1") <= markup <= MARKUP_MAX:
        raise ConfigError(
            setting, f"markup must be between 1.0 and {MARKUP_MAX} (below 1.0 sells at a loss), got {raw}"
        )
    if markup.normalize().as_tuple().exponent < -MARKUP_MAX_DECIMALS:  # type: ignore[operator]
        raise ConfigError(
            setting,
            f"markup must have at most {MARKUP_MAX_DECIMALS} decimal places "
            f"(e.g. 1.3333; prices are computed exactly), got {raw}",
        )
    return markup.normalize() + 0  # 1.30 → 1.3; "+ 0" turns 1E+1 back into 10


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
        markup = (
            default_markup
            if entry.get("markup") is None
            else parse_markup(entry["markup"], f"{where}.markup")
        )
        shop_guards = _guards(entry, guards, where)
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
    whole = isinstance(raw, int) and not isinstance(raw, bool)
    if not whole or not 1 <= int(raw) <= STOCK_QUANTITY_MAX:  # type: ignore[call-overload]
        raise ConfigError(setting, f"must be a whole number from 1 to {STOCK_QUANTITY_MAX:,}, got {raw!r}")
    return int(raw)  # type: ignore[call-overload]


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
