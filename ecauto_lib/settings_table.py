"""Every setting in one table: its environment variable, its default, its type and bounds, where it goes.

:func:`ecauto_lib.config.load_settings` reads the settings through this table; the policies'
dataclass defaults (``SyncPolicy``, ``GuardPolicy``, ``Settings``) are the table's defaults
(:func:`default`); the README and ``.env.example`` document the same names and defaults (a test
checks). A default is written once: here, or, for a fact of a service (an endpoint, the JP
marketplace, the client's timeout), in the client module that owns it and referred to here.

A parser turns the raw value (a string from the environment, or a JSON value from the accounts
file) into the setting's value, or raises :class:`ConfigError` naming the setting. An empty value
counts as not set: the default applies.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from ecauto_lib.amazon.client import FE_ENDPOINT, JP_MARKETPLACE_ID, OPERATIONS
from ecauto_lib.amazon.lwa import LWA_TOKEN_URL
from ecauto_lib.amazon.pacing import DEFAULT_SAFETY_MARGIN
from ecauto_lib.base.client import BASE_API_URL
from ecauto_lib.errors import ConfigError
from ecauto_lib.http import DEFAULT_TIMEOUT

Parser = Callable[[object, str], Any]  # (raw value, the setting's name in errors) → value

# Markups carry at most this many decimal places, so the pricing arithmetic stays exact in int64:
# the markup's denominator divides 10**4 and Amazon prices fit the products column (32 bits), so
# every product of pricing.target_prices / the floor check stays below 2.2e18 < 2**63.
MARKUP_MAX_DECIMALS = 4
MARKUP_MAX = Decimal("10")
MARGIN_PCT_MAX_DECIMALS = 2  # the minimum margin in hundredths of a percent (basis points)
CONNECT_TIMEOUT_SECONDS = DEFAULT_TIMEOUT[0]  # the connect part of every API call's timeout


@dataclass(frozen=True)
class Setting:
    """One setting.

    ``default`` is the raw default as the README and ``.env.example`` show it (``""``: not set);
    ``target`` is where its value goes: ``policy.<field>`` (SyncPolicy), ``guards.<field>``
    (GuardPolicy), ``sp_api.<field>`` (SpApiConfig) or ``settings.<field>`` (Settings);
    ``aliases`` are older names, read when ``env`` is not set; ``shop_key`` is the accounts-file
    key that sets it per shop; ``required``: no default, the message when it is missing.
    """

    env: str
    default: str
    parse: Parser
    target: str
    aliases: tuple[str, ...] = ()
    shop_key: str | None = None
    required: str | None = None
    blank_is_unset: bool = False  # a value of spaces only counts as not set (flags, dates)

    @property
    def group(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def field(self) -> str:
        return self.target.split(".", 1)[1]

    def given(self, values: Mapping[str, str]) -> tuple[str, str | None]:
        """``(name, raw)``: the first of ``env`` and its aliases that is set, else ``(env, None)``."""
        for name in (self.env, *self.aliases):
            raw = values.get(name)
            if raw and not (self.blank_is_unset and not raw.strip()):
                return name, raw
        return self.env, None

    def read(self, values: Mapping[str, str]) -> Any:
        """The setting's value in ``values`` (the environment), its default when not set."""
        name, raw = self.given(values)
        if raw is None and self.required is not None:
            raise ConfigError(self.env, self.required)
        return self.parse(self.default if raw is None else raw, name)


# -- parsers --------------------------------------------------------------------------------------


def _number_of(raw: object, name: str, minimum: float, maximum: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ConfigError(name, f"must be a number, got {raw!r}")
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {raw!r}") from None
    if not minimum <= number <= maximum:
        raise ConfigError(name, f"must be between {minimum:g} and {maximum:g}, got {raw}")
    return number


def number(minimum: float, maximum: float) -> Parser:
    """A number in [minimum, maximum]."""
    return lambda raw, name: _number_of(raw, name, minimum, maximum)


def truncated(minimum: float, maximum: float) -> Parser:
    """A number in [minimum, maximum], its fraction dropped (``10.5`` yen → 10)."""
    return lambda raw, name: int(_number_of(raw, name, minimum, maximum))


def whole(minimum: int, maximum: int) -> Parser:
    """A whole number in [minimum, maximum] (``2.5`` is refused, not rounded)."""

    def parse(raw: object, name: str) -> int:
        value = _number_of(raw, name, minimum, maximum)
        if value != int(value):
            raise ConfigError(name, f"must be a whole number, got {raw}")
        return int(value)

    return parse


def hours(maximum: float, *, zero_is_never: bool = False) -> Parser:
    """Hours (fractions allowed) as a timedelta; with ``zero_is_never``, 0 is None (never)."""

    def parse(raw: object, name: str) -> timedelta | None:
        value = _number_of(raw, name, 0, maximum)
        return None if zero_is_never and value == 0 else timedelta(hours=value)

    return parse


def minutes(maximum: float) -> Parser:
    return lambda raw, name: timedelta(minutes=_number_of(raw, name, 0, maximum))


def decimal_places(value: Decimal) -> int:
    """Decimal places of a finite ``value``, trailing zeros aside: ``1.30`` → 1, ``100`` → 0."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int), value  # "n", "N" or "F" for NaN and infinities, refused before
    return max(0, -exponent)


def decimal(maximum: float, places: int) -> Parser:
    """A number in [0, maximum] as an exact Decimal with at most ``places`` decimal places."""

    def parse(raw: object, name: str) -> Decimal:
        value = _number_of(raw, name, 0, maximum)
        text = str(raw).strip()
        exact = Decimal(text) if text else Decimal(str(value))
        if decimal_places(exact) > places:
            raise ConfigError(name, f"must have at most {places} decimal places, got {raw}")
        return exact.normalize() + 0

    return parse


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
    if decimal_places(markup) > MARKUP_MAX_DECIMALS:
        raise ConfigError(
            setting,
            f"markup must have at most {MARKUP_MAX_DECIMALS} decimal places "
            f"(e.g. 1.3333; prices are computed exactly), got {raw}",
        )
    return markup.normalize() + 0  # 1.30 → 1.3; "+ 0" turns 1E+1 back into 10


def flag(raw: object, name: str) -> bool:
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be true or false, got {text!r}")


def url(raw: object, name: str) -> str:
    text = str(raw).rstrip("/")
    if not re.match(r"^https?://[^/\s]+", text):
        raise ConfigError(name, f"must be an http(s) URL, got {text!r}")
    return text


def text(raw: object, name: str) -> str:
    return str(raw)


def database_url(raw: object, name: str) -> str:
    value = str(raw)
    if "://" not in value:
        raise ConfigError(name, "must be an SQLAlchemy URL such as sqlite:///data/master.db")
    return value


def optional_date(raw: object, name: str) -> date | None:
    """An ISO date (``2026-01-31``), or None when the setting is empty."""
    value = str(raw).strip()
    if not value:
        return None
    parsed = None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        with suppress(ValueError):  # 2026-02-30
            parsed = date.fromisoformat(value)
    if parsed is None:
        raise ConfigError(name, f"must be a date such as 2026-01-31, got {value!r}")
    return parsed


def secret_key(raw: object, name: str) -> str | None:
    """The Fernet key (its one rule lives with the cipher); None when not set."""
    value = str(raw) or None
    if value is not None:
        from ecauto_lib.db.tokens import TokenCipher

        TokenCipher(value)  # a malformed key: ConfigError naming ECAUTO_SECRET_KEY
    return value


def rates(raw: object, name: str) -> tuple[tuple[str, float], ...]:
    """``"getItemOffersBatch=0.5,searchCatalogItems=5"`` → ((name, rate), ...)."""
    known = {op.name for op in OPERATIONS}
    found = []
    for part in filter(None, (p.strip() for p in str(raw).split(","))):
        raw_name, _, value = part.partition("=")
        operation = raw_name.strip()
        try:
            rate = float(value)
        except ValueError:
            rate = -1.0
        if not operation or not rate > 0:
            raise ConfigError(
                name, f"expected operation=rate pairs such as getItemOffersBatch=0.5, got {part!r}"
            )
        if operation not in known:
            raise ConfigError(name, f"unknown operation {operation!r} (known: {', '.join(sorted(known))})")
        found.append((operation, rate))
    return tuple(found)


def timeout(raw: object, name: str) -> tuple[float, float]:
    """The read timeout of every API call, in seconds (the connect timeout is fixed)."""
    return (CONNECT_TIMEOUT_SECONDS, _number_of(raw, name, 0.1, 600))


# -- the table ------------------------------------------------------------------------------------

SETTINGS: tuple[Setting, ...] = (
    # Amazon SP-API and Login with Amazon (required unless a command needs no SP-API)
    Setting(
        "SP_API_REFRESH_TOKEN",
        "",
        text,
        "sp_api.refresh_token",
        aliases=("REFRESH_TOKEN",),
        required="is not set (REFRESH_TOKEN is accepted as an alias)",
    ),
    Setting("LWA_APP_ID", "", text, "sp_api.app_id", required="is not set"),
    Setting("LWA_CLIENT_SECRET", "", text, "sp_api.client_secret", required="is not set"),
    Setting("SP_API_ENDPOINT", FE_ENDPOINT, url, "sp_api.endpoint"),
    Setting("LWA_TOKEN_URL", LWA_TOKEN_URL, url, "sp_api.lwa_token_url"),
    Setting("SP_API_MARKETPLACE_ID", JP_MARKETPLACE_ID, text, "sp_api.marketplace_id"),
    # The sync policy: freshness, pricing, the delivery filter, BASE's budget
    Setting("ECAUTO_MARKUP", "1.3", parse_markup, "policy.markup", shop_key="markup"),
    Setting("ECAUTO_INFO_TTL_HOURS", "168", hours(24 * 365), "policy.info_ttl"),
    Setting("ECAUTO_PRICE_TTL_HOURS", "24", hours(24 * 90), "policy.price_ttl"),
    Setting("ECAUTO_STOCK_TTL_HOURS", "1", hours(24 * 30), "policy.stock_ttl"),
    Setting("ECAUTO_TTL_SLACK_MINUTES", "10", minutes(24 * 60), "policy.ttl_slack"),
    # No ASIN's stock older than this many stock TTLs (the refresh order's fairness floor)
    Setting("ECAUTO_MAX_STOCK_AGE_TTLS", "3", number(1, 100), "policy.max_stock_age_ttls"),
    # A run starts no SP-API call after this many minutes and fills them (0: no budget, stale only)
    Setting("ECAUTO_RUN_BUDGET_MINUTES", "0", minutes(24 * 60), "policy.run_budget"),
    # A budgeted run prices and pushes what it has confirmed every this many minutes while its
    # fetch goes on (0: once, after the fetch)
    Setting("ECAUTO_PUSH_EVERY_MINUTES", "0", minutes(24 * 60), "policy.push_every"),
    # Order refreshes by the harm a stale answer can do (false: oldest first, as before #17)
    Setting("ECAUTO_VALUE_ORDER", "true", flag, "policy.value_order", blank_is_unset=True),
    Setting("ECAUTO_PRICE_ROUNDING_YEN", "10", truncated(1, 10_000), "policy.rounding_yen"),
    Setting("ECAUTO_MIN_PRICE_CHANGE_YEN", "100", truncated(0, 1_000_000), "policy.min_price_change_yen"),
    Setting("ECAUTO_MAX_DELIVERY_HOURS", "72", truncated(0, 24 * 60), "policy.max_delivery_hours"),
    Setting("ECAUTO_MIN_PRICE_YEN", "300", truncated(1, 10_000_000), "policy.min_price_yen"),
    Setting("ECAUTO_MAX_PRICE_YEN", "1000000", truncated(1, 100_000_000), "policy.max_price_yen"),
    Setting(
        "ECAUTO_MIN_MARGIN_PCT", "5", decimal(900, places=MARGIN_PCT_MAX_DECIMALS), "policy.min_margin_pct"
    ),
    Setting("ECAUTO_MIN_MARGIN_YEN", "0", truncated(0, 1_000_000), "policy.min_margin_yen"),
    Setting("ECAUTO_BASE_CALLS_PER_HOUR", "5000", truncated(1, 5000), "policy.base_calls_per_hour"),
    Setting(
        "ECAUTO_UNKNOWN_HIDE_HOURS", "24", hours(24 * 365, zero_is_never=True), "policy.unknown_hide_after"
    ),
    Setting("ECAUTO_BASE_OUTAGE_ERRORS", "5", whole(1, 1000), "policy.base_outage_errors"),
    # The guards (each can be set per shop in the accounts file)
    Setting(
        "ECAUTO_MAX_PRICE_MOVE_PCT",
        "30",
        number(0, 1000),
        "guards.max_move_pct",
        shop_key="max_price_move_pct",
    ),
    Setting(
        "ECAUTO_BREAKER_HIDE_PCT",
        "30",
        number(0, 100),
        "guards.breaker_hide_pct",
        shop_key="breaker_hide_pct",
    ),
    Setting(
        "ECAUTO_BREAKER_CUT_PCT", "30", number(0, 100), "guards.breaker_cut_pct", shop_key="breaker_cut_pct"
    ),
    Setting(
        "ECAUTO_BREAKER_MIN_ITEMS",
        "5",
        whole(0, 1_000_000),
        "guards.breaker_min_items",
        shop_key="breaker_min_items",
    ),
    # Where things are
    Setting("ECAUTO_ACCOUNTS_FILE", "config/accounts.json", text, "settings.accounts_file"),
    Setting("DATABASE_URL", "sqlite:///data/master.db", database_url, "settings.database_url"),
    Setting("ECAUTO_SECRET_KEY", "", secret_key, "settings.secret_key"),
    Setting("BASE_API_URL", BASE_API_URL, url, "settings.base_api_url"),
    # How the clients behave
    Setting("ECAUTO_RETRY_BASE_DELAY_SECONDS", "2", number(0, 60), "settings.retry_base_delay_seconds"),
    # Alerts: ecauto.sp-api.failing when at least this share of a run's ASINs got no usable answer
    Setting("ECAUTO_ALERT_FETCH_FAILED_PCT", "20", number(0, 100), "settings.alert_fetch_failed_pct"),
    Setting(
        "ECAUTO_RECHECK_SELL_OUTS",
        "true",
        flag,
        "settings.recheck_sell_outs",
        aliases=("ECAUTO_CONFIRM_SELL_OUTS",),
        blank_is_unset=True,
    ),
    Setting("ECAUTO_SHARED_QUOTA", "true", flag, "settings.shared_quota", blank_is_unset=True),
    Setting("ECAUTO_SP_API_RATES", "", rates, "settings.sp_api_rates"),
    Setting(
        "ECAUTO_SP_API_SAFETY_MARGIN",
        f"{DEFAULT_SAFETY_MARGIN:g}",
        number(0, 0.9),
        "settings.sp_api_safety_margin",
    ),
    Setting("ECAUTO_SP_API_MIN_SLACK_MS", "20", number(0, 10_000), "settings.sp_api_min_slack_ms"),
    Setting("ECAUTO_HTTP_TIMEOUT_SECONDS", f"{DEFAULT_TIMEOUT[1]:g}", timeout, "settings.http_timeout"),
    Setting(
        "LWA_SECRET_ROTATED_AT", "", optional_date, "settings.lwa_secret_rotated_at", blank_is_unset=True
    ),
)

BY_ENV: dict[str, Setting] = {s.env: s for s in SETTINGS}


def in_group(group: str) -> tuple[Setting, ...]:
    """The settings whose target is in ``group`` (``policy``, ``guards``, ``sp_api``, ``settings``)."""
    return tuple(s for s in SETTINGS if s.group == group)


@cache
def default(env: str) -> Any:
    """The value of setting ``env`` when it is not set (its documented default, parsed)."""
    setting = BY_ENV[env]
    return setting.parse(setting.default, setting.env)
