"""Pushing planned changes to one BASE shop, within its hourly call budget.

One ``items/edit`` per item carries only the fields that change. Each edit is handed to
``on_sending`` before it goes out (the caller journals it) and what BASE confirms to ``on_pushed``
at once (the caller writes it to the master DB in the same transaction as the journal), so a
crash mid-push loses nothing that BASE already has; :func:`settle_unconfirmed` finishes the job. An item BASE no longer knows (``bad_item_id``) is checked with item detail
and reported as gone; ``hour_api_limit`` / ``day_api_limit`` stop the shop's push and the rest is
reported as deferred (it goes first once BASE takes calls again: the next run for the hourly limit,
the first run after the daily reset for the daily one, see :mod:`ecauto_lib.base.budget`). So does
a refused token (the shop must be re-authorised with ``connect_shop``: no edit can succeed, none is
tried). Other errors fail that item only: its listing keeps
the old values, so the next run plans the same change again.

A BASE outage (5xx answers, timeouts) stops the shop's push after a short run of them
(``outage_after`` in a row, ``ECAUTO_BASE_OUTAGE_ERRORS``): every edit sent into an outage is one
more journal entry the next run must settle, so sending the whole plan into it would cost the
next hour's budget too. The rest is deferred. Settling reads ``/1/items`` pages (100 items a
call, most recently modified first) instead of one ``items/detail`` per entry when that is
cheaper, and counts its calls against the same hourly budget as the push.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ecauto_lib.base.errors import BadItemIdError, BudgetExhaustedError, DayLimitError
from ecauto_lib.config import SyncPolicy
from ecauto_lib.domain import (
    DelistedItem,
    FailedItem,
    FieldChange,
    ItemStock,
    ItemUpdate,
    PushedChange,
    StockTopUp,
)
from ecauto_lib.errors import AuthError, EcAutoError, TransientError
from ecauto_lib.stock import item_stock

PAGE_SIZE = 100  # /1/items' largest page (base-api.md §3)


class ItemEditor(Protocol):
    """What pushing needs from a BASE client (``ecauto_lib.base.BaseClient`` provides it)."""

    calls: int

    def edit_item(
        self, item_id: int, *, price: int | None = None, visible: bool | None = None, **fields: Any
    ) -> dict: ...

    def item_detail(self, item_id: int) -> dict | None: ...

    def edit_stock(
        self,
        item_id: int,
        *,
        stock: int | None = None,
        variation_id: int | None = None,
        variation_stock: int | None = None,
    ) -> dict: ...


class ItemReader(Protocol):
    """What settling the journal needs from a BASE client: item detail and pages of items."""

    calls: int

    def item_detail(self, item_id: int) -> dict | None: ...

    def list_items(
        self, *, limit: int = 100, offset: int = 0, order: str = "list_order", sort: str = "asc"
    ) -> list[dict]: ...


@dataclass
class PushResult:
    """What happened to one shop's planned updates."""

    account_id: str
    pushed: list[PushedChange] = field(default_factory=list)
    failed: list[FailedItem] = field(default_factory=list)
    deferred: list[ItemUpdate] = field(default_factory=list)  # the planned updates not sent
    delisted: list[DelistedItem] = field(default_factory=list)
    calls: int = 0
    # "hour_api_limit" | "day_api_limit" | "budget" | "base_outage" | "lock_lost" | NEEDS_AUTHORISATION
    # when the push stopped early
    stopped_by: str | None = None
    stop_reason: str | None = None  # what the seller is told (NEEDS_AUTHORISATION: the connect_shop command)
    seconds: float = 0.0
    seen_stock: dict[int, ItemStock] = field(default_factory=dict)  # BASE's stock in each edit's answer
    deferred_stock: list[StockTopUp] = field(default_factory=list)  # variation top-ups not sent

    @property
    def items_pushed(self) -> int:
        return len({c.base_item_id for c in self.pushed})

    def count(self, field_name: str, new_value: int | None = None) -> int:
        return sum(
            1
            for c in self.pushed
            if c.field == field_name and (new_value is None or c.new_value == new_value)
        )


NEEDS_AUTHORISATION = "needs_authorisation"
# Stops that hold for the rest of a run (its later rounds send the shop nothing): the lock lost,
# the run's BASE budget spent, the token refused. An outage or BASE's hourly limit is tried again.
STICKY_STOPS = frozenset({"lock_lost", "budget", NEEDS_AUTHORISATION})


def push_updates(
    account_id: str,
    updates: Sequence[ItemUpdate],
    client: ItemEditor,
    *,
    call_budget: int,
    on_pushed: Callable[[Any, list[PushedChange]], None],
    on_delisted: Callable[[int, str], None],
    on_sending: Callable[[ItemUpdate], Any] = lambda update: None,
    on_failed: Callable[[Any], None] = lambda token: None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    outage_after: int = SyncPolicy.base_outage_errors,
    unsettled: Collection[int] = (),
    still_held: Callable[[], bool] = lambda: True,
) -> PushResult:
    """Send ``updates`` (from :func:`ecauto_lib.pricing.item_updates`) to one shop, in order.

    Stops after ``outage_after`` transient failures in a row (the rest is deferred). Updates of
    items in ``unsettled`` (an earlier edit BASE could not be asked about) are deferred unsent:
    that edit may have landed, and sending again would send it twice. ``still_held`` is asked
    before every edit: once the shop's lock was taken over by another run, nothing more is sent
    (``stopped_by`` ``lock_lost``; the new holder owns the rest).
    """
    started = time.monotonic()
    result = PushResult(account_id=account_id)
    result.deferred = [u for u in updates if u.base_item_id in unsettled]
    updates = [u for u in updates if u.base_item_id not in unsettled]
    calls_at_start = client.calls
    in_a_row = 0  # transient failures since the last answer
    for index, update in enumerate(updates):
        if in_a_row >= outage_after:
            result.stopped_by = "base_outage"
            result.deferred.extend(updates[index:])
            break
        if client.calls - calls_at_start >= call_budget:
            result.stopped_by = "budget"
            result.deferred.extend(updates[index:])
            break
        fields = update.fields
        token = on_sending(update)
        if not still_held():  # asked last thing before sending: the window is one journal write
            on_failed(token)  # not sent
            result.stopped_by = "lock_lost"
            result.deferred.extend(updates[index:])
            break
        try:
            answer = client.edit_item(
                update.base_item_id,
                price=fields.get("price"),
                visible=None if "visible" not in fields else bool(fields["visible"]),
                **({"stock": fields["stock"]} if "stock" in fields else {}),
            )
        except BudgetExhaustedError as exc:
            on_failed(token)  # refused before doing anything: nothing changed in BASE
            result.stopped_by = "day_api_limit" if isinstance(exc, DayLimitError) else "hour_api_limit"
            result.deferred.extend(updates[index:])
            break
        except BadItemIdError as exc:
            on_failed(token)
            _handle_missing_item(update, client, exc, result, on_delisted)
            continue
        except AuthError as exc:  # BASE refused the shop's token (after the client's one refresh)
            on_failed(token)
            result.stopped_by, result.stop_reason = NEEDS_AUTHORISATION, str(exc)
            result.deferred.extend(updates[index:])
            break
        except EcAutoError as exc:
            # A refused edit (4xx) changed nothing; after a timeout/5xx BASE may or may not have
            # applied it, so the journal entry stays "sent" and the next run settles it.
            if isinstance(exc, TransientError):
                in_a_row += 1
            else:
                in_a_row = 0
                on_failed(token)
            result.failed.append(_failure(update, exc))
            continue
        in_a_row = 0
        confirmed = update.changes(clock())
        on_pushed(token, confirmed)
        result.pushed.extend(confirmed)
        result.seen_stock[update.base_item_id] = item_stock(answer)
    result.calls = client.calls - calls_at_start
    result.seconds = time.monotonic() - started
    return result


def push_variation_stock(
    account_id: str,
    topups: Sequence[StockTopUp],
    client: ItemEditor,
    *,
    call_budget: int,
    on_pushed: Callable[[list[PushedChange]], None],
    result: PushResult | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PushResult:
    """Top up variations, one ``items/edit_stock`` each (``variation_id`` + ``variation_stock``).

    Not journalled: each call sets an absolute stock, so a call whose answer a crash lost is
    planned again from BASE's stock and, at worst, sends the same value once more (a sale in
    between would be topped up anyway). BASE's answer (the whole item) is kept in ``seen_stock``.
    The budget and the limits stop the rest as in :func:`push_updates` (``deferred_stock``).
    """
    result = result if result is not None else PushResult(account_id=account_id)
    calls_at_start = client.calls
    for index, topup in enumerate(topups):
        if client.calls - calls_at_start >= call_budget:
            result.stopped_by = result.stopped_by or "budget"
            result.deferred_stock.extend(topups[index:])
            break
        try:
            answer = client.edit_stock(
                topup.base_item_id, variation_id=topup.variation_id, variation_stock=topup.new_stock
            )
        except BudgetExhaustedError as exc:
            result.stopped_by = "day_api_limit" if isinstance(exc, DayLimitError) else "hour_api_limit"
            result.deferred_stock.extend(topups[index:])
            break
        except EcAutoError as exc:
            result.failed.append(
                failed_item(
                    account_id,
                    topup.asin,
                    topup.base_item_id,
                    {"stock": topup.new_stock},
                    exc,
                    variation_id=topup.variation_id,
                )
            )
            continue
        change = topup.pushed(clock())
        on_pushed([change])
        result.pushed.append(change)
        result.seen_stock[topup.base_item_id] = item_stock(answer)
    result.calls += client.calls - calls_at_start
    return result


def _handle_missing_item(
    update: ItemUpdate,
    client: ItemEditor,
    exc: Exception,
    result: PushResult,
    on_delisted: Callable[[int, str], None],
) -> None:
    """``bad_item_id``: confirm with item detail; a gone item is delisted, never retried."""
    try:
        detail = client.item_detail(update.base_item_id)
    except EcAutoError as detail_exc:
        result.failed.append(_failure(update, detail_exc))
        return
    if detail is None:
        reason = "deleted in BASE (bad_item_id, item detail: no_item)"
        on_delisted(update.base_item_id, reason)
        result.delisted.append(DelistedItem(update.account_id, update.asin, update.base_item_id, reason))
    else:
        # BASE refused the id for editing but still shows the item (e.g. an item type the API
        # cannot edit): report it, keep the listing.
        result.failed.append(_failure(update, exc))


def _failure(update: ItemUpdate, exc: BaseException) -> FailedItem:
    return failed_item(update.account_id, update.asin, update.base_item_id, update.fields, exc)


def failed_item(
    account_id: str,
    asin: str,
    base_item_id: int,
    fields: Mapping[str, int],
    exc: BaseException,
    *,
    variation_id: int | None = None,
) -> FailedItem:
    """The failure of one edit: BASE's error code (else the error's type) and its message."""
    code = getattr(exc, "code", None) or type(exc).__name__
    return FailedItem(account_id, asin, base_item_id, dict(fields), code, str(exc), variation_id)


def failed_push(
    account_id: str, updates: Sequence[ItemUpdate], exc: BaseException, message: str
) -> PushResult:
    """A shop's push that crashed as a whole: every update failed with ``exc`` (``message`` says it)."""
    failed = [
        FailedItem(u.account_id, u.asin, u.base_item_id, dict(u.fields), type(exc).__name__, message)
        for u in updates
    ]
    return PushResult(account_id=account_id, failed=failed)


@dataclass
class Settlement:
    """What became of edits a crashed (or cut-off) run left unconfirmed."""

    recovered: list[PushedChange] = field(default_factory=list)  # BASE had them: now recorded
    abandoned: int = 0  # BASE did not show them: the next plan decides afresh
    failed: int = 0  # BASE could not be asked: left for the next run
    unsettled: frozenset[int] = frozenset()  # the item ids of those left (their updates wait too)
    calls: int = 0  # BASE calls spent settling (part of the shop's hourly budget)


def settle_unconfirmed(
    entries: Sequence[Any],
    client: ItemReader,
    *,
    on_recovered: Callable[[Any, list[PushedChange]], None],
    on_abandoned: Callable[[Any], None],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    outage_after: int = SyncPolicy.base_outage_errors,
) -> Settlement:
    """For each unconfirmed journal entry, ask BASE whether the edit landed; never re-send it.

    Pages of ``/1/items`` (most recently modified first: edits that landed are near the top) are
    read while the entries still open outnumber the pages read plus one, so a page costs less than
    the details it replaces; the rest, and any entry whose item no page showed (a short page ends
    the shop; an item can also slip between pages while the shop changes), are asked with
    ``items/detail``. A failed page read is tried again; ``outage_after`` transient failures in a
    row stop settling and leave the rest for the next run.
    """
    calls_at_start = client.calls
    settlement = Settlement()
    open_entries: dict[int, list[Any]] = {}
    for entry in entries:
        open_entries.setdefault(entry.base_item_id, []).append(entry)
    errors = _ErrorRun(outage_after)

    def settle_item(item_id: int, item: dict | None) -> None:
        for entry in open_entries.pop(item_id, []):
            if item is not None and all(
                _as_int(item.get(name)) == value for name, value in entry.fields.items()
            ):
                changes = entry.changes(clock(), reason_prefix="recovered after a crash: ")
                on_recovered(entry, changes)
                settlement.recovered.extend(changes)
            else:
                on_abandoned(entry)
                settlement.abandoned += 1

    offset, pages = 0, 0
    while _open_count(open_entries) > pages + 1 and not errors.stopped:
        try:
            page = client.list_items(limit=PAGE_SIZE, offset=offset, order="modified", sort="desc")
        except EcAutoError as exc:
            if errors.count(exc):
                continue  # a transient failure: read the same page again
            break  # refused: ask the rest one by one
        errors.reset()
        pages += 1
        for item in page:
            if isinstance(item.get("item_id"), int) and item["item_id"] in open_entries:
                settle_item(item["item_id"], item)
        if len(page) < PAGE_SIZE:
            break
        offset += len(page)
    left: list[int] = []
    for item_id in list(open_entries):
        if errors.stopped:
            left.append(item_id)
            continue
        try:
            detail = client.item_detail(item_id)
        except EcAutoError as exc:
            errors.count(exc)
            left.append(item_id)
            continue
        errors.reset()
        settle_item(item_id, detail)
    settlement.failed = sum(len(open_entries[i]) for i in left)
    settlement.unsettled = frozenset(left)
    settlement.calls = client.calls - calls_at_start
    return settlement


def _open_count(open_entries: dict[int, list[Any]]) -> int:
    return sum(len(v) for v in open_entries.values())


class _ErrorRun:
    """Transient failures in a row; ``stopped`` once there were ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.limit, self.in_a_row = limit, 0

    @property
    def stopped(self) -> bool:
        return self.in_a_row >= self.limit

    def count(self, exc: Exception) -> bool:
        """Count ``exc`` if it is transient; True when it was."""
        if isinstance(exc, TransientError):
            self.in_a_row += 1
            return True
        self.in_a_row = 0
        return False

    def reset(self) -> None:
        self.in_a_row = 0


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def merge_push_results(rounds: Sequence[Mapping[str, PushResult]]) -> dict[str, PushResult]:
    """Per shop, what a run's rounds pushed, as one result for its report: everything pushed and
    delisted, the calls and seconds added up, the stop that held for the run (else the last
    round's: an outage a later round got past is not one); an item's failure counts once,
    its last round's (none if a later round pushed it); what is deferred is what the shop's
    last round left."""
    merged: dict[str, PushResult] = {}
    for results in rounds:
        for account_id, result in results.items():
            before = merged.get(account_id)
            if before is None:
                merged[account_id] = result
                continue
            later = {c.base_item_id for c in result.pushed} | {f.base_item_id for f in result.failed}
            sticky = before if before.stopped_by in STICKY_STOPS else None
            merged[account_id] = PushResult(
                account_id,
                pushed=before.pushed + result.pushed,
                failed=[f for f in before.failed if f.base_item_id not in later] + result.failed,
                deferred=result.deferred,
                delisted=before.delisted + result.delisted,
                calls=before.calls + result.calls,
                stopped_by=sticky.stopped_by if sticky else result.stopped_by,
                stop_reason=sticky.stop_reason if sticky else result.stop_reason,
                seconds=before.seconds + result.seconds,
                seen_stock={**before.seen_stock, **result.seen_stock},
                deferred_stock=result.deferred_stock,
            )
    return merged


def settled_release_requests(
    requests: Mapping[str, datetime], released: Sequence[FieldChange], results: Mapping[str, PushResult]
) -> dict[str, datetime]:
    """The release requests (shop → time asked) a round has done: every change it released for
    the shop is on BASE (or it released none: nothing asked for is still held). A shop the round
    sent nothing, or one with a released change failed, deferred or never sent, keeps its request
    for the next round."""
    on_base = set(released_on_base(released, results))
    return {
        account_id: at
        for account_id, at in requests.items()
        if all(
            (c.account_id, c.base_item_id, c.field) in on_base for c in released if c.account_id == account_id
        )
    }


def released_on_base(
    released: Sequence[FieldChange], results: Mapping[str, PushResult]
) -> list[tuple[str, int, str]]:
    """(shop, item id, field) of the released changes BASE confirmed: their holds are done."""
    pushed = {(a, c.base_item_id, c.field) for a, r in results.items() for c in r.pushed}
    return sorted({k for c in released if (k := (c.account_id, c.base_item_id, c.field)) in pushed})
