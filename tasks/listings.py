"""Step 0-1: make sure the master DB is ready, then load the listings to sync."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ecauto_lib import db
from ecauto_lib.asin import asin_in_identifier
from ecauto_lib.config import AccountConfig, Settings
from ecauto_lib.connect import base_client, token_store
from ecauto_lib.domain import ListingRow, Variation
from ecauto_lib.errors import ConfigError
from tasks._common import api_retries, engine_for, with_retry_policy


@task(name="prepare-database", cache_policy=NO_CACHE)
def prepare_database(database_url: str, *, dry_run: bool) -> None:
    """Apply pending migrations; a dry run writes nothing, so it only checks the schema is current."""
    engine = engine_for(database_url)
    if dry_run:
        if not db.schema_is_current(engine):
            raise ConfigError(
                "DATABASE_URL", "the database schema is missing or out of date; run once without --dry-run"
            )
        return
    db.upgrade(engine)


@task(name="check-secrets", cache_policy=NO_CACHE)
def check_secrets(settings: Settings, account_ids: list[str]) -> None:
    """Before any API call: warn about secret files others can read; ECAUTO_SECRET_KEY must open
    every stored BASE pair of these shops (a ConfigError naming it otherwise: exit 2)."""
    for warning in settings.warnings:
        get_run_logger().warning("警告 / warning: %s", warning)
    token_store(settings, engine_for(settings.database_url)).check(account_ids)


@task(name="load-listings", cache_policy=NO_CACHE)
def load_listings(database_url: str, account_ids: list[str]) -> pd.DataFrame:
    """The listed items of these accounts, each joined with what we know of its product."""
    listings = db.load_listings(engine_for(database_url), account_ids)
    get_run_logger().info(
        "loaded %d listings (%d ASINs) for %s",
        len(listings),
        listings["asin"].nunique(),
        ", ".join(account_ids),
    )
    return listings


@task(name="load-variations", cache_policy=NO_CACHE)
def load_variations(
    database_url: str, account_ids: list[str], listings: pd.DataFrame
) -> tuple[dict[tuple[str, int], tuple[Variation, ...]], dict[str, str]]:
    """Stored BASE variations of these shops' items, and the stock state of every ASIN their
    ``variation_identifier`` names (this run's listings first, else the products table)."""
    engine = engine_for(database_url)
    variations = db.load_variations(engine, account_ids)
    asins = {a for vs in variations.values() for v in vs if (a := asin_in_identifier(v.identifier))}
    states = dict(zip(listings["asin"], listings["stock_state"], strict=True))
    missing = asins - set(states)
    states = {a: states[a] for a in asins & set(states)}
    states.update(db.stock_states(engine, missing))
    return variations, states


@task(
    name="fetch-shop-items",
    cache_policy=NO_CACHE,
    **api_retries(3),  # fetch_shop_items applies the run's ECAUTO_RETRY_BASE_DELAY_SECONDS
    task_run_name="fetch-items-{account.id}",
)
def read_shop_items(settings: Settings, account: AccountConfig) -> list[dict]:
    """Every item of one BASE shop (pages of 100 until a short page)."""
    client = base_client(settings, account, token_store(settings, engine_for(settings.database_url)))
    items = list(client.iter_items(page_size=100))
    get_run_logger().info("%s: %d items in %d calls", account.id, len(items), client.calls)
    return items


def fetch_shop_items(settings: Settings, account: AccountConfig) -> list[dict]:
    """Every item of one BASE shop: the task run, with the retry policy at the run's settings."""
    return with_retry_policy(read_shop_items, settings)(settings, account)


@task(name="register-listings", cache_policy=NO_CACHE)
def register_listings(database_url: str, rows: list[ListingRow]) -> db.ImportResult:
    """Insert new listings; report conflicts with what is registered already."""
    return db.upsert_listings(engine_for(database_url), rows)
