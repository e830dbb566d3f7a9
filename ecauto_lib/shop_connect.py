"""Connecting a BASE shop: from the authorize URL to a stored token pair (``flows/connect_shop.py``).

1. :func:`start` builds BASE's authorize URL with a signed ``state`` (and says whether the
   account's ``redirect_uri`` is a loopback address this machine can listen on).
2. The shop owner allows the app in the browser; the answer comes back as a :class:`RedirectAnswer`
   (caught by the loopback listener, or pasted).
3. :func:`finish` checks ``state``, exchanges the code, asks ``/1/users/me`` which shop it is, and
   stores the pair through the token store (recording the authorisation). Nothing is written
   unless every step succeeded.

A stored pair that still works is only replaced with ``force`` (so a stray run cannot undo a
working shop); one that BASE refused or that is past its expected lapse is replaced freely. A
code for another BASE shop than the one the account was connected to is refused without
``force``. Errors are :class:`ConnectError` with the exit code the CLI uses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from ecauto_lib.base import urls
from ecauto_lib.base.auth import (
    ClientRefusedError,
    CodeRefusedError,
    InMemoryTokenStore,
    connect_command,
    exchange_code,
)
from ecauto_lib.base.authorize import (
    LoopbackAddress,
    RedirectAnswer,
    authorize_url,
    loopback_address,
    new_state,
    state_matches,
)
from ecauto_lib.config import AccountConfig, Settings
from ecauto_lib.connect import base_client
from ecauto_lib.db.tokens import DbTokenStore
from ecauto_lib.domain import BaseShop, BaseTokens
from ecauto_lib.errors import ApiError, AuthError, EcAutoError
from ecauto_lib.token_health import ShopTokenHealth, TokenState, shop_token_health

LIVE_STATES = frozenset({TokenState.OK, TokenState.EXPIRING})  # replaced only with --force
NOTHING_STORED = frozenset({TokenState.NOT_CONNECTED, TokenState.NOT_STORED})


class ConnectError(EcAutoError):
    """Connecting failed and nothing was stored; ``exit_code`` 1 (try again) or 2 (fix the setup)."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class AuthorisationRequest:
    """Where to send the shop owner, and where BASE will send the browser back."""

    url: str
    state: str
    loopback: LoopbackAddress | None  # listen here, or None: the seller pastes the answer


@dataclass(frozen=True)
class ConnectedShop:
    account_id: str
    shop: BaseShop
    replaced: bool  # a pair was stored before


def token_url(settings: Settings) -> str:
    return urls.token_url(settings.base_api_url)


def current_health(store: DbTokenStore, account: AccountConfig, now: datetime) -> ShopTokenHealth:
    return shop_token_health(account, store.records([account.id]).get(account.id), now)


def check_replaceable(health: ShopTokenHealth, *, force: bool) -> None:
    """Refuse to replace a stored pair that still works, unless ``force``."""
    if force or health.state not in LIVE_STATES:
        return
    raise ConnectError(
        f"account {health.account_id} is already connected and its token works "
        f"({health.days_left} days left before its refresh token is expected to lapse); nothing was "
        "changed. To replace it anyway, run again with --force.",
        exit_code=2,
    )


def start(settings: Settings, account: AccountConfig) -> AuthorisationRequest:
    """The authorize URL for ``account`` (scope read_items write_items, a fresh signed state)."""
    state = new_state(account.id, account.client_secret)
    url = authorize_url(settings.base_api_url, account.client_id, account.redirect_uri, state)
    return AuthorisationRequest(url, state, loopback_address(account.redirect_uri))


def finish(
    settings: Settings,
    account: AccountConfig,
    store: DbTokenStore,
    answer: RedirectAnswer,
    *,
    expected_state: str | None = None,
    force: bool = False,
    clock: Callable[[], float] = time.time,
) -> ConnectedShop:
    """Check ``answer``, exchange its code, identify the shop, store the pair; see the module doc.

    ``expected_state`` is the state this process sent (loopback); a pasted answer's state, when
    it has one, must have been signed for this account. ``clock`` (epoch seconds) stamps the pair.
    """
    if answer.error:
        detail = f" ({answer.error_description})" if answer.error_description else ""
        raise ConnectError(
            f"BASE did not authorise the app: {answer.error}{detail}. Nothing was saved; run "
            f"{connect_command(account.id)} again and allow access."
        )
    if not answer.code:
        raise ConnectError(
            "the answer holds no code: paste the whole address the browser shows after allowing"
        )
    _check_state(answer, account, expected_state)
    now = datetime.fromtimestamp(clock(), UTC)
    before = current_health(store, account, now)
    check_replaceable(before, force=force)

    tokens = _exchange(settings, account, answer.code, clock)
    memory = InMemoryTokenStore({account.id: tokens})
    lifetime = (tokens.expires_at - now).total_seconds()
    client = base_client(settings, account, memory, clock=clock, lifetime=lifetime)
    try:
        shop = client.shop()
    except ApiError as exc:
        raise ConnectError(
            f"BASE issued tokens but /1/users/me failed ({type(exc).__name__}: {exc}); nothing was saved. "
            f"Run {connect_command(account.id)} again."
        ) from None
    known = before.base_shop
    if known is not None and known.shop_id != shop.shop_id and not force:
        raise ConnectError(
            f"this code is for the BASE shop {shop.name!r} ({shop.shop_id}), but account {account.id} was "
            f"connected to {known.name!r} ({known.shop_id}); nothing was saved. Log in to the right shop "
            "and ask for a new code, or run again with --force to switch shops."
        )
    latest = memory.load(account.id) or tokens  # users/me may have refreshed (rotated) the pair
    store.save(account.id, latest, authorised=shop)
    return ConnectedShop(account.id, shop, replaced=before.state not in NOTHING_STORED)


def _check_state(answer: RedirectAnswer, account: AccountConfig, expected: str | None) -> None:
    if expected is not None:
        ok = answer.state == expected
    else:
        ok = answer.state is None or state_matches(answer.state, account.id, account.client_secret)
    if not ok:
        raise ConnectError(
            "state mismatch: this answer does not belong to the authorize URL printed for account "
            f"{account.id} (another account's, or an old or forged one); nothing was saved. "
            f"Run {connect_command(account.id)} again and use the new URL."
        )


def _exchange(
    settings: Settings, account: AccountConfig, code: str, clock: Callable[[], float]
) -> BaseTokens:
    try:
        return exchange_code(
            code=code,
            client_id=account.client_id,
            client_secret=account.client_secret,
            redirect_uri=account.redirect_uri,
            token_url=token_url(settings),
            timeout=settings.http_timeout,
            clock=clock,
        )
    except CodeRefusedError as exc:
        raise ConnectError(
            f"{exc}. A code works once and only for a short while: ask for a new code "
            f"(run {connect_command(account.id)} again and allow access); nothing was saved."
        ) from None
    except ClientRefusedError as exc:
        raise ConnectError(
            f"{exc}: check client_id and client_secret of account {account.id} in the accounts file; "
            "nothing was saved.",
            exit_code=2,
        ) from None
    except AuthError as exc:
        raise ConnectError(
            f"{exc}: check that redirect_uri of account {account.id} in the accounts file is exactly the "
            "callback registered for the app at developers.thebase.in; nothing was saved.",
            exit_code=2,
        ) from None
    except ApiError as exc:
        raise ConnectError(
            f"BASE did not answer the code exchange ({exc}); nothing was saved. Try again; if BASE then "
            "calls the code invalid, ask for a new one."
        ) from None
