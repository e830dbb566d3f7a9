"""Building the API clients from validated settings (one place, so flows and scripts agree)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import sqlalchemy as sa

from ecauto_lib.amazon.client import OPERATIONS, SpApiClient
from ecauto_lib.amazon.lwa import LwaAuth
from ecauto_lib.base.auth import DEFAULT_LIFETIME, BaseAuth, TokenStore
from ecauto_lib.base.client import BaseClient
from ecauto_lib.base.urls import token_url
from ecauto_lib.config import AccountConfig, Settings
from ecauto_lib.db.quota import SharedPacer
from ecauto_lib.db.tokens import DbTokenStore, TokenCipher
from ecauto_lib.errors import ConfigError


def sp_api_client(settings: Settings, engine: sa.Engine | None = None) -> SpApiClient:
    """An SP-API client for the seller in ``settings`` (LWA token cached inside).

    With ``engine`` (and ``ECAUTO_SHARED_QUOTA`` on, the default) every operation is paced by a
    bucket in the master DB, shared by every process syncing for this seller; without it (dry
    runs, which write nothing) by a bucket of this process only.
    """
    if settings.sp_api is None:
        raise ConfigError("SP_API_REFRESH_TOKEN", "SP-API credentials are required for this command")
    sp = settings.sp_api
    auth = LwaAuth(
        sp.lwa_token_url, sp.app_id, sp.client_secret, sp.refresh_token, timeout=settings.http_timeout
    )
    pacers = None
    if engine is not None and settings.shared_quota:
        scope = seller_scope(settings)
        pacers = {
            op.name: SharedPacer(
                engine,
                f"{scope}|{op.name}",
                op.rate,
                op.burst,
                safety_margin=settings.sp_api_safety_margin,
                min_slack=settings.sp_api_min_slack_ms / 1000,
            )
            for op in OPERATIONS
        }
    client = SpApiClient(
        sp.endpoint,
        auth,
        sp.marketplace_id,
        timeout=settings.http_timeout,
        safety_margin=settings.sp_api_safety_margin,
        min_slack=settings.sp_api_min_slack_ms / 1000,
        pacers=pacers,
    )
    for name, rate in settings.sp_api_rates:  # names checked by load_settings
        client.pacer(name).set_rate(rate)
    return client


def base_client(
    settings: Settings,
    account: AccountConfig,
    store: TokenStore,
    *,
    clock: Callable[[], float] = time.time,
    lifetime: float = DEFAULT_LIFETIME,
) -> BaseClient[BaseAuth]:
    """A BASE client for one shop; its OAuth pairs are read from and saved to ``store``
    (``lifetime``: of the access token in it, when known; ``clock``: epoch seconds)."""
    auth = BaseAuth(
        account.id,
        client_id=account.client_id,
        client_secret=account.client_secret,
        redirect_uri=account.redirect_uri,
        initial_refresh_token=account.refresh_token,
        store=store,
        token_url=token_url(settings.base_api_url),
        timeout=settings.http_timeout,
        clock=clock,
        lifetime=lifetime,
    )
    return BaseClient(settings.base_api_url, auth, timeout=settings.http_timeout)


def token_store(settings: Settings, engine: sa.Engine) -> DbTokenStore:
    """The BASE token store of the master DB, encrypting with ``ECAUTO_SECRET_KEY``."""
    return DbTokenStore(engine, TokenCipher.of(settings.secret_key))


def seller_scope(settings: Settings) -> str:
    """A non-secret fingerprint of *which* seller and endpoint a fetch is for (cache keys use it)."""
    sp = settings.sp_api
    text = "" if sp is None else f"{sp.endpoint}|{sp.marketplace_id}|{sp.app_id}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
