"""Instant APIs and synthetic listings, for measuring the pipeline's local cost at any size.

"API answered instantly": :class:`InstantSpApi` and :class:`InstantBase` stand in for the
SP-API and BASE clients. Their answers are the simulator's own response shapes (rendered once
from a small generated scenario, then stamped with each requested ASIN), so the pipeline parses
exactly what it parses against the simulator. What stays out of the measurement: the network,
HTTP framing (``requests``), the pacer and the server. What stays in: decoding the JSON text
(the real client does it too), parsing it into observations, and everything after.

Nothing here holds a scenario of the measured size: an ASIN's product is chosen from the
templates by a hash of the ASIN, so a 100,000-listing run costs no memory for its fake API.
"""

from __future__ import annotations

import json
import threading
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ecauto_lib.amazon.client import OPERATIONS, responses_by_asin
from ecauto_lib.domain import ListingRow, Outcome
from ecauto_sandbox.amazon import catalog as sandbox_catalog
from ecauto_sandbox.amazon import pricing as sandbox_pricing
from ecauto_sandbox.scenario import Expectation, Scenario, round_half_up

PLACEHOLDER = "B0ZZZZZZZZ"
"""Stands for the requested ASIN in a template (valid ASIN syntax, never generated)."""

CATALOG_INCLUDED = ["summaries", "images"]
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Template:
    """One simulated product's answers as JSON text with :data:`PLACEHOLDER` for its ASIN."""

    offers_item: str  # one getItemOffersBatch ``responses[i]`` element
    catalog_item: str  # one searchCatalogItems ``items[i]`` element
    expected: Expectation  # what a correct client concludes


@dataclass(frozen=True)
class Shares:
    """How listings start relative to Amazon (the realistic mix of work for one sync)."""

    overlap: float = 0.1  # share of ASINs listed in a second shop
    price_moved: float = 0.10  # in-stock listings whose BASE price is off by ¥150-¥2,000
    hidden: float = 0.05  # in-stock listings that start hidden (a publish to do)
    out_of_stock: float = 0.05  # Amazon sold out (NoBuyableOffers)
    filtered: float = 0.03  # offers exist but none ships within 72 h


def build_templates(count: int = 256, seed: int = 7, shares: Shares = Shares()) -> list[Template]:
    """``count`` product templates from a generated scenario (the simulator's response shapes)."""
    scenario = Scenario.generate(
        count,
        n_shops=1,
        seed=seed,
        overlap=0.0,
        out_of_stock_share=shares.out_of_stock,
        filtered_share=shares.filtered,
    )
    now = datetime.now(UTC)
    templates = []
    for product in scenario.products.values():
        original = product.asin
        product.asin = PLACEHOLDER
        payload = sandbox_pricing.offers_result(product, "New", now)
        item = {
            "status": {"statusCode": 200, "reasonPhrase": "OK"},
            "body": {"payload": payload},
            "headers": {"x-amzn-RequestId": "00000000-0000-0000-0000-000000000000"},
            "request": {
                "MarketplaceId": payload["marketplaceId"],
                "Asin": PLACEHOLDER,
                "ItemCondition": "New",
            },
        }
        catalog = sandbox_catalog.catalog_item(product, CATALOG_INCLUDED)
        product.asin = original
        templates.append(
            Template(
                offers_item=json.dumps(item, ensure_ascii=False),
                catalog_item=json.dumps(catalog, ensure_ascii=False),
                expected=product.expected(),
            )
        )
    return templates


def unit_hash(text: str, salt: str = "") -> float:
    """A stable pseudo-random number in [0, 1) for ``text`` (same on every run and process)."""
    return zlib.crc32(f"{salt}|{text}".encode()) / 2**32


def template_for(asin: str, templates: list[Template]) -> Template:
    return templates[zlib.crc32(asin.encode()) % len(templates)]


def synthetic_asin(index: int, seed: int) -> str:
    """A unique, well-formed ASIN for ``index`` (``B0`` + 8 base-36 digits); distinct per seed."""
    value = index + seed * 36**6
    digits = []
    for _ in range(8):
        value, digit = divmod(value, 36)
        digits.append(_ALPHABET[digit])
    return "B0" + "".join(reversed(digits))


def synthetic_listings(
    n_listings: int,
    templates: list[Template],
    *,
    accounts: tuple[str, ...] = ("base_account_1", "base_account_2"),
    seed: int = 1,
    shares: Shares = Shares(),
    markup_percent: int = 130,
) -> list[ListingRow]:
    """About ``n_listings`` listings over ``accounts``, ``shares.overlap`` of ASINs in two shops.

    Each listing starts as BASE would show it before the sync: in-stock items at Amazon × markup
    unless their price moved (``shares.price_moved``) or they start hidden; sold-out and
    filtered items visible (nine in ten), so the sync has hides to do.
    """
    n_asins = max(1, round(n_listings / (1 + shares.overlap)))
    rows: list[ListingRow] = []
    for index in range(n_asins):
        asin = synthetic_asin(index, seed)
        first = index % len(accounts)
        shops = [accounts[first]]
        if len(accounts) > 1 and unit_hash(asin, "overlap") < shares.overlap:
            shops.append(accounts[(first + 1) % len(accounts)])
        expected = template_for(asin, templates).expected
        for position, account in enumerate(shops):
            price, visible = _starting_item(asin, account, expected, shares, markup_percent)
            item_id = 10_000_000 + index * len(accounts) + (first + position) % len(accounts)
            rows.append(ListingRow(account, asin, item_id, price, visible))
    return rows


def _starting_item(
    asin: str, account: str, expected: Expectation, shares: Shares, markup_percent: int
) -> tuple[int, bool]:
    amazon = expected.price_yen or 1000 + int(unit_hash(asin, "price") * 20_000)
    price = round_half_up(amazon, markup_percent, 100)
    roll = unit_hash(asin, account)
    if expected.outcome is Outcome.IN_STOCK:
        if roll < shares.price_moved:
            step = 15 + int(unit_hash(asin, "step") * 186)  # ¥150 .. ¥2,000
            price = max(300, price + (step * 10 if roll < shares.price_moved / 2 else -step * 10))
        hidden = unit_hash(asin, "hidden|" + account) < shares.hidden
        return price, not hidden
    return price, roll >= 0.1


class _Rate:
    """What the tasks read from a pacer (its rate, for a log line)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate


class _InstantAuth:
    """An access token (LWA or BASE) that is always valid: no token endpoint to call."""

    def access_token(self) -> str:
        return "instant"


class InstantSpApi:
    """Quacks like :class:`~ecauto_lib.amazon.client.SpApiClient` for the sync's fetch tasks."""

    def __init__(self, templates: list[Template]) -> None:
        self._templates = templates
        self._lock = threading.Lock()
        self.stats: dict[str, dict[str, float]] = {
            name: {"calls": 0, "throttled": 0, "waited_seconds": 0.0}
            for name in (op.name for op in OPERATIONS)
        }
        self.auth = _InstantAuth()  # the run's LWA check before any fetch (flows/sync.py)

    def pacer(self, op_name: str) -> _Rate:
        return _Rate(float("inf"))

    def _count(self, op_name: str) -> None:
        with self._lock:
            self.stats[op_name]["calls"] += 1

    def item_offers_batch(self, asins: list[str], item_condition: str = "New") -> dict[str, dict]:
        """The batch answer, decoded from JSON text and keyed by ASIN like the real client's."""
        self._count("getItemOffersBatch")
        text = ",".join(template_for(a, self._templates).offers_item.replace(PLACEHOLDER, a) for a in asins)
        responses = json.loads('{"responses":[' + text + "]}")["responses"]
        return responses_by_asin(list(asins), responses)

    def item_offers(self, asin: str, item_condition: str = "New") -> dict:
        """getItemOffers in the real client's return shape (one batch element)."""
        self._count("getItemOffers")
        return json.loads(template_for(asin, self._templates).offers_item.replace(PLACEHOLDER, asin))

    def search_catalog_items(self, asins: list[str]) -> list[dict]:
        self._count("searchCatalogItems")
        text = ",".join(template_for(a, self._templates).catalog_item.replace(PLACEHOLDER, a) for a in asins)
        return json.loads('{"items":[' + text + "]}")["items"]

    def __repr__(self) -> str:
        return "InstantSpApi()"


class InstantBase:
    """Quacks like :class:`~ecauto_lib.base.client.BaseClient` for pushing: every edit succeeds."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self._lock = threading.Lock()
        self.calls = 0
        self.auth = _InstantAuth()  # the run's token check (tasks.base.check_base_token)

    def edit_item(
        self, item_id: int, *, price: int | None = None, visible: bool | None = None, **fields: Any
    ) -> dict:
        with self._lock:
            self.calls += 1
        item: dict[str, Any] = {"item_id": item_id}
        if price is not None:
            item["price"] = price
        if visible is not None:
            item["visible"] = int(visible)
        return item

    def item_detail(self, item_id: int) -> dict | None:
        with self._lock:
            self.calls += 1
        return {"item_id": item_id}

    def __repr__(self) -> str:
        return f"InstantBase({self.account_id!r})"
