"""Flow-test helpers: a simulated marketplace wired into the settings, and DB snapshots."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ecauto_lib.config import environment
from ecauto_sandbox import Faults, Sandbox, Scenario
from ecauto_sandbox.quotas import client_rates
from flows.demo import demo_environment


@contextmanager
def marketplace(
    tmp_path: Path,
    database_url: str,
    scenario: Scenario | None = None,
    *,
    speed: float = 100.0,
    faults: Faults | None = None,
    extra_env: dict[str, str] | None = None,
    **sandbox_options: Any,
) -> Iterator[Sandbox]:
    """A running simulator with every setting pointed at it (restored afterwards)."""
    with Sandbox(scenario or Scenario.demo(), speed=speed, faults=faults, **sandbox_options) as sb:
        env = {
            **demo_environment(sb, tmp_path),
            "DATABASE_URL": database_url,
            "ECAUTO_RETRY_BASE_DELAY_SECONDS": "0.05",
            # At simulator speed the quota's slack is milliseconds, which a loaded 2-core CI machine
            # can eat (the server shares the process): pace tests well inside the quota.
            # Utilisation is measured in benchmarks/, not here.
            "ECAUTO_SP_API_SAFETY_MARGIN": "0.3",
            # The seller's usage plans at the simulator's speed (as a seller with known plans
            # configures them); without it a fresh DB's second call waits at the 0.1/s default.
            "ECAUTO_SP_API_RATES": client_rates(sb.speed),
            **(extra_env or {}),
        }
        with environment(env):
            yield sb


NO_GUARDS = {  # the safety guards are tested on their own; these tests move many prices at once
    "ECAUTO_MAX_PRICE_MOVE_PCT": "1000",
    "ECAUTO_BREAKER_HIDE_PCT": "100",
    "ECAUTO_BREAKER_CUT_PCT": "100",
}


def base_state(sb: Sandbox) -> dict[tuple[str, int], tuple[int, bool]]:
    """Every BASE item as the simulator holds it: (shop, item id) → (price, visible)."""
    return {(s.id, i["item_id"]): (i["price"], bool(i["visible"])) for s in sb.shops for i in sb.items(s.id)}


def db_state(database_url: str, *, listed_only: bool = True) -> dict[tuple[str, int], tuple[int, bool]]:
    """The listings as the master DB holds them, in :func:`base_state`'s shape."""
    query = "select account_id, base_item_id, base_price, base_visible from listings"
    if listed_only:
        query += " where status = 'listed'"
    return {
        (acc, int(item)): (price, bool(visible)) for acc, item, price, visible in rows(database_url, query)
    }


def set_account_options(options: Mapping[str, Mapping[str, Any]]) -> None:
    """Add per-shop keys (``markup``, ``max_price_move_pct``...) to the accounts file in use."""
    path = Path(os.environ["ECAUTO_ACCOUNTS_FILE"])
    document = json.loads(path.read_text(encoding="utf-8"))
    for entry in document["accounts"]:
        entry.update(options.get(entry["id"], {}))
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def item_id_of(sb: Sandbox, shop_id: str, asin: str) -> int:
    """The BASE item id under which ``shop_id`` lists ``asin``."""
    for item in sb.items(shop_id):
        if asin in (item.get("identifier") or ""):
            return item["item_id"]
    raise AssertionError(f"{asin} not listed in {shop_id}")


def public_below_floor(
    sb: Sandbox, database_url: str, margin_pct: str = "5", margin_yen: int = 0
) -> list[tuple[str, int, int, Decimal]]:
    """The floor rule's oracle (issue #10): every BASE item that is public at a price below
    Amazon × (1 + margin) + yen, for the freshest Amazon price the master DB has (in stock only;
    Decimal arithmetic, independent of the product's integer code). Returns (shop, item, price, floor)."""
    amazon = {
        asin: price
        for asin, price, state in rows(
            database_url, "select asin, amazon_price_yen, stock_state from products"
        )
        if state == "in_stock" and price is not None
    }
    listed = {
        (acc, int(item)): asin
        for acc, item, asin in rows(
            database_url, "select account_id, base_item_id, asin from listings where status = 'listed'"
        )
    }
    below = []
    for (shop, item_id), (price, visible) in base_state(sb).items():
        yen = amazon.get(listed.get((shop, item_id), ""))
        if visible and yen is not None:
            floor = Decimal(yen) * (1 + Decimal(margin_pct) / 100) + margin_yen
            if price < floor:
                below.append((shop, item_id, price, floor))
    return below


def edits_per_change(sb: Sandbox) -> Counter:
    """How many times each (item, field, value) was sent to BASE successfully."""
    sent: Counter = Counter()
    for r in calls(sb, "itemsEdit"):
        if r.status == 200:
            for name, value in r.body.items():
                if name != "item_id":
                    sent[(r.body["item_id"], name, value)] += 1
    return sent


def snapshot(database_url: str) -> dict[str, list[tuple]]:
    """Every row of every table (ordered), to prove a run changed nothing."""
    engine = sa.create_engine(database_url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted(tuple(map(repr, row)) for row in conn.execute(sa.select(table)))
                for name, table in meta.tables.items()
            }
    finally:
        engine.dispose()


def rows(database_url: str, sql: str, **params: Any) -> list[tuple]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def last_run(database_url: str) -> tuple[str, int, dict[str, Any]]:
    """``(status, exit_code, counts)`` of the newest run record."""
    status, exit_code, counts = rows(
        database_url, "select status, exit_code, counts from runs order by id desc"
    )[0]
    return status, exit_code, counts if isinstance(counts, dict) else json.loads(counts)


def calls(sb: Sandbox, operation: str, since: int = 0) -> list:
    return [r for r in sb.requests[since:] if r.operation == operation]
