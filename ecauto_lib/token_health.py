"""Token health: how long each BASE shop's refresh token and the LWA client secret are expected to live.

The rules, defined here once:

- A BASE refresh token lives about 30 days (base-api.md §2: "30日程度"). The days are counted from
  when the stored refresh token was *issued*: the authorisation (``connect_shop``) or a refresh that
  handed back a new one. BASE does not document whether a refresh that hands back the same token
  restarts the clock, so that is assumed not to happen, unless such a refresh worked past the
  expected lapse (then the clock evidently restarted, and the count goes from that refresh). When
  the issue time is unknown (an accounts-file token BASE never replaced) the last stored pair is
  the start. From 7 days before, runs warn; past it, or once BASE refused it, the shop needs
  ``python flows/connect_shop.py --account ID``.
- Amazon retires an LWA client secret 180 days after it was issued (rotated in Seller Central).
  With ``LWA_SECRET_ROTATED_AT`` set, runs warn from 14 days before.

Plain values and functions; the caller passes ``now`` (tests drive it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from ecauto_lib.amazon.lwa import LWA_ROTATION_HELP
from ecauto_lib.base.auth import NeedsAuthorisationError, connect_command
from ecauto_lib.base.budget import JST
from ecauto_lib.config import AccountConfig
from ecauto_lib.domain import BaseShop, TokenRecord
from ecauto_lib.errors import AuthError

REFRESH_TOKEN_LIFETIME = timedelta(days=30)
REFRESH_TOKEN_WARNING = timedelta(days=7)
LWA_SECRET_LIFETIME = timedelta(days=180)
LWA_SECRET_WARNING = timedelta(days=14)


class TokenState(StrEnum):
    """Where a credential stands."""

    OK = "ok"
    EXPIRING = "expiring"  # inside the warning window: act soon
    LAPSED = "lapsed"  # past the expected lapse
    REFUSED = "refused"  # BASE refused the stored refresh token
    NOT_CONNECTED = "not_connected"  # no pair stored and no refresh token in the accounts file
    NOT_STORED = "not_stored"  # no pair yet: the first run uses the accounts file's refresh token
    UNKNOWN = "unknown"  # LWA: LWA_SECRET_ROTATED_AT not set


NEEDS_AUTHORISATION = frozenset({TokenState.LAPSED, TokenState.REFUSED, TokenState.NOT_CONNECTED})

STATE_TEXT = {
    TokenState.OK: "OK",
    TokenState.EXPIRING: "⚠️ 期限間近 (expiring soon)",
    TokenState.LAPSED: "❌ 期限切れの見込み (expected to have lapsed)",
    TokenState.REFUSED: "❌ 再認可が必要 (refused by BASE)",
    TokenState.NOT_CONNECTED: "❌ 未接続 (not connected)",
    TokenState.NOT_STORED: "未使用 (accounts-file token, not used yet)",
    TokenState.UNKNOWN: "-",
}


@dataclass(frozen=True)
class ShopTokenHealth:
    """One shop's BASE token, as the master DB knows it (no token values)."""

    account_id: str
    name: str
    state: TokenState
    authorised_at: datetime | None = None
    refreshed_at: datetime | None = None
    lapses_at: datetime | None = None  # expected
    days_left: int | None = None  # days until lapses_at, a started day counted whole (≤ 0: past it)
    refusal: str | None = None
    base_shop: BaseShop | None = None

    @property
    def needs_authorisation(self) -> bool:
        """The shop must be (re-)connected before BASE accepts its token (again)."""
        return self.state in NEEDS_AUTHORISATION

    @property
    def command(self) -> str:
        return connect_command(self.account_id)

    def message(self) -> str | None:
        """What the seller must do, in one sentence; None when nothing is needed."""
        shop = f"{self.account_id} ({self.name})"
        lapse = _day(self.lapses_at)
        if self.state is TokenState.EXPIRING:
            return (
                f"{shop}: the BASE refresh token is expected to lapse in {self.days_left} days ({lapse}); "
                f"re-authorise the shop before then: {self.command}"
            )
        if self.state is TokenState.LAPSED:
            return (
                f"{shop}: the BASE refresh token was expected to lapse on {lapse}; "
                f"if BASE refuses it, re-authorise the shop: {self.command}"
            )
        if self.state is TokenState.REFUSED:
            return f"{shop}: BASE refused the refresh token ({self.refusal}); re-authorise the shop: {self.command}"
        if self.state is TokenState.NOT_CONNECTED:
            return f"{shop}: not connected to BASE yet; connect the shop: {self.command}"
        return None

    def cells(self) -> tuple[str, ...]:
        """Table cells: account, BASE shop, authorised, last refresh, expected lapse, days left, state."""
        return (
            f"{self.account_id} ({self.name})",
            self.base_shop.name or self.base_shop.shop_id if self.base_shop else "-",
            _minute(self.authorised_at),
            _minute(self.refreshed_at),
            _day(self.lapses_at),
            "-" if self.days_left is None else str(max(self.days_left, 0)),
            STATE_TEXT[self.state],
        )


TABLE_HEADER = (
    "アカウント (account)",
    "BASEショップ",
    "認可 (authorised)",
    "最終更新 (refreshed)",
    "失効見込み (lapses)",
    "残り日数 (days left)",
    "状態 (state)",
)


def health_table(healths: Iterable[ShopTokenHealth]) -> list[str]:
    """The shops' token health as markdown table lines (terminal and report alike)."""
    rows = [TABLE_HEADER, *(h.cells() for h in healths)]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("---" for _ in TABLE_HEADER) + "|")
    return lines


def shop_token_health(account: AccountConfig, record: TokenRecord | None, now: datetime) -> ShopTokenHealth:
    """The health of ``account``'s stored pair (``record``; None: nothing stored) at ``now``."""
    if record is None:
        state = TokenState.NOT_STORED if account.refresh_token else TokenState.NOT_CONNECTED
        return ShopTokenHealth(account.id, account.name, state)
    start = record.refresh_issued_at or record.authorised_at or record.saved_at
    if record.refreshed_at is not None and record.refreshed_at >= start + REFRESH_TOKEN_LIFETIME:
        start = record.refreshed_at  # a refresh worked past the expected lapse: the clock restarted
    lapses_at = start + REFRESH_TOKEN_LIFETIME
    left = lapses_at - now
    state = TokenState.REFUSED if record.refusal is not None else _lifetime_state(left, REFRESH_TOKEN_WARNING)
    return ShopTokenHealth(
        account.id,
        account.name,
        state,
        authorised_at=record.authorised_at,
        refreshed_at=record.refreshed_at,
        lapses_at=lapses_at,
        days_left=-(-left // timedelta(days=1)),  # ceiling: "30 days" right after connecting
        refusal=record.refusal,
        base_shop=record.base_shop,
    )


def shops_token_health(
    accounts: Iterable[AccountConfig], records: Mapping[str, TokenRecord], now: datetime
) -> list[ShopTokenHealth]:
    return [shop_token_health(a, records.get(a.id), now) for a in accounts]


@dataclass(frozen=True)
class ShopBlock:
    """A shop whose pushes stop for this run because BASE refused its token or its app."""

    account_id: str
    message: str  # names the shop and what to do
    reauthorise: bool  # True: connect_shop fixes it; False: the accounts file does (client_id/secret)


def shop_block(account: AccountConfig, exc: AuthError) -> ShopBlock:
    """The block for ``account`` when BASE refused it with ``exc`` (from :mod:`ecauto_lib.base.auth`)."""
    shop = f"{account.id} ({account.name})"
    if isinstance(exc, NeedsAuthorisationError):
        return ShopBlock(
            account.id,
            f"{shop}: {exc.reason}; its pushes stop for this run. Re-authorise the shop: "
            f"{connect_command(account.id)}",
            reauthorise=True,
        )
    return ShopBlock(account.id, f"{shop}: {exc}; its pushes stop for this run", reauthorise=False)


@dataclass(frozen=True)
class LwaSecretHealth:
    """The LWA client secret's age, when ``LWA_SECRET_ROTATED_AT`` says when it was rotated."""

    state: TokenState
    rotated_on: date | None = None
    retires_on: date | None = None
    days_left: int | None = None

    def message(self) -> str | None:
        if self.state is TokenState.EXPIRING:
            return (
                f"LWA_CLIENT_SECRET: Amazon retires it on {self.retires_on} (in {self.days_left} days; "
                f"rotated {self.rotated_on}, LWA_SECRET_ROTATED_AT). {LWA_ROTATION_HELP}"
            )
        if self.state is TokenState.LAPSED:
            return (
                f"LWA_CLIENT_SECRET: Amazon retired it on {self.retires_on} (180 days after "
                f"LWA_SECRET_ROTATED_AT={self.rotated_on}). {LWA_ROTATION_HELP}"
            )
        return None


def lwa_secret_health(rotated_on: date | None, today: date) -> LwaSecretHealth:
    if rotated_on is None:
        return LwaSecretHealth(TokenState.UNKNOWN)
    retires_on = rotated_on + LWA_SECRET_LIFETIME
    left = retires_on - today
    return LwaSecretHealth(_lifetime_state(left, LWA_SECRET_WARNING), rotated_on, retires_on, left.days)


def _lifetime_state(left: timedelta, warning: timedelta) -> TokenState:
    """Past its end (nothing left): LAPSED; within ``warning`` of it: EXPIRING; else OK."""
    if left <= timedelta(0):
        return TokenState.LAPSED
    return TokenState.EXPIRING if left <= warning else TokenState.OK


def _minute(value: datetime | None) -> str:
    """A time as the seller reads it, in Japan time (the DB keeps UTC)."""
    return _jst(value).strftime("%Y-%m-%d %H:%M JST") if value else "-"


def _day(value: datetime | None) -> str:
    return _jst(value).strftime("%Y-%m-%d") if value else "-"


def _jst(value: datetime) -> datetime:
    return value.astimezone(JST) if value.tzinfo is not None else value.replace(tzinfo=UTC).astimezone(JST)
