"""How a sync run ended: its exit code, its run-record status, and why it needs attention.

One home for the rule the CLI, the run record in the master DB and the report all follow:

* **2** (``failed``): the run stopped: LWA or SP-API refused the seller's credentials;
* **1** (``finished_with_failures``): it finished, but something needs the seller: items that
  failed (a fetch or a BASE edit), edits not sent (deferred), changes held for review, a shop
  whose token or app BASE refused;
* **0** (``succeeded``): every item succeeded.

The reasons are values (:class:`AttentionReason`), one per kind and shop, so what is told about a
run (its final state in the Prefect UI, an alert event) says *why* in the same words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

EXIT_SUCCEEDED, EXIT_NEEDS_ATTENTION, EXIT_STOPPED = 0, 1, 2


class RunStatus(StrEnum):
    """The run record's status once finished (``db.models.RUN_STATUSES`` has ``running`` too)."""

    SUCCEEDED = "succeeded"
    FINISHED_WITH_FAILURES = "finished_with_failures"
    FAILED = "failed"


class Attention(StrEnum):
    """Why a run needs the seller's attention."""

    CREDENTIALS_REFUSED = "credentials_refused"  # LWA / SP-API refused the seller: the run stopped
    FETCH_FAILED = "fetch_failed"  # ASINs with no usable SP-API answer (their stock stays unknown)
    PUSH_FAILED = "push_failed"  # BASE edits that failed
    DEFERRED = (
        "deferred"  # edits not sent (BASE's hourly/daily limit, an outage, a lost lock, a refused token)
    )
    HELD = "held"  # changes held for review (`--confirm` releases them)
    BREAKER_TRIPPED = "breaker_tripped"  # a shop's circuit breaker held its hides or cuts (part of HELD)
    NEEDS_REAUTHORISATION = "needs_reauthorisation"  # the shop's token is dead: connect_shop
    APP_REFUSED = "app_refused"  # BASE refused the shop's client_id / client_secret (the accounts file)
    NO_LISTINGS = "no_listings"  # the selected shops have no listings in the master DB: import them


NO_LISTINGS_TEXT = "0 listings: run flows/import_listings.py first"


@dataclass(frozen=True)
class AttentionReason:
    """One thing a run needs the seller to know: what, how many, which shop (None: the whole run),
    and a detail (what stopped a shop's push, the breaker's kind, the setting refused, ...)."""

    kind: Attention
    count: int
    account_id: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class RunOutcome:
    """A run's exit code, its run-record status and the reasons behind them (none when it succeeded)."""

    exit_code: int = EXIT_SUCCEEDED
    status: RunStatus = RunStatus.SUCCEEDED
    reasons: tuple[AttentionReason, ...] = ()

    @property
    def needs_attention(self) -> bool:
        return self.exit_code != EXIT_SUCCEEDED

    def of_kind(self, kind: Attention) -> list[AttentionReason]:
        return [r for r in self.reasons if r.kind is kind]


class ShopFacts(Protocol):
    """What the outcome reads of one shop's push (``ecauto_lib.report.AccountSummary`` has it)."""

    account_id: str
    errors: int
    deferred: int
    held: int
    stopped_by: str | None


@dataclass(frozen=True)
class ShopRefusal:
    """A shop BASE refused this run: ``reauthorise`` True when connect_shop fixes it."""

    account_id: str
    reauthorise: bool
    message: str = ""


def run_outcome(
    *,
    stopped: str | None,
    fetch_failures: int,
    shops: Sequence[ShopFacts],
    breaker_holds: Iterable[tuple[str, str]] = (),
    refused: Sequence[ShopRefusal] = (),
    listings: int | None = None,
) -> RunOutcome:
    """The outcome of a run from its facts.

    ``stopped``: why the run stopped (naming the setting), None if it ran to the end;
    ``fetch_failures``: ASINs without a usable answer; ``shops``: each shop's push counts;
    ``breaker_holds``: ``(account_id, kind)`` of each change a circuit breaker held (kind
    ``hide`` / ``cut``); ``refused``: the shops BASE refused, and those whose token needs
    re-authorising; ``listings``: how many the run loaded (0: nothing to sync, import first).
    """
    reasons: list[AttentionReason] = []
    if listings == 0 and stopped is None:
        reasons.append(AttentionReason(Attention.NO_LISTINGS, 0, detail=NO_LISTINGS_TEXT))
    if stopped is not None:
        reasons.append(AttentionReason(Attention.CREDENTIALS_REFUSED, 1, detail=stopped))
    if fetch_failures:
        reasons.append(AttentionReason(Attention.FETCH_FAILED, fetch_failures))
    trips: dict[tuple[str, str], int] = {}
    for account_id, kind in breaker_holds:
        trips[(account_id, kind)] = trips.get((account_id, kind), 0) + 1
    for shop in shops:
        if shop.errors:
            reasons.append(AttentionReason(Attention.PUSH_FAILED, shop.errors, shop.account_id))
        if shop.deferred:
            detail = shop.stopped_by or ""
            reasons.append(AttentionReason(Attention.DEFERRED, shop.deferred, shop.account_id, detail))
        if shop.held:
            reasons.append(AttentionReason(Attention.HELD, shop.held, shop.account_id))
        reasons += [
            AttentionReason(Attention.BREAKER_TRIPPED, count, account_id, kind)
            for (account_id, kind), count in trips.items()
            if account_id == shop.account_id
        ]
    for refusal in refused:
        kind = Attention.NEEDS_REAUTHORISATION if refusal.reauthorise else Attention.APP_REFUSED
        reasons.append(AttentionReason(kind, 1, refusal.account_id, refusal.message))
    if stopped is not None:
        return RunOutcome(EXIT_STOPPED, RunStatus.FAILED, tuple(reasons))
    if reasons:
        return RunOutcome(EXIT_NEEDS_ATTENTION, RunStatus.FINISHED_WITH_FAILURES, tuple(reasons))
    return RunOutcome()
