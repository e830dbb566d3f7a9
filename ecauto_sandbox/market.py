"""A market that changes while the product runs: seeded sell-outs, restocks and price moves.

The simulator's products are otherwise still: they change only when a test calls
``sb.sell_out`` / ``sb.restock`` / ``sb.set_price``. A :class:`MarketRunner` makes those calls
itself, at planned virtual times, from a thread beside the server, and records every change it
made with the virtual time it took effect: the market's ground truth, which a benchmark scores
the product against (``benchmarks/day.py``). Nothing here is Amazon's documented behaviour: the
rates are our guesses (docs/performance.md, "A day in a shop").

Model (per ASIN, independent, each from its own seeded stream):

- every ASIN belongs to one :class:`VolatilityClass`, drawn with the classes' shares;
- stock is a two-state Markov process: in stock → sold out at ``sell_out_per_hour``; sold out →
  restocked at ``restock_per_hour`` (a mean of ``1 / restock_per_hour`` hours out of stock). The
  state at the start is drawn from the process's stationary share
  ``sell_out / (sell_out + restock)``;
- while in stock the price moves at ``price_moves_per_hour`` (a Poisson process); each move sets
  the chosen offer's listing price to the ASIN's reference price × (1 + u), u uniform in
  ``±price_band`` (at least ``min_move`` of the reference away from the current price, whole yen):
  prices wander around a level rather than drift, so one move is at most ``2 × band`` of it;
- a restock brings back the offers kept at the sell-out, at the price they had.

:meth:`MarketModel.heterogeneous` is the default (most ASINs calm, a volatile minority);
:meth:`MarketModel.uniform` gives every ASIN the share-weighted mean rates of the same model.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ecauto_lib.domain import Outcome
from ecauto_sandbox.scenario import Product, Scenario

if TYPE_CHECKING:
    from ecauto_sandbox.state import SandboxState

SELL_OUT = "sell_out"
RESTOCK = "restock"
PRICE = "price"
EVENT_KINDS = (SELL_OUT, RESTOCK, PRICE)


@dataclass(frozen=True)
class VolatilityClass:
    """One kind of ASIN: how often it sells out, comes back and changes price (per virtual hour)."""

    name: str
    share: float
    sell_out_per_hour: float  # while in stock
    restock_per_hour: float  # while sold out: 1 / mean hours out of stock
    price_moves_per_hour: float  # while in stock

    @property
    def out_of_stock_share(self) -> float:
        """The stationary share of time out of stock."""
        total = self.sell_out_per_hour + self.restock_per_hour
        return self.sell_out_per_hour / total if total > 0 else 0.0


@dataclass(frozen=True)
class MarketModel:
    """The market's processes and their parameters (see the module docstring)."""

    name: str
    classes: tuple[VolatilityClass, ...]
    price_band: float = 0.15  # a price stays within ±15 % of the ASIN's reference price
    min_move: float = 0.02  # a move changes the price by at least 2 % of the reference

    def __post_init__(self) -> None:
        if not self.classes or not math.isclose(sum(c.share for c in self.classes), 1.0):
            raise ValueError("the classes' shares must add up to 1")
        if not 0 < self.min_move < self.price_band < 1:
            raise ValueError("need 0 < min_move < price_band < 1")

    @classmethod
    def heterogeneous(cls) -> MarketModel:
        """85 % calm ASINs, 15 % volatile ones (rates: docs/performance.md, "A day in a shop")."""
        return cls(
            "heterogeneous",
            (
                # sells out about every 10 days, back after 12 h; a price move every 4 days
                VolatilityClass("calm", 0.85, 0.004, 1 / 12, 0.01),
                # sells out about twice a day, back after 2 h; six price moves a day
                VolatilityClass("volatile", 0.15, 0.08, 1 / 2, 0.25),
            ),
        )

    @classmethod
    def uniform(cls, like: MarketModel | None = None) -> MarketModel:
        """Every ASIN at the share-weighted mean rates of ``like`` (default: the heterogeneous model)."""
        like = like or cls.heterogeneous()

        def mean(rate: str) -> float:
            return sum(c.share * getattr(c, rate) for c in like.classes)

        every = VolatilityClass(
            "uniform",
            1.0,
            mean("sell_out_per_hour"),
            mean("restock_per_hour"),
            mean("price_moves_per_hour"),
        )
        return replace(like, name="uniform", classes=(every,))

    @classmethod
    def named(cls, name: str) -> MarketModel:
        """``"heterogeneous"`` or ``"uniform"``."""
        if name == "heterogeneous":
            return cls.heterogeneous()
        if name == "uniform":
            return cls.uniform()
        raise ValueError(f"unknown market {name!r} (known: heterogeneous, uniform)")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "price_band": self.price_band,
            "min_move": self.min_move,
            "classes": [
                {
                    "name": c.name,
                    "share": c.share,
                    "sell_out_per_hour": c.sell_out_per_hour,
                    "restock_per_hour": c.restock_per_hour,
                    "mean_hours_out_of_stock": 1 / c.restock_per_hour if c.restock_per_hour else None,
                    "price_moves_per_hour": c.price_moves_per_hour,
                    "out_of_stock_share": c.out_of_stock_share,
                }
                for c in self.classes
            ],
        }


@dataclass(frozen=True, slots=True)
class MarketEvent:
    """One change: at ``at`` virtual seconds after the market's start, ``asin`` sells out, is
    restocked, or its chosen offer's listing price becomes ``listing_yen``. Once applied,
    ``amazon_yen`` is what a correct client reads (ListingPrice + Shipping of the chosen offer;
    None when sold out)."""

    at: float
    asin: str
    kind: str
    listing_yen: int | None = None
    amazon_yen: int | None = None


@dataclass(frozen=True, slots=True)
class InitialState:
    """An ASIN at the market's start: its class, whether it is in stock, what Amazon shows."""

    asin: str
    volatility: str
    in_stock: bool
    amazon_yen: int | None  # the chosen offer's ListingPrice + Shipping (the stashed one if sold out)


@dataclass(frozen=True)
class MarketPlan:
    """Every ASIN's start and every event over ``hours``, fixed by the model and the seed."""

    model: MarketModel
    seed: int
    hours: float
    initial: dict[str, InitialState]
    events: tuple[MarketEvent, ...]  # sorted by time

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(EVENT_KINDS, 0)
        for event in self.events:
            out[event.kind] += 1
        return out


def plan_market(scenario: Scenario, model: MarketModel, hours: float, seed: int = 0) -> MarketPlan:
    """The events of ``hours`` of market for every in-stock-or-sold-out product of ``scenario``.

    Products whose offers all miss the delivery filter (or have none at all) are left alone.
    Each ASIN draws from ``random.Random(f"{seed}|{model.name}|{asin}")``, so its history does
    not depend on the other ASINs, and the same seed gives the same market on every run.
    """
    horizon = hours * 3600.0
    initial: dict[str, InitialState] = {}
    events: list[MarketEvent] = []
    for asin in sorted(scenario.products):
        product = scenario.products[asin]
        offers = product.offers or product.stashed_offers
        chosen = Product(asin, "", "", offers=offers).chosen_offer()
        if chosen is None or product.status is not None:
            continue
        rng = random.Random(f"{seed}|{model.name}|{asin}")
        kind = _draw_class(model.classes, rng.random())
        in_stock = rng.random() >= kind.out_of_stock_share
        initial[asin] = InitialState(asin, kind.name, in_stock, chosen.total_yen)
        events += _history(asin, kind, model, rng, in_stock, chosen.listing_yen, horizon)
    events.sort(key=lambda e: (e.at, e.asin))
    return MarketPlan(model, seed, hours, initial, tuple(events))


def _draw_class(classes: Iterable[VolatilityClass], u: float) -> VolatilityClass:
    total = 0.0
    last = None
    for kind in classes:
        total += kind.share
        last = kind
        if u < total:
            return kind
    assert last is not None
    return last


def _history(
    asin: str,
    kind: VolatilityClass,
    model: MarketModel,
    rng: random.Random,
    in_stock: bool,
    reference_yen: int,
    horizon: float,
) -> list[MarketEvent]:
    out: list[MarketEvent] = []
    t, price = 0.0, reference_yen
    while True:
        rate = (kind.sell_out_per_hour + kind.price_moves_per_hour) if in_stock else kind.restock_per_hour
        if rate <= 0:
            return out
        t += rng.expovariate(rate) * 3600.0
        if t >= horizon:
            return out
        if not in_stock:
            in_stock = True
            out.append(MarketEvent(t, asin, RESTOCK))
        elif rng.random() * rate < kind.sell_out_per_hour:
            in_stock = False
            out.append(MarketEvent(t, asin, SELL_OUT))
        else:
            price = _moved(price, reference_yen, model, rng)
            out.append(MarketEvent(t, asin, PRICE, listing_yen=price))


def _moved(price: int, reference: int, model: MarketModel, rng: random.Random) -> int:
    """A new price within the band around ``reference``, at least ``min_move`` away from ``price``."""
    low = reference * (1 - model.price_band)
    high = reference * (1 + model.price_band)
    gap = reference * model.min_move
    for _ in range(100):
        candidate = max(1, round(rng.uniform(low, high)))
        if abs(candidate - price) >= gap:
            return candidate
    return max(1, round(low if price > reference else high))


def prepare(scenario: Scenario, plan: MarketPlan, markup_percent: int = 130) -> Scenario:
    """A copy of ``scenario`` at the market's start, with BASE in step with it.

    ASINs the plan starts sold out lose their offers (kept for the restock) and their BASE items
    are hidden; the others' items are public at Amazon × ``markup_percent`` / 100 rounded half-up
    to ¥10 (what the product's default pricing pushes). A benchmark then measures how the product
    *keeps* BASE right, not how it catches up with a wrong start.
    """
    from ecauto_sandbox.scenario import round_half_up

    ready = scenario.copy()
    for asin, start in plan.initial.items():
        product = ready.products[asin]
        if not start.in_stock and product.offers:
            product.stashed_offers, product.offers = product.offers, []
    for shop in ready.shops:
        for item in shop.items:
            start = plan.initial.get(item.asin or "")
            if start is None:
                continue
            item.visible = 1 if start.in_stock else 0
            if start.amazon_yen is not None:
                item.price = round_half_up(start.amazon_yen, markup_percent, 100)
    return replace(ready, name=f"{scenario.name} + market({plan.model.name}, seed={plan.seed})")


@dataclass
class MarketTruth:
    """What the market did: every ASIN's start and every event as applied (virtual seconds since
    the market started, the time the change took effect in the simulator)."""

    initial: dict[str, InitialState]
    events: list[MarketEvent] = field(default_factory=list)
    late_seconds_max: float = 0.0  # the longest an event was applied after its planned time

    def by_asin(self) -> dict[str, list[MarketEvent]]:
        """The applied events grouped by ASIN, each list in time order."""
        index: dict[str, list[MarketEvent]] = {}
        for event in self.events:
            index.setdefault(event.asin, []).append(event)
        return index

    def timeline(
        self, asin: str, events: Iterable[MarketEvent] | None = None
    ) -> list[tuple[float, bool, int | None]]:
        """``(at, in_stock, amazon_yen)`` from the start (at 0) through every event of ``asin``
        (``events``: that ASIN's, when the caller has grouped them already)."""
        start = self.initial[asin]
        points: list[tuple[float, bool, int | None]] = [(0.0, start.in_stock, start.amazon_yen)]
        mine = events if events is not None else (e for e in self.events if e.asin == asin)
        for event in mine:
            points.append((event.at, event.kind != SELL_OUT, event.amazon_yen or points[-1][2]))
        return points


class MarketRunner:
    """Applies a :class:`MarketPlan` to a running sandbox on its virtual clock, in a thread.

    ``start()`` anchors the plan's time 0 at the clock's current virtual time (or the one given);
    ``stop()`` ends it (events not yet due are not applied). :attr:`truth` is the record of what was applied.
    """

    def __init__(self, state: SandboxState, plan: MarketPlan) -> None:
        self._state = state
        self._plan = plan
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.origin: float | None = None  # the clock's virtual seconds at the plan's time 0
        self.truth = MarketTruth(initial=dict(plan.initial))
        self._times = [e.at for e in plan.events]
        self._position = 0  # events before this one are applied

    def start(self, origin: float | None = None, *, thread: bool = True) -> MarketRunner:
        """Run the plan from the clock's virtual second ``origin`` (default: now), in a thread
        (``thread=False``: the caller applies events with :meth:`apply_due`)."""
        if self.origin is not None:
            raise RuntimeError("market already started")
        self.origin = self._state.clock.virtual_seconds() if origin is None else origin
        if not thread:
            return self
        self._thread = threading.Thread(target=self._run, name="ecauto-sandbox-market", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def now(self) -> float:
        """Virtual seconds since the plan's time 0."""
        assert self.origin is not None
        return self._state.clock.virtual_seconds() - self.origin

    def apply_due(self, now: float | None = None) -> int:
        """Apply every planned event due by ``now`` (virtual seconds since time 0; default: the
        clock's) that is not applied yet; returns how many. The thread calls this; so can a test."""
        now = self.now() if now is None else now
        due = bisect.bisect_right(self._times, now, lo=self._position)
        with self._state.lock:
            for event in self._plan.events[self._position : due]:
                self.truth.events.append(self._apply(event, now))
        count, self._position = due - self._position, due
        return count

    def _run(self) -> None:
        speed = self._state.clock.speed
        while self._position < len(self._times) and not self._stop.is_set():
            wait = (self._times[self._position] - self.now()) / speed
            if wait > 0:
                if self._stop.wait(min(wait, 0.5)):
                    return
                continue
            self.apply_due()

    def _apply(self, event: MarketEvent, applied_at: float) -> MarketEvent:
        state = self._state
        if event.kind == SELL_OUT:
            state.sell_out(event.asin)
        elif event.kind == RESTOCK:
            state.restock(event.asin)
        else:
            state.set_price(event.asin, event.listing_yen or 1)
        self.truth.late_seconds_max = max(self.truth.late_seconds_max, applied_at - event.at)
        expected = state.products[event.asin].expected()
        amazon = expected.price_yen if expected.outcome is Outcome.IN_STOCK else None
        if event.kind == PRICE and amazon is None:  # moved while sold out: the stashed offer moved
            amazon = _stashed_total(state.products[event.asin])
        return replace(event, at=applied_at, amazon_yen=amazon)


def _stashed_total(product: Product) -> int | None:
    chosen = Product(product.asin, "", "", offers=product.stashed_offers).chosen_offer()
    return chosen.total_yen if chosen else None
