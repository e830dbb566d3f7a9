"""The run report as values: what one sync run did, per step and per shop.

Built by :mod:`ecauto_lib.report.build` (``summarise``), rendered by :mod:`ecauto_lib.report.render`,
stored by the flow as the run record's counts and as Prefect artifacts. Nothing here ever holds a
secret: only counts, ASINs, item ids, prices, reasons and error codes.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from ecauto_lib.domain import HeldChange, HeldKey, StockSkip
from ecauto_lib.fetching import FetchResult
from ecauto_lib.outcome import NO_LISTINGS_TEXT, RunOutcome
from ecauto_lib.pricing import FlaggedPrice, FloorAction
from ecauto_lib.report.words import CLI_RELEASE_HINT
from ecauto_lib.settings_table import default
from ecauto_lib.token_health import LwaSecretHealth, ShopBlock, ShopTokenHealth


@dataclass
class FetchSummary:
    """Step 1: TTL diff and SP-API fetches."""

    listings: int = 0  # listings loaded (all accounts)
    asins: int = 0  # unique ASINs among them
    fresh: int = 0  # nothing to fetch (キャッシュOK)
    stale: int = 0  # offers needed, and fetched this run
    left_for_later: int = 0  # stale, but beyond --limit: a later run fetches them (次回以降)
    info_stale: int = 0  # catalog info needed
    batches: int = 0
    cached_batches: int = 0  # answered from Prefect's task cache (a rerun after a crash)
    rechecks: int = 0  # new sell-outs re-checked before anything is hidden
    in_stock: int = 0
    out_of_stock: int = 0
    filtered_out: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # reason → ASIN count
    catalog_fetched: int = 0
    catalog_failed: int = 0
    throttled: int = 0  # 429s received (each retried)
    seconds: float = 0.0
    ended_after_seconds: float | None = None  # from the run's start to the fetch's end (None: no fetch)

    @property
    def fetched(self) -> int:
        return self.in_stock + self.out_of_stock + self.filtered_out

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def count_stale(self, listings: pd.DataFrame, stale: pd.DataFrame, limit: int | None) -> pd.DataFrame:
        """Count the TTL diff (``stale``: one row per stale ASIN, most urgent first) and return the
        rows this run fetches: at most ``limit``; the rest are left for later, not fresh."""
        fetched = stale if limit is None else stale.head(limit)
        self.listings, self.asins = len(listings), int(listings["asin"].nunique())
        self.stale = int(fetched["needs_offers"].sum())
        self.info_stale = int(fetched["needs_info"].sum())
        self.left_for_later = len(stale) - len(fetched)
        self.fresh = self.asins - len(stale)
        return fetched

    def add_fetch(self, fetched: FetchResult) -> None:
        """Count what a fetch gave (ecauto_lib.fetching)."""
        self.batches += fetched.batches
        self.cached_batches += fetched.cached_batches
        self.rechecks += fetched.rechecks
        self.catalog_failed += fetched.catalog_failed
        self.catalog_fetched += len(fetched.infos)
        observations = fetched.observations
        self.add_outcomes([str(o.outcome) for o in observations], [o.reason for o in observations])

    def add_outcomes(self, outcomes: list[str], reasons: list[str | None]) -> None:
        counts = Counter(outcomes)
        self.in_stock += counts.get("in_stock", 0)
        self.out_of_stock += counts.get("out_of_stock", 0)
        self.filtered_out += counts.get("filtered_out", 0)
        for outcome, reason in zip(outcomes, reasons, strict=True):
            if outcome == "error":
                key = reason_key(reason)
                self.errors[key] = self.errors.get(key, 0) + 1


def reason_key(reason: str | None) -> str:
    """Group error reasons by their kind (``HTTP 500 InternalFailure: ...`` → ``HTTP 500 InternalFailure``)."""
    if not reason:
        return "unknown error"
    return reason.split(":", 1)[0].strip()[:80]


@dataclass
class AccountSummary:
    """Steps 2-3 for one shop: what was planned and what BASE confirmed."""

    account_id: str
    name: str
    listings: int = 0
    in_stock: int = 0
    out_of_stock: int = 0
    unknown_stock: int = 0
    price_changes: int = 0  # planned
    hides: int = 0  # planned
    publishes: int = 0  # planned
    restocks: int = 0  # planned stock top-ups (items and variations)
    flagged: int = 0  # prices refused (out of bounds, below the minimum margin)
    held: int = 0  # changes held for review (big move, circuit breaker)
    released: int = 0  # held changes released by --confirm
    below_floor: int = 0  # items hidden, or kept hidden, because their price is below the floor
    prices_changed: int = 0  # confirmed by BASE
    hidden: int = 0
    published: int = 0
    restocked: int = 0  # stock top-ups BASE confirmed
    stock_skipped: int = 0  # variations at stock 0 that could not be topped up
    deferred: int = 0  # items held back by the hourly or daily budget
    delisted: int = 0  # items gone from BASE
    errors: int = 0  # items that failed
    calls: int = 0  # BASE API calls
    stopped_by: str | None = None
    seconds: float = 0.0
    breaker_not_armed: str | None = None  # why this shop's circuit breaker cannot trip (small shop)


@dataclass(frozen=True)
class ChangeRow:
    """One change of the run (planned, or pushed) and what became of it: a row of ``sync-changes``.

    The field order is the artifact's column order.
    """

    asin: str
    account_id: str
    base_item_id: int
    variation_id: int | None  # a variation's stock top-up
    field: str
    old_value: int | None
    new_value: int
    reason: str
    result: str  # pushed / failed: CODE / deferred / not sent: ... / delisted / planned (dry run)


@dataclass(frozen=True)
class Failure:
    """An item that failed this run: a fetch (its stock stays unknown) or a BASE edit."""

    asin: str
    account_id: str  # "-" for a fetch: the ASIN's, not one shop's
    error: str  # "fetch", or BASE's error code (else the error's type)
    message: str
    base_item_id: int | None = None
    variation_id: int | None = None


@dataclass
class RunReport:
    """Everything one run did."""

    mode: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None = None
    # a deployment run's scheduled start (None: a run from the command line); a late run's time
    # budget counts from it (ecauto_lib.fetching.budget_start)
    scheduled_at: datetime | None = None
    run_id: int | None = None
    fetch: FetchSummary = field(default_factory=FetchSummary)
    accounts: list[AccountSummary] = field(default_factory=list)
    changes: list[ChangeRow] = field(default_factory=list)  # every change planned/pushed
    flagged: list[FlaggedPrice] = field(default_factory=list)
    held: list[HeldChange] = field(default_factory=list)
    # the holds stored before this run (None: not read): a hold made again is not news
    already_held: frozenset[HeldKey] | None = None
    below_floor: list[FloorAction] = field(default_factory=list)
    stock_skipped: list[StockSkip] = field(default_factory=list)  # variations not topped up
    failures: list[Failure] = field(default_factory=list)
    outcome: RunOutcome = field(default_factory=RunOutcome)  # exit code, status, why (ecauto_lib.outcome)
    confirmed: bool = False  # --confirm: held changes released
    tokens: list[ShopTokenHealth] = field(default_factory=list)  # each shop's BASE token health
    blocked: list[ShopBlock] = field(default_factory=list)  # shops whose pushes stopped: BASE refused
    lwa_secret: LwaSecretHealth | None = None
    error: str | None = None  # the run stopped (exit 2): why, naming the setting
    titles: dict[str, str] = field(default_factory=dict)  # ASIN → product title (the master DB's)
    # how the seller releases held changes: the CLI flag, or in a deployment run its parameter
    release_hint: str = CLI_RELEASE_HINT
    max_delivery_hours: int = default("ECAUTO_MAX_DELIVERY_HOURS")  # for "filtered out" in words

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    def newly_held(self, account_id: str) -> int | None:
        """How many of the shop's holds this run made that were not stored before (None: unknown)."""
        if self.already_held is None:
            return None
        return sum(1 for h in self.held if h.account_id == account_id and h.key not in self.already_held)

    def needs_reauthorisation(self) -> list[str]:
        """Shops that need ``flows/connect_shop.py`` before BASE accepts them (again)."""
        ids = {b.account_id for b in self.blocked if b.reauthorise}
        ids |= {h.account_id for h in self.tokens if h.needs_authorisation}
        return sorted(ids)

    def notices(self) -> list[str]:
        """What the seller must act on, one sentence each (blocked shops, tokens, LWA secret)."""
        blocked = {b.account_id for b in self.blocked}
        notes = [f"出品が0件です / {NO_LISTINGS_TEXT}"] if self.fetch.listings == 0 and not self.error else []
        notes += [b.message for b in self.blocked]
        notes += [m for h in self.tokens if h.account_id not in blocked and (m := h.message())]
        if self.lwa_secret is not None and (m := self.lwa_secret.message()):
            notes.append(m)
        return notes

    @property
    def seconds(self) -> float:
        end = self.finished_at or self.started_at
        return (end - self.started_at).total_seconds()

    @property
    def item_failures(self) -> int:
        return self.fetch.failed + sum(a.errors for a in self.accounts)

    def counts(self) -> dict[str, Any]:
        """Flat counts for the run record in the master DB."""
        return {
            "fetch": {**asdict(self.fetch), "fetched": self.fetch.fetched, "failed": self.fetch.failed},
            "accounts": {a.account_id: asdict(a) for a in self.accounts},
            "changes": len(self.changes),
            "flagged": len(self.flagged),
            "held": len(self.held),
            "released": sum(a.released for a in self.accounts),
            "below_floor": len(self.below_floor),
            "restocked": sum(a.restocked for a in self.accounts),
            "stock_skipped": len(self.stock_skipped),
            "item_failures": self.item_failures,
            "needs_reauthorisation": self.needs_reauthorisation(),
            "blocked_shops": {b.account_id: b.message for b in self.blocked},
            "token_health": {
                h.account_id: {"state": str(h.state), "days_left": h.days_left} for h in self.tokens
            },
            "error": self.error,
            "attention": [asdict(reason) for reason in self.outcome.reasons],
        }
