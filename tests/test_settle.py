"""Settling the push journal cheaply: one page of ``/1/items`` settles up to 100 entries (#12 §2)."""

from __future__ import annotations

from datetime import UTC, datetime

from ecauto_lib.db.journal import JournalEntry
from ecauto_lib.domain import ItemUpdate
from ecauto_lib.errors import TransientError
from ecauto_lib.push import settle_unconfirmed

AT = datetime(2026, 11, 29, tzinfo=UTC)


class Shop:
    """A BASE shop of ``n`` items (ids 1..n, price = id); counts list and detail calls."""

    def __init__(self, n: int, *, down: bool = False) -> None:
        self.items = {
            i: {"item_id": i, "price": i, "visible": 1, "stock": 1, "modified": i} for i in range(1, n + 1)
        }
        self.down = down
        self.calls = 0
        self.pages: list[int] = []
        self.details: list[int] = []

    def list_items(self, *, limit=100, offset=0, order="list_order", sort="asc"):
        self.calls += 1
        if self.down:
            raise TransientError("base items: HTTP 503 (no error body)", service="base", status=503)
        self.pages.append(offset)
        ordered = sorted(self.items.values(), key=lambda i: i[order], reverse=sort == "desc")
        return ordered[offset : offset + limit]

    def item_detail(self, item_id):
        self.calls += 1
        if self.down:
            raise TransientError("base items/detail: HTTP 503 (no error body)", service="base", status=503)
        self.details.append(item_id)
        return self.items.get(item_id)


def entry(n: int, item_id: int, price: int) -> JournalEntry:
    update = ItemUpdate(
        "a", f"B0{item_id:08d}", item_id, {"price": price}, {"price": item_id}, {"price": "why"}
    )
    return JournalEntry(id=n, run_id=None, update=update)


def settle(entries, shop, **options):
    recovered, abandoned = [], []
    settlement = settle_unconfirmed(
        entries,
        shop,
        on_recovered=lambda e, changes: recovered.append(e.base_item_id),
        on_abandoned=lambda e: abandoned.append(e.base_item_id),
        clock=lambda: AT,
        **options,
    )
    return settlement, recovered, abandoned


def test_many_entries_are_settled_by_reading_pages_not_one_detail_each():
    shop = Shop(250)
    # 30 edits that never landed (BASE shows the old price) and 2 that did
    entries = [entry(n, item, item + 1000) for n, item in enumerate(range(10, 250, 8))]
    shop.items[12 * 8 + 10]["price"] = entries[12].fields["price"]
    shop.items[26 * 8 + 10]["price"] = entries[26].fields["price"]
    settlement, recovered, abandoned = settle(entries, shop)
    assert shop.calls == 3 and shop.details == []  # three pages of 100 instead of 30 details
    assert sorted(recovered) == [12 * 8 + 10, 26 * 8 + 10]
    assert len(abandoned) == len(entries) - 2 and settlement.failed == 0
    assert settlement.calls == 3 and settlement.unsettled == frozenset()


def test_one_entry_is_settled_with_item_detail():
    shop = Shop(250)
    settlement, recovered, abandoned = settle([entry(1, 7, 7)], shop)
    assert shop.details == [7] and shop.pages == [] and recovered == [7] and settlement.calls == 1


def test_an_entry_whose_item_no_page_showed_is_checked_with_item_detail():
    shop = Shop(50)
    entries = [entry(1, 3, 1003), entry(2, 4, 1004), entry(3, 99, 1)]  # item 99 is not in the shop
    settlement, recovered, abandoned = settle(entries, shop)
    assert shop.pages == [0] and shop.details == [99]
    assert sorted(abandoned) == [3, 4, 99] and settlement.calls == 2


def test_base_down_while_settling_leaves_every_entry_for_the_next_run_after_a_run_of_errors():
    shop = Shop(250, down=True)
    entries = [entry(n, item, 1) for n, item in enumerate(range(1, 40))]
    settlement, recovered, abandoned = settle(entries, shop, outage_after=3)
    assert shop.calls == 3 and recovered == abandoned == []  # a failed page read is tried again
    assert settlement.failed == len(entries) and settlement.unsettled == frozenset(range(1, 40))


def test_base_down_while_checking_details_stops_after_a_run_of_errors():
    shop = Shop(250, down=True)
    entries = [entry(1, 5, 1)]
    settlement, _, _ = settle(entries, shop, outage_after=3)
    assert shop.calls == 1 and settlement.unsettled == frozenset({5})
