"""Prices and visibility, computed on whole frames (vectorised, integer-exact).

BASE price = Amazon price (ListingPrice + Shipping of the chosen offer) × the account's markup,
rounded half-up to ``policy.rounding_yen``. The markup is a Decimal turned into an exact integer
ratio, so no binary float ever decides a rounding edge. A price is pushed when it differs from the
price BASE shows by at least ``policy.min_price_change_yen``; a price outside the configured
bounds is skipped and flagged, never clamped.

**The floor** (issue #10): an item is public on BASE only at a price ≥ floor = Amazon price ×
(1 + ``min_margin_pct``/100) + ``min_margin_yen``, for the freshest Amazon price the master DB
has, in every mode:

* a BASE price below the floor (or unknown) is always repriced, whatever the ¥100 threshold says;
* the computed price is the markup price rounded, raised to the next rounding step when rounding
  alone would put it under the floor (a markup that itself does not cover the floor is refused);
* when the right price cannot be pushed (held by a guard, refused by the bounds) and the price
  BASE would keep showing is below the floor, :func:`keep_above_floor` hides the item with that
  reason, or keeps it hidden instead of publishing it; a held *cut* (BASE above the floor) keeps
  the item public. Once the price is in place the usual visibility rule publishes it again;
* publishing an item always goes with its price check, in ``--stock-only`` too, in one edit.

Visibility follows stock: out of stock or filtered out → hidden; in stock → public; unknown
(never observed, or the last fetch failed without an earlier answer) → nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, overload

import numpy as np
import pandas as pd

from ecauto_lib.config import MARKUP_MAX_DECIMALS, SyncMode, SyncPolicy
from ecauto_lib.domain import CHANGE_COLUMNS, FieldChange, HeldChange, ItemUpdate, StockSkip, StockTopUp

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

FLOOR_HIDDEN, FLOOR_KEPT_HIDDEN = "hidden", "kept hidden"


@dataclass(frozen=True, slots=True)
class FlaggedPrice:
    """A computed price refused by the bounds or the minimum margin: skipped, never clamped."""

    account_id: str
    asin: str
    base_item_id: int
    amazon_price_yen: int
    computed_price: int
    reason: str


@dataclass(frozen=True, slots=True)
class FloorAction:
    """An item the floor rule hid (``hidden``) or did not publish (``kept hidden``), and why."""

    account_id: str
    asin: str
    base_item_id: int
    base_price: int | None  # None: BASE's price is unknown
    floor_price: int
    action: str  # FLOOR_HIDDEN | FLOOR_KEPT_HIDDEN
    reason: str


FLAGGED_COLUMNS = [f.name for f in fields(FlaggedPrice)]
FLOOR_COLUMNS = [f.name for f in fields(FloorAction)]

_HIDE_STATES = ("out_of_stock", "filtered_out")
_KEY = ["account_id", "base_item_id"]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


@dataclass(frozen=True)
class PricingPlan:
    """What a run wants BASE to change (one row per field), and what it refused or held."""

    changes: pd.DataFrame  # CHANGE_COLUMNS, to push; old_value is NA when BASE's value is unknown
    flagged: pd.DataFrame  # FLAGGED_COLUMNS: prices refused by the bounds or the margin
    held: pd.DataFrame = field(default_factory=lambda: _empty(CHANGE_COLUMNS))  # held for review
    released: pd.DataFrame = field(default_factory=lambda: _empty(CHANGE_COLUMNS))  # by --confirm
    below_floor: pd.DataFrame = field(default_factory=lambda: _empty(FLOOR_COLUMNS))
    variation_stock: tuple[StockTopUp, ...] = ()  # variations' top-ups (items/edit_stock), see stock.py
    stock_skipped: tuple[StockSkip, ...] = ()  # variations at stock 0 that could not be topped up

    # The plan as values, for the layers after pricing (push, the held store, the report).

    def updates(self) -> list[ItemUpdate]:
        """The changes to push, one BASE edit per item (see :func:`item_updates`)."""
        return item_updates(self.changes)

    def planned_changes(self) -> list[FieldChange]:
        return field_changes(self.changes)

    def held_changes(self) -> list[HeldChange]:
        """What the guards held for review (stored for ``--confirm``)."""
        return field_changes(self.held, HeldChange)

    def released_changes(self) -> list[FieldChange]:
        """The held changes this plan releases (``--confirm``, or a release request)."""
        return field_changes(self.released)

    def released_holds(self) -> list[HeldChange]:
        """:meth:`released_changes` as the holds they were (stored until they are on BASE)."""
        return field_changes(self.released, HeldChange)

    def flagged_prices(self) -> list[FlaggedPrice]:
        return values_of(self.flagged, FlaggedPrice)

    def floor_actions(self) -> list[FloorAction]:
        return values_of(self.below_floor, FloorAction)


def _int_or_none(value: Any) -> int | None:
    return None if pd.isna(value) else int(value)


_CONVERT: dict[str, Callable[[Any], Any]] = {  # a frame cell to a field of its declared type
    "int": int,
    "int | None": _int_or_none,
    "str": str,
}
_V = TypeVar("_V", bound="DataclassInstance")


def values_of(frame: pd.DataFrame, kind: type[_V]) -> list[_V]:
    """The rows of ``frame`` as ``kind`` values (a frozen dataclass whose fields are columns of
    it, typed ``int``, ``int | None`` or ``str``), in order: NA becomes None, numpy ints ints."""
    names = [(f.name, _CONVERT[str(f.type)]) for f in fields(kind)]
    columns = frame[[name for name, _ in names]]
    return [
        kind(**{name: convert(value) for (name, convert), value in zip(names, row, strict=True)})
        for row in columns.itertuples(index=False, name=None)
    ]


_Change = TypeVar("_Change", bound=FieldChange)


@overload
def field_changes(frame: pd.DataFrame) -> list[FieldChange]: ...
@overload
def field_changes(frame: pd.DataFrame, kind: type[_Change]) -> list[_Change]: ...
def field_changes(frame: pd.DataFrame, kind: type[FieldChange] = FieldChange) -> Sequence[FieldChange]:
    """Rows of a changes frame (:data:`CHANGE_COLUMNS`) as values of ``kind``, in order."""
    return values_of(frame, kind)


def fields_decided(mode: SyncMode) -> tuple[str, ...]:
    """The fields a run in ``mode`` decides for every listing (others only where the floor asks)."""
    return {
        SyncMode.FULL: ("price", "visible", "stock"),
        SyncMode.PRICE: ("price",),
        SyncMode.STOCK: ("visible", "stock"),
    }[mode]


def markup_ratio(markup: Decimal) -> tuple[int, int]:
    """The markup as an exact integer fraction (numerator, denominator): 1.3 → (13, 10).

    Raises ValueError for more than ``MARKUP_MAX_DECIMALS`` decimal places: the int64 arithmetic
    of :func:`target_prices` is exact only for denominators dividing 10**4 (config refuses them
    first, naming the setting).
    """
    numerator, denominator = markup.as_integer_ratio()
    if 10**MARKUP_MAX_DECIMALS % denominator:
        raise ValueError(
            f"markup {markup} must have at most {MARKUP_MAX_DECIMALS} decimal places to be priced exactly"
        )
    return numerator, denominator


def target_prices(
    amazon_yen: pd.Series, numerator: pd.Series, denominator: pd.Series, unit: int
) -> pd.Series:
    """``amazon_yen × numerator / denominator`` rounded half-up to ``unit`` yen, in integers only.

    round_half_up(x / unit) * unit with x = p·n/d equals floor((2·p·n + d·unit) / (2·d·unit)) · unit.
    """
    p = amazon_yen.astype("Int64")
    n = numerator.astype("int64")
    d = denominator.astype("int64")
    return ((2 * p * n + d * unit) // (2 * d * unit)) * unit


def _margin_ratio(policy: SyncPolicy) -> tuple[int, int]:
    """1 + min_margin_pct/100 as an exact fraction: 5 % → (105, 100); 7.25 % → (429, 400)."""
    pct_n, pct_d = policy.min_margin_pct.as_integer_ratio()
    return 100 * pct_d + pct_n, 100 * pct_d


def floor_prices(amazon_yen: pd.Series, policy: SyncPolicy) -> pd.Series:
    """The lowest price an item may be public at: ⌈Amazon × (1 + pct/100)⌉ + yen (Int64, exact)."""
    num, den = _margin_ratio(policy)
    p = amazon_yen.astype("Int64")
    return -((-p * num) // den) + policy.min_margin_yen


def plan_changes(
    listings: pd.DataFrame,
    policy: SyncPolicy,
    markups: Mapping[str, Decimal],
    mode: SyncMode,
    *,
    now: datetime | None = None,
) -> PricingPlan:
    """Every price and visibility change the listings call for, in the listings' order.

    ``listings`` has the columns of :func:`ecauto_lib.db.load_listings` (listing joined with its
    product). ``markups`` maps account id → markup; accounts missing from it use ``policy.markup``.
    Full: prices and visibility. ``--price-only``: prices (the floor step may add hides).
    ``--stock-only``: visibility, plus the price of every item about to be published and of
    every item whose BASE price is below the floor. ``now`` (the run's start) turns on the
    unknown-too-long hide (``policy.unknown_hide_after``).
    """
    listings = listings.assign(_order=np.arange(len(listings)))
    priced = _priced(listings, policy, markups)
    visibility = _visibility_changes(listings, policy, now)
    if mode is SyncMode.PRICE:
        visibility = visibility.iloc[0:0]
    if mode is SyncMode.STOCK:
        publishing = visibility.loc[visibility["new_value"].eq(1), "_order"]
        priced = priced[priced["_loss"] | priced["_order"].isin(publishing)]
    price_changes, flagged = _price_changes(priced, policy)
    changes = pd.concat([price_changes, visibility])
    return PricingPlan(changes=_ordered(changes), flagged=flagged.reset_index(drop=True))


def ordered_by_listing(listings: pd.DataFrame, changes: pd.DataFrame) -> pd.DataFrame:
    """``changes`` (CHANGE_COLUMNS) sorted as :func:`plan_changes` sorts them, by listing position."""
    items = listings["base_item_id"].astype("int64")
    position = {key: n for n, key in enumerate(zip(listings["account_id"], items, strict=True))}
    keys = zip(changes["account_id"], changes["base_item_id"].astype("int64"), strict=True)
    order = pd.Series([position.get(k, -1) for k in keys], index=changes.index, dtype="int64")
    return _ordered(changes.assign(_order=order))


def _ordered(changes: pd.DataFrame) -> pd.DataFrame:
    """Changes in the listings' order (deferred items first); per item price, stock, visibility."""
    changes = changes.sort_values(["_order", "field"], ascending=[True, True], kind="stable")
    changes = changes[CHANGE_COLUMNS].reset_index(drop=True)
    changes["old_value"] = changes["old_value"].astype("Int64")
    changes["new_value"] = changes["new_value"].astype("int64")
    changes["base_item_id"] = changes["base_item_id"].astype("int64")
    return changes


def _priced(listings: pd.DataFrame, policy: SyncPolicy, markups: Mapping[str, Decimal]) -> pd.DataFrame:
    """In-stock listings with their computed price, floor, and what is wrong with them (if anything).

    Columns added: ``computed_price`` (rounded markup price, raised over the floor when rounding
    alone crossed it), ``floor_price``, ``_raised``, ``_loss`` (BASE's price is below the floor or
    unknown) and ``_refused`` (why the computed price may not be pushed, "" if it may).
    """
    frame = listings[listings["stock_state"].eq("in_stock") & listings["amazon_price_yen"].notna()]
    ratios = {acc: markup_ratio(m) for acc, m in markups.items()}
    default = markup_ratio(policy.markup)
    default_text = _markup_text(default)
    texts = {a: _markup_text(r) for a, r in ratios.items()}
    numerator = frame["account_id"].map(lambda a: ratios.get(a, default)[0]).astype("int64")
    denominator = frame["account_id"].map(lambda a: ratios.get(a, default)[1]).astype("int64")
    amazon = frame["amazon_price_yen"].astype("Int64")
    rounded = target_prices(amazon, numerator, denominator, policy.rounding_yen)
    floor = floor_prices(amazon, policy)
    # Does the markup itself cover the floor? p·n/d ≥ p·num/den + yen, in integers. Bounds: p < 2**31,
    # n ≤ 10**5, d and den ≤ 10**4, num ≤ 10**5: every product stays below 2.2e18 < 2**63.
    num, den = _margin_ratio(policy)
    covers = (amazon * numerator * den >= denominator * (amazon * num + policy.min_margin_yen * den)).astype(
        bool
    )
    unit = policy.rounding_yen
    step_over_floor = -((-floor) // unit) * unit
    raised = covers & (rounded < floor)
    computed = rounded.where(~raised, step_over_floor)

    too_low = computed < policy.min_price_yen
    too_high = computed > policy.max_price_yen
    thin = ~covers
    refused = np.select(
        [too_low.to_numpy(dtype=bool), too_high.to_numpy(dtype=bool), thin.to_numpy(dtype=bool)],
        [
            f"below the minimum price ¥{policy.min_price_yen:,}",
            f"above the maximum price ¥{policy.max_price_yen:,}",
            f"below the minimum margin ({_pct_text(policy.min_margin_pct)}% + ¥{policy.min_margin_yen:,} over Amazon)",
        ],
        default="",
    )
    base = frame["base_price"].astype("Int64")
    return frame.assign(
        computed_price=computed.astype("Int64"),
        floor_price=floor.astype("Int64"),
        _raised=raised.to_numpy(),
        _loss=(base.isna() | (base < floor)).fillna(True).astype(bool).to_numpy(),
        _refused=refused,
        _markup=frame["account_id"].map(lambda a: texts.get(a, default_text)),
    )


def _price_changes(priced: pd.DataFrame, policy: SyncPolicy) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Price changes to push, and the refused prices (flagged), from :func:`_priced` rows."""
    refused = priced["_refused"].ne("")
    flagged = priced[refused].rename(columns={"_refused": "reason"})[FLAGGED_COLUMNS]
    frame = priced[~refused]
    difference = (frame["computed_price"] - frame["base_price"]).abs()
    moved = (difference >= policy.min_price_change_yen).fillna(True).astype(bool) | frame["_loss"]
    frame = frame[moved]
    amazon_text = _yen_texts(frame["amazon_price_yen"])
    floor_text = _yen_texts(frame["floor_price"])
    base_text = _yen_texts(frame["base_price"].fillna(0))
    raised = (" (rounded up to clear the floor ¥" + floor_text + ")").where(frame["_raised"], "")
    known_loss = frame["_loss"] & frame["base_price"].notna().to_numpy(dtype=bool)
    loss = (" (BASE ¥" + base_text + " is below the floor ¥" + floor_text + ")").where(known_loss, "")
    reason = "amazon ¥" + amazon_text + " × " + frame["_markup"] + raised + loss
    changes = pd.DataFrame(
        {
            "account_id": frame["account_id"],
            "asin": frame["asin"],
            "base_item_id": frame["base_item_id"],
            "field": "price",
            "old_value": frame["base_price"].astype("Int64"),
            "new_value": frame["computed_price"].astype("int64"),
            "reason": reason.astype(object),
            "_order": frame["_order"],
        }
    )
    return changes, flagged


def _yen_texts(values: pd.Series) -> pd.Series:
    """Integer yen as ``1,234`` strings (object dtype, so even an empty column concatenates)."""
    return values.astype("int64").map("{:,}".format).astype(object)


def _pct_text(value: Decimal) -> str:
    return format(value.normalize() + 0, "f")


FLOOR_REASON_PREFIX = "below floor: "  # the reason of every hide the floor step adds


def keep_above_floor(plan: PricingPlan, listings: pd.DataFrame, policy: SyncPolicy) -> PricingPlan:
    """The floor step, after the guards: no item is left (or made) public below its floor.

    For each in-stock listing with an Amazon price, the price BASE will show after this plan is
    the pushed price, else BASE's current one. Where that is below the floor (or unknown), a
    planned publish is dropped (``kept hidden``) and a public item is hidden (``hidden``); the
    reason names the floor and why the right price is not going out (held, refused). These hides
    are never held by the circuit breaker: they are what makes a held price safe.
    """
    frame = listings.assign(_order=np.arange(len(listings)))
    frame = frame[frame["stock_state"].eq("in_stock") & frame["amazon_price_yen"].notna()]
    frame = frame[
        ["account_id", "asin", "base_item_id", "base_price", "base_visible", "amazon_price_yen", "_order"]
    ]
    frame = frame.assign(floor_price=floor_prices(frame["amazon_price_yen"], policy))
    changes = plan.changes
    for name, column in (("price", "_new_price"), ("visible", "_new_visible")):
        planned = changes.loc[changes["field"].eq(name), [*_KEY, "new_value"]].rename(
            columns={"new_value": column}
        )
        frame = frame.merge(planned, on=_KEY, how="left")
    final_price = frame["_new_price"].astype("Int64").fillna(frame["base_price"].astype("Int64"))
    below = (final_price.isna() | (final_price < frame["floor_price"])).fillna(True).to_numpy(dtype=bool)
    new_visible = frame["_new_visible"].astype("Int64")
    publishing = new_visible.eq(1).fillna(False).to_numpy(dtype=bool)
    hiding = new_visible.eq(0).fillna(False).to_numpy(dtype=bool)
    public = frame["base_visible"].astype("boolean").fillna(True).to_numpy(dtype=bool)
    kept_hidden = below & publishing
    hidden = below & ~publishing & ~hiding & public
    acted = frame[kept_hidden | hidden].assign(
        action=np.where(kept_hidden, FLOOR_KEPT_HIDDEN, FLOOR_HIDDEN)[kept_hidden | hidden]
    )
    if acted.empty:
        return plan
    acted = acted.assign(reason=_floor_reasons(acted, plan, policy))

    dropped = acted.loc[acted["action"].eq(FLOOR_KEPT_HIDDEN), _KEY].assign(_drop=True)
    keep = (
        changes.merge(dropped, on=_KEY, how="left")["_drop"].isna().to_numpy()
        | changes["field"].ne("visible").to_numpy()
    )
    to_hide = acted[acted["action"].eq(FLOOR_HIDDEN)]
    hides = pd.DataFrame(
        {
            "account_id": to_hide["account_id"],
            "asin": to_hide["asin"],
            "base_item_id": to_hide["base_item_id"],
            "field": "visible",
            "old_value": to_hide["base_visible"].astype("boolean").astype("Int64"),
            "new_value": 0,
            "reason": to_hide["reason"],
        }
    )
    merged = ordered_by_listing(listings, pd.concat([changes[keep], hides]))
    below_floor = acted.assign(base_price=acted["base_price"].astype("Int64"))[FLOOR_COLUMNS]
    return replace(plan, changes=merged, below_floor=below_floor.reset_index(drop=True))


def _floor_reasons(acted: pd.DataFrame, plan: PricingPlan, policy: SyncPolicy) -> list[str]:
    """``below floor: BASE ¥2,830 < floor ¥4,200 (amazon ¥4,000 + 5%); price ¥5,200 held: ...``."""
    why: dict[tuple[str, int], str] = {}
    for flagged in plan.flagged_prices():
        why[(flagged.account_id, flagged.base_item_id)] = (
            f"price ¥{flagged.computed_price:,} refused: {flagged.reason}"
        )
    for held in field_changes(plan.held[plan.held["field"].eq("price")]):
        why[(held.account_id, held.base_item_id)] = f"price ¥{held.new_value:,} held: {held.reason}"
    margin = f"{_pct_text(policy.min_margin_pct)}%" + (
        f" + ¥{policy.min_margin_yen:,}" if policy.min_margin_yen else ""
    )
    reasons = []
    columns = acted[["account_id", "base_item_id", "base_price", "floor_price", "amazon_price_yen"]]
    for account_id, item_id, base_price, floor_price, amazon_price in columns.itertuples(
        index=False, name=None
    ):
        base = "BASE price unknown" if pd.isna(base_price) else f"BASE ¥{int(base_price):,}"
        reasons.append(
            f"{FLOOR_REASON_PREFIX}{base} < floor ¥{int(floor_price):,} (amazon ¥{int(amazon_price):,} + {margin}); "
            + why.get((account_id, int(item_id)), "price not pushed this run")
            + "; not public until the price is in place"
        )
    return reasons


def _visibility_changes(listings: pd.DataFrame, policy: SyncPolicy, now: datetime | None) -> pd.DataFrame:
    """Out of stock / filtered out → hidden; in stock → public; unknown for too long → hidden."""
    frame = listings
    state = frame["stock_state"]
    desired = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    desired[state.isin(_HIDE_STATES)] = 0
    desired[state.eq("in_stock")] = 1
    unknown_text = _unknown_too_long(frame, policy, now)
    too_long = unknown_text.notna() & ~state.isin(_HIDE_STATES)
    desired[too_long] = 0
    current = frame["base_visible"].astype("boolean").astype("Int64")
    differs = desired.notna() & (current.isna() | (current != desired)).fillna(True)
    frame, desired, current = frame[differs], desired[differs], current[differs]
    reason = np.where(desired.eq(0), "amazon " + frame["stock_state"].astype(str), "amazon back in stock")
    reason = np.where(too_long[differs].to_numpy(dtype=bool), unknown_text[differs].astype(object), reason)
    return pd.DataFrame(
        {
            "account_id": frame["account_id"],
            "asin": frame["asin"],
            "base_item_id": frame["base_item_id"],
            "field": "visible",
            "old_value": current,
            "new_value": desired.astype("int64"),
            "reason": reason,
            "_order": frame["_order"],
        }
    )


def _unknown_too_long(frame: pd.DataFrame, policy: SyncPolicy, now: datetime | None) -> pd.Series:
    """Per listing, the hide reason when its Amazon state has been unknown for longer than
    ``policy.unknown_hide_after`` (issue #11 §3), else NA.

    Unknown: the last fetch gave no answer (an error, ``ActiveButTooSoonForProcessing``, a per-item
    error), or no fetch was ever made. Counted from the last good answer (``stock_fetched_at``),
    or from when the listing was registered if there never was one.
    """
    reasons = pd.Series(pd.NA, index=frame.index, dtype=object)
    limit = policy.unknown_hide_after
    if limit is None or now is None or frame.empty:
        return reasons
    unknown = frame["last_outcome"].isna() | frame["last_outcome"].eq("error")
    answered = frame["stock_fetched_at"].notna()
    since = frame["stock_fetched_at"].where(answered, frame["listed_at"])
    age = pd.Timestamp(now) - since
    too_long = (unknown & (age > limit)).fillna(False).astype(bool)
    if not too_long.any():
        return reasons
    hours = (age[too_long].dt.total_seconds() / 3600).round(1)
    limit_text = f"{limit.total_seconds() / 3600:g}"
    where = np.where(answered[too_long], "since the last good answer", "never answered since listed")
    reasons[too_long] = [
        f"Amazon stock unknown for {h:g} h ({w}; limit {limit_text} h)"
        for h, w in zip(hours, where, strict=True)
    ]
    return reasons


def _markup_text(ratio: tuple[int, int]) -> str:
    """``(13, 10)`` → ``"1.3"``."""
    value = Decimal(ratio[0]) / Decimal(ratio[1])
    return format(value.normalize(), "f")


def item_updates(changes: pd.DataFrame) -> list[ItemUpdate]:
    """Group per-field changes (:data:`CHANGE_COLUMNS`) into one BASE edit per item, in order."""
    grouped: dict[tuple[str, int], tuple[str, dict[str, int], dict[str, int | None], dict[str, str]]] = {}
    for change in field_changes(changes):
        key = (change.account_id, change.base_item_id)
        _, new, old, reasons = grouped.setdefault(key, (change.asin, {}, {}, {}))
        new[change.field] = change.new_value
        old[change.field] = change.old_value
        reasons[change.field] = change.reason
    return [
        ItemUpdate(account_id, asin, item_id, new, old, reasons)
        for (account_id, item_id), (asin, new, old, reasons) in grouped.items()
    ]


def merge_plans(plans: Sequence[PricingPlan]) -> PricingPlan:
    """The plans of a run's rounds as one, for its report: every change any round planned (a
    change planned again, unchanged, once: its last attempt), every price flagged and every floor
    action; what is held is the last round's (each round plans every listing, so its holds are
    the run's)."""
    if not plans:
        raise ValueError("no plan to merge")
    if len(plans) == 1:
        return plans[0]

    def union(frames: list[pd.DataFrame], key: list[str]) -> pd.DataFrame:
        kept = [f for f in frames if not f.empty]
        if not kept:
            return frames[-1]
        merged = pd.concat(kept, ignore_index=True) if len(kept) > 1 else kept[0]
        return merged.drop_duplicates(subset=key, keep="last").reset_index(drop=True)

    change_key = ["account_id", "base_item_id", "field", "new_value"]
    last = plans[-1]
    return replace(
        last,
        changes=union([p.changes for p in plans], change_key),
        released=union([p.released for p in plans], change_key),
        flagged=union([p.flagged for p in plans], ["account_id", "base_item_id"]),
        below_floor=union([p.below_floor for p in plans], ["account_id", "base_item_id"]),
        variation_stock=tuple(dict.fromkeys(t for p in plans for t in p.variation_stock)),
    )
