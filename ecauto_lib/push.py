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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from ecauto_lib.domain import ItemStock, PushedChange, StockTopUp
from ecauto_lib.errors import EcAutoError, TransientError
from ecauto_lib.stock import item_stock


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


@dataclass
class PushResult:
    """What happened to one shop's planned updates."""

    account_id: str
    pushed: list[PushedChange] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)  # asin, base_item_id, fields, error
    deferred: list[dict[str, Any]] = field(default_factory=list)  # the planned updates not sent
    delisted: list[dict[str, Any]] = field(default_factory=list)  # asin, base_item_id, reason
    calls: int = 0
    # "hour_api_limit" | "day_api_limit" | "budget" | NEEDS_AUTHORISATION when the push stopped early
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


def push_updates(
    account_id: str,
    updates: Sequence[dict[str, Any]],
    client: ItemEditor,
    *,
    call_budget: int,
    on_pushed: Callable[[Any, list[PushedChange]], None],
    on_delisted: Callable[[int, str], None],
    on_sending: Callable[[dict[str, Any]], Any] = lambda update: None,
    on_failed: Callable[[Any], None] = lambda token: None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> PushResult:
    """Send ``updates`` (from :func:`ecauto_lib.pricing.item_updates`) to one shop, in order."""
    from ecauto_lib.base.client import BadItemIdError, BudgetExhaustedError, DayLimitError
    from ecauto_lib.errors import AuthError

    started = time.monotonic()
    result = PushResult(account_id=account_id)
    calls_at_start = client.calls
    for index, update in enumerate(updates):
        if client.calls - calls_at_start >= call_budget:
            result.stopped_by = "budget"
            result.deferred.extend(updates[index:])
            break
        fields = update["fields"]
        token = on_sending(update)
        try:
            answer = client.edit_item(
                update["base_item_id"],
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
            if not isinstance(exc, TransientError):
                on_failed(token)
            result.failed.append(_failure(update, exc))
            continue
        at = clock()
        confirmed = [
            PushedChange(
                account_id=account_id,
                asin=update["asin"],
                base_item_id=update["base_item_id"],
                field=name,
                old_value=update["old"].get(name),
                new_value=value,
                reason=update["reasons"].get(name, ""),
                at=at,
            )
            for name, value in fields.items()
        ]
        on_pushed(token, confirmed)
        result.pushed.extend(confirmed)
        result.seen_stock[update["base_item_id"]] = item_stock(answer)
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
    from ecauto_lib.base.client import BudgetExhaustedError, DayLimitError

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
            failure = _failure({"asin": topup.asin, "base_item_id": topup.base_item_id, "fields": {}}, exc)
            result.failed.append(
                {**failure, "fields": {"stock": topup.new_stock}, "variation_id": topup.variation_id}
            )
            continue
        change = PushedChange(
            account_id=account_id,
            asin=topup.asin,
            base_item_id=topup.base_item_id,
            field="stock",
            old_value=topup.old_stock,
            new_value=topup.new_stock,
            reason=topup.reason,
            at=clock(),
            variation_id=topup.variation_id,
        )
        on_pushed([change])
        result.pushed.append(change)
        result.seen_stock[topup.base_item_id] = item_stock(answer)
    result.calls += client.calls - calls_at_start
    return result


def _handle_missing_item(
    update: dict[str, Any],
    client: ItemEditor,
    exc: Exception,
    result: PushResult,
    on_delisted: Callable[[int, str], None],
) -> None:
    """``bad_item_id``: confirm with item detail; a gone item is delisted, never retried."""
    try:
        detail = client.item_detail(update["base_item_id"])
    except EcAutoError as detail_exc:
        result.failed.append(_failure(update, detail_exc))
        return
    if detail is None:
        reason = "deleted in BASE (bad_item_id, item detail: no_item)"
        on_delisted(update["base_item_id"], reason)
        result.delisted.append(
            {"asin": update["asin"], "base_item_id": update["base_item_id"], "reason": reason}
        )
    else:
        # BASE refused the id for editing but still shows the item (e.g. an item type the API
        # cannot edit): report it, keep the listing.
        result.failed.append(_failure(update, exc))


def _failure(update: dict[str, Any], exc: Exception) -> dict[str, Any]:
    code = getattr(exc, "code", None) or type(exc).__name__
    return {
        "asin": update["asin"],
        "base_item_id": update["base_item_id"],
        "fields": dict(update["fields"]),
        "error": code,
        "message": str(exc),
    }


@dataclass
class Settlement:
    """What became of edits a crashed run left unconfirmed."""

    recovered: list[PushedChange] = field(default_factory=list)  # BASE had them: now recorded
    abandoned: int = 0  # BASE did not show them: the next plan decides afresh
    failed: int = 0  # BASE could not be asked: left for the next run


def settle_unconfirmed(
    entries: Sequence[Any],
    client: ItemEditor,
    *,
    on_recovered: Callable[[Any, list[PushedChange]], None],
    on_abandoned: Callable[[Any], None],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Settlement:
    """For each unconfirmed journal entry, ask BASE whether the edit landed; never re-send it."""
    settlement = Settlement()
    for entry in entries:
        try:
            item = client.item_detail(entry.base_item_id)
        except EcAutoError:
            settlement.failed += 1
            continue
        landed = item is not None and all(
            _as_int(item.get(name)) == value for name, value in entry.fields.items()
        )
        if landed:
            changes = entry.changes(clock(), reason_prefix="recovered after a crash: ")
            on_recovered(entry, changes)
            settlement.recovered.extend(changes)
        else:
            on_abandoned(entry)
            settlement.abandoned += 1
    return settlement


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
