"""The seed's approach as a plain loop, for a side-by-side figure on the same scenario.

What the original EC Auto v1.0 did (its production report, ``original-run-report-ja.md``):
one ``getItemOffers`` call per ASIN with a fixed 2.1 s between calls (0.48 req/s), then the
BASE updates one item after another. The baseline does the same against the simulator:

1. setup (not timed): read every shop's items from BASE and find their ASINs, as the seed's
   master DB knew them;
2. fetch: one ``GET /products/pricing/v0/items/{asin}/offers`` per unique ASIN, calls started
   at least 2.1 s of virtual time apart (start to start: slightly kinder than the seed's
   sleep-after-call, which also waited for each answer); a 429 waits one more slot and retries;
3. push: the same pricing rules as the pipeline decide the changes (so both runs make the
   same edits), then one ``items/edit`` per item, shop after shop, in one thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import requests

from ecauto_lib.amazon.client import GET_ITEM_OFFERS, item_offers_query
from ecauto_lib.amazon.lwa import LwaAuth
from ecauto_lib.amazon.offers import observation_from_item
from ecauto_lib.base.auth import BaseAuth, InMemoryTokenStore
from ecauto_lib.base.client import BaseClient
from ecauto_lib.config import SyncMode, SyncPolicy
from ecauto_lib.db import LISTING_COLUMNS, LISTING_DTYPES
from ecauto_lib.domain import ListingRow, Observation
from ecauto_lib.errors import EcAutoError
from ecauto_lib.http import make_session
from ecauto_lib.listings_import import listings_from_base_items
from ecauto_lib.observations import apply_observations
from ecauto_lib.pricing import item_updates, plan_changes

SEED_SPACING_SECONDS = 2.1
"""The seed's fixed wait between SP-API calls (its report: "2.1秒間隔（0.48 req/sec）")."""

MAX_ATTEMPTS = 5  # per ASIN: a 429 or 403 waits one more slot, up to this many calls

SEED_ASINS = 11
SEED_SECONDS = 78.6
SEED_ASIN_PER_SECOND = SEED_ASINS / SEED_SECONDS
"""The seed's measured production throughput: 11 ASINs in 78.6 s (0.14 ASIN/s)."""


@dataclass
class BaselineResult:
    """What the baseline did and how long it took (real seconds; virtual = real × speed)."""

    speed: float
    asins: int = 0
    listings: int = 0
    calls: int = 0
    throttled: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    fetch_seconds: float = 0.0
    edits: int = 0
    edit_failures: int = 0
    push_seconds: float = 0.0
    setup_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "speed": self.speed,
            "asins": self.asins,
            "listings": self.listings,
            "calls": self.calls,
            "throttled": self.throttled,
            "outcomes": dict(self.outcomes),
            "fetch_seconds": round(self.fetch_seconds, 3),
            "edits": self.edits,
            "edit_failures": self.edit_failures,
            "push_seconds": round(self.push_seconds, 3),
            "setup_seconds": round(self.setup_seconds, 3),
        }


def listings_frame(rows: list[ListingRow]) -> pd.DataFrame:
    """Listings as :func:`ecauto_lib.db.load_listings` would return them before any fetch."""
    frame = pd.DataFrame(
        {
            "listing_id": range(1, len(rows) + 1),
            "account_id": [r.account_id for r in rows],
            "asin": [r.asin for r in rows],
            "base_item_id": [r.base_item_id for r in rows],
            "base_price": [r.base_price for r in rows],
            "base_visible": [r.base_visible for r in rows],
        }
    )
    for name in LISTING_COLUMNS:
        if name not in frame:
            frame[name] = None
    return frame[LISTING_COLUMNS].astype(LISTING_DTYPES)


def fetch_one(
    session: requests.Session, endpoint: str, marketplace_id: str, asin: str, access_token: str
) -> tuple[int, dict | None]:
    """One getItemOffers call: ``(HTTP status, decoded body or None)``."""
    response = session.get(
        endpoint + GET_ITEM_OFFERS.path.format(asin=asin),
        params=item_offers_query(marketplace_id, "New"),
        headers={"x-amz-access-token": access_token, "accept": "application/json"},
        timeout=(5, 30),
    )
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body if isinstance(body, dict) else None


def as_batch_item(status: int, body: dict | None) -> dict:
    """A single-ASIN answer in the shape of one getItemOffersBatch element (same parser)."""
    return {"status": {"statusCode": status}, "body": body or {}}


def run_baseline(
    sandbox: Any,
    *,
    policy: SyncPolicy | None = None,
    markup: Decimal = Decimal("1.3"),
    spacing: float = SEED_SPACING_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> BaselineResult:
    """Run the seed's approach against a started simulator (real seconds = virtual / speed)."""
    policy = policy or SyncPolicy()
    result = BaselineResult(speed=sandbox.speed)
    setup_started = time.perf_counter()
    clients = {shop.id: _base_client(sandbox, shop) for shop in sandbox.shops}
    rows: list[ListingRow] = []
    for shop_id, client in clients.items():
        rows += listings_from_base_items(shop_id, client.iter_items(page_size=100)).rows
    result.listings = len(rows)
    asins = list(dict.fromkeys(r.asin for r in rows))
    result.asins = len(asins)
    lwa = sandbox.lwa_credentials
    auth = LwaAuth(sandbox.lwa_token_url, lwa.client_id, lwa.client_secret, lwa.refresh_token)
    session = make_session()
    result.setup_seconds = time.perf_counter() - setup_started

    observations, fetch_seconds = _fetch_sequentially(
        session, sandbox, auth, asins, policy, spacing / sandbox.speed, result, sleep
    )
    result.fetch_seconds = fetch_seconds
    for o in observations:
        result.outcomes[str(o.outcome)] = result.outcomes.get(str(o.outcome), 0) + 1

    push_started = time.perf_counter()
    current = apply_observations(listings_frame(rows), observations)
    plan = plan_changes(current, policy, {shop_id: markup for shop_id in clients}, SyncMode.FULL)
    for update in item_updates(plan.changes):
        fields = update.fields
        try:
            clients[update.account_id].edit_item(
                update.base_item_id,
                price=fields.get("price"),
                visible=None if "visible" not in fields else bool(fields["visible"]),
            )
            result.edits += 1
        except EcAutoError:
            result.edit_failures += 1
    result.push_seconds = time.perf_counter() - push_started
    return result


def _fetch_sequentially(
    session: requests.Session,
    sandbox: Any,
    auth: LwaAuth,
    asins: list[str],
    policy: SyncPolicy,
    real_spacing: float,
    result: BaselineResult,
    sleep: Callable[[float], None],
) -> tuple[list[Observation], float]:
    """One call per ASIN on a fixed schedule; returns the observations and the real seconds taken."""
    observations: list[Observation] = []
    started = time.perf_counter()
    slot = started
    for asin in asins:
        for _attempt in range(MAX_ATTEMPTS):
            wait = slot - time.perf_counter()
            if wait > 0:
                sleep(wait)
            # Never closer than the spacing, even after a late call (no catching up).
            slot = max(slot, time.perf_counter()) + real_spacing
            status, body = fetch_one(
                session, sandbox.sp_api_endpoint, sandbox.marketplace_id, asin, auth.access_token()
            )
            result.calls += 1
            if status == 429:
                result.throttled += 1
            elif status == 403:
                auth.invalidate()
            else:
                break
        observations.append(
            observation_from_item(
                asin,
                as_batch_item(status, body),
                max_delivery_hours=policy.max_delivery_hours,
                observed_at=datetime.now(UTC),
            )
        )
    return observations, time.perf_counter() - started


def _base_client(sandbox: Any, shop: Any) -> BaseClient:
    auth = BaseAuth(
        shop.id,
        client_id=shop.client_id,
        client_secret=shop.client_secret,
        redirect_uri=shop.redirect_uri,
        initial_refresh_token=shop.refresh_token,
        store=InMemoryTokenStore(),
        token_url=sandbox.base_token_url,
    )
    return BaseClient(sandbox.base_api_url, auth)
