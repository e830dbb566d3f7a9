"""Domain values passed between the steps of a run (small, frozen, picklable)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    """What one SP-API observation says about an ASIN."""

    IN_STOCK = "in_stock"  # a new offer that ships in time: price_yen is set
    OUT_OF_STOCK = "out_of_stock"  # NoBuyableOffers / no new offers at all
    FILTERED_OUT = "filtered_out"  # offers exist, but none passes the delivery-time/condition filter
    ERROR = "error"  # the API did not give a usable answer: stock is *unknown*


class PriceSource(StrEnum):
    """Where an in-stock observation's price came from."""

    OFFER = "offer"  # a listed offer (``Offers[]``) that passes the condition and delivery filter
    SUMMARY = "summary"  # ``Summary.LowestPrices``: the list stopped at 20 before a qualifying offer


class StockState(StrEnum):
    """Stored stock state of a product (three-state: an error never changes it)."""

    IN_STOCK = "in_stock"
    OUT_OF_STOCK = "out_of_stock"
    FILTERED_OUT = "filtered_out"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Observation:
    """One getItemOffersBatch answer for one ASIN, reduced to what pricing needs.

    ``price_yen`` is ListingPrice + Shipping of the chosen offer (integer yen); ``points`` are the
    Amazon points of that offer, recorded but never subtracted. ``price_source`` says whether
    that price is a listed offer's or the Summary's (Amazon lists only the 20 lowest-priced
    offers). ``offer_count`` is ``Summary.TotalOfferCount`` (every condition). ``reason`` says
    why the outcome is what it is (``NoBuyableOffers``, ``no new offer ships within 72h``,
    ``HTTP 400 InvalidInput: ...``).
    """

    asin: str
    outcome: Outcome
    observed_at: datetime
    price_yen: int | None = None
    shipping_yen: int | None = None
    points: int | None = None
    offer_count: int | None = None
    reason: str | None = None
    price_source: PriceSource | None = None


@dataclass(frozen=True, slots=True)
class CatalogInfo:
    """Catalog facts for an ASIN (searchCatalogItems ``summaries`` + ``images``)."""

    asin: str
    observed_at: datetime
    title: str | None = None
    brand: str | None = None
    image_url: str | None = None


@dataclass(frozen=True, slots=True)
class BaseTokens:
    """One BASE shop's OAuth pair. ``expires_at`` is timezone-aware UTC.

    ``refresh_issued_at`` is when BASE issued this refresh token (an authorisation, or a refresh
    that handed back a new one), None when unknown (an accounts-file token): the refresh token is
    expected to lapse 30 days after it (ecauto_lib.token_health).
    """

    access_token: str
    refresh_token: str
    expires_at: datetime
    refresh_issued_at: datetime | None = None

    def __repr__(self) -> str:  # never print secrets
        return f"BaseTokens(access_token=***, refresh_token=***, expires_at={self.expires_at.isoformat()})"


@dataclass(frozen=True, slots=True)
class BudgetBlock:
    """A BASE shop refused for its daily call budget: no call to it before ``blocked_until`` (UTC)."""

    account_id: str
    code: str  # BASE's error code (day_api_limit)
    blocked_until: datetime


@dataclass(frozen=True, slots=True)
class BaseShop:
    """Which BASE shop a token pair is for, as ``GET /1/users/me`` says."""

    shop_id: str
    name: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """The non-secret facts the master DB keeps about one shop's stored pair (no token values).

    ``saved_at`` is when the pair was last stored; ``authorised_at`` when ``connect_shop`` stored
    it; ``refreshed_at`` the last refresh since; ``refused_at`` / ``refusal`` when BASE refused to
    refresh it and BASE's answer (``error: description``), cleared by the next pair stored.
    """

    account_id: str
    saved_at: datetime
    refresh_issued_at: datetime | None = None
    authorised_at: datetime | None = None
    refreshed_at: datetime | None = None
    refused_at: datetime | None = None
    refusal: str | None = None
    base_shop: BaseShop | None = None


@dataclass(frozen=True, slots=True)
class Variation:
    """One variation of a BASE item as BASE shows it (``variations[]``: id, stock, identifier, label)."""

    variation_id: int
    stock: int | None
    identifier: str | None = None  # ``variation_identifier``: where a variation's ASIN can be read
    name: str = ""  # ``variation`` (the label the buyer picks, e.g. 赤 / S)


@dataclass(frozen=True, slots=True)
class ItemStock:
    """BASE's stock of one item: ``stock`` (the variations' sum when it has any) and its variations."""

    stock: int | None
    variations: tuple[Variation, ...] = ()


@dataclass(frozen=True, slots=True)
class ListingRow:
    """A listing to register: which shop lists which ASIN under which BASE item id.

    ``base_price`` / ``base_visible`` / ``base_stock`` / ``base_variations`` are what BASE shows
    now, when known (an import from BASE knows them; None: unknown, keep what is stored).
    """

    account_id: str
    asin: str
    base_item_id: int
    base_price: int | None = None
    base_visible: bool | None = None
    base_stock: int | None = None
    base_variations: tuple[Variation, ...] | None = None


ITEM_FIELDS = ("price", "visible", "stock")
"""The fields of a BASE item a run changes: price (yen), visible (1/0) and stock (a count)."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """A planned change of one field of one BASE item: the value BASE shows (None: unknown), the
    new one, and why. A row of a plan's changes: :data:`CHANGE_COLUMNS` are these fields."""

    account_id: str
    asin: str
    base_item_id: int
    field: str  # one of ITEM_FIELDS
    old_value: int | None  # yen for price, 1/0 for visible, a count for stock
    new_value: int
    reason: str


CHANGE_COLUMNS = [f.name for f in fields(FieldChange)]
"""The columns of every frame of field changes (a plan's changes, held, released): one definition."""


@dataclass(frozen=True, slots=True)
class PushedChange:
    """A change BASE confirmed: one field of one item, before and after, and why."""

    account_id: str
    asin: str
    base_item_id: int
    field: str  # "price" | "visible" | "stock"
    old_value: int | None  # yen for price, 1/0 for visible, a count for stock
    new_value: int
    reason: str
    at: datetime
    variation_id: int | None = None  # a variation's stock (field "stock" only)


@dataclass(frozen=True, slots=True)
class ItemUpdate:
    """One ``items/edit`` of one BASE item: the fields that change and, by field, what BASE showed
    before (None: unknown) and why.

    ``fields`` maps a field of :data:`ITEM_FIELDS` to its new value (visible as 1/0), in the plan's
    order; ``old`` and ``reasons`` have the same keys. The mappings are never changed once built.
    """

    account_id: str
    asin: str
    base_item_id: int
    fields: dict[str, int]
    old: dict[str, int | None]
    reasons: dict[str, str]

    def changes(self, at: datetime, *, reason_prefix: str = "") -> list[PushedChange]:
        """The update as confirmed changes at ``at`` (one per field)."""
        return [
            PushedChange(
                account_id=self.account_id,
                asin=self.asin,
                base_item_id=self.base_item_id,
                field=name,
                old_value=self.old.get(name),
                new_value=value,
                reason=reason_prefix + self.reasons.get(name, ""),
                at=at,
            )
            for name, value in self.fields.items()
        ]


@dataclass(frozen=True, slots=True)
class FailedItem:
    """An edit BASE refused or did not answer: the item, the fields it would have set, BASE's error
    code (or the error's type) and message. ``variation_id``: a variation's stock top-up."""

    account_id: str
    asin: str
    base_item_id: int
    fields: dict[str, int]
    error: str
    message: str
    variation_id: int | None = None


@dataclass(frozen=True, slots=True)
class DelistedItem:
    """An item BASE no longer has (item detail: ``no_item``): its listing is marked delisted."""

    account_id: str
    asin: str
    base_item_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class StockTopUp:
    """Stock to put back on BASE after a sale while Amazon still has the product (issue #11 §2).

    ``variation_id`` None: the item's own ``stock`` (sent in its items/edit); else that variation's
    stock (sent with items/edit_stock, ``variation_id`` + ``variation_stock``).
    """

    account_id: str
    asin: str  # the Amazon product whose stock it follows (a variation's own ASIN)
    base_item_id: int
    variation_id: int | None
    old_stock: int
    new_stock: int
    reason: str

    def field_change(self) -> FieldChange:
        """The top-up as a change of the ``stock`` field (its variation aside)."""
        return FieldChange(
            self.account_id,
            self.asin,
            self.base_item_id,
            "stock",
            self.old_stock,
            self.new_stock,
            self.reason,
        )

    def pushed(self, at: datetime) -> PushedChange:
        """The top-up as BASE confirmed it at ``at``."""
        change = self.field_change()
        return PushedChange(
            change.account_id,
            change.asin,
            change.base_item_id,
            change.field,
            change.old_value,
            change.new_value,
            change.reason,
            at,
            variation_id=self.variation_id,
        )


@dataclass(frozen=True, slots=True)
class StockSkip:
    """A variation at stock 0 that could not be topped up, and why (a line of the report)."""

    account_id: str
    asin: str  # the listing's ASIN
    base_item_id: int
    variation_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class HeldChange(FieldChange):
    """A change the guards held for review: one field of one item, the value held, and why.

    Stored in the master DB (``held_changes``) so that ``--confirm`` releases exactly these: a
    change is identified by its :attr:`key` (:data:`HELD_KEY`).
    """

    @property
    def key(self) -> HeldKey:
        """What identifies a held change: shop, item, field and the value held."""
        return (self.account_id, self.base_item_id, self.field, self.new_value)


HeldKey = tuple[str, int, str, int]
HELD_KEY = ["account_id", "base_item_id", "field", "new_value"]
"""The columns of :attr:`HeldChange.key`, in its order."""
