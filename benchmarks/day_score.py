"""Scoring a day in a shop: how long BASE stayed wrong after each market event. Pure functions.

Inputs are the market's ground truth (:class:`ecauto_sandbox.market.MarketTruth`) and what
BASE showed, read from the simulator (the items at the start and every accepted ``items/edit``
with the item it answered): never the product's database or code. Times are virtual seconds
since the market started.

Per listing (shop × item), the truth and BASE are merged into one timeline. An *episode* starts
with a market event inside the scored window that makes BASE wrong:

- ``sell_out``: Amazon sells out while the item is public; it ends when BASE hides it
  (*caught*) or Amazon restocks first (*reverted*);
- ``restock``: Amazon restocks while the item is hidden; ends when BASE publishes it (*caught*)
  or Amazon sells out again first (*reverted*);
- ``price``: a price move takes the target (Amazon × markup, rounded half-up to ¥10) ¥100 or
  more away from BASE's price while it was within ¥100 before; ends when BASE's price is within
  ¥100 of the target again, by an edit (*caught*) or by another move (*reverted*), or when
  Amazon sells out (*moot*).

An episode still running when the window ends is *open*. Latencies (p50 / p95 / max) are those of
the caught episodes; the others are counted. Exposure integrates, over the window, the
listing-minutes an item was public while Amazon was out of stock, public below Amazon ×
(1 + min margin) (+ min margin yen), and public and in stock but ¥100 or more off its target.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from benchmarks.metrics import percentile
from ecauto_sandbox.market import PRICE, RESTOCK, SELL_OUT, MarketTruth
from ecauto_sandbox.scenario import round_half_up

CAUGHT, REVERTED, MOOT, OPEN = "caught", "reverted", "moot", "open"


@dataclass(frozen=True)
class Pricing:
    """The seller's rules the score judges BASE by (the product's defaults)."""

    markup: Decimal = Decimal("1.3")
    rounding_yen: int = 10
    min_change_yen: int = 100
    min_margin_pct: Decimal = Decimal("5")
    min_margin_yen: int = 0

    def target(self, amazon_yen: int) -> int:
        ratio = Fraction(self.markup)
        return round_half_up(amazon_yen, ratio.numerator, ratio.denominator, self.rounding_yen)

    def below_floor(self, price: int, amazon_yen: int) -> bool:
        return Decimal(price) < Decimal(amazon_yen) * (1 + self.min_margin_pct / 100) + self.min_margin_yen


@dataclass(frozen=True, slots=True)
class Listing:
    shop_id: str
    item_id: int
    asin: str


@dataclass(frozen=True, slots=True)
class BaseChange:
    """BASE's item after an accepted edit, at ``at`` virtual seconds."""

    at: float
    shop_id: str
    item_id: int
    price: int
    visible: int


@dataclass(frozen=True, slots=True)
class Episode:
    kind: str
    shop_id: str
    asin: str
    start: float
    end: float
    outcome: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class DayScore:
    """Episodes and exposure of one day (see the module docstring)."""

    window: tuple[float, float]
    episodes: list[Episode] = field(default_factory=list)
    exposure_seconds: Counter = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        kinds: dict[str, Any] = {}
        for kind in (SELL_OUT, RESTOCK, PRICE):
            mine = [e for e in self.episodes if e.kind == kind]
            caught = [e.seconds / 60.0 for e in mine if e.outcome == CAUGHT]
            kinds[kind] = {
                "episodes": len(mine),
                **{o: sum(1 for e in mine if e.outcome == o) for o in (CAUGHT, REVERTED, MOOT, OPEN)},
                "minutes_p50": percentile(caught, 50),
                "minutes_p95": percentile(caught, 95),
                "minutes_max": max(caught, default=None),
            }
        return {
            "window_hours": (self.window[1] - self.window[0]) / 3600.0,
            "events": kinds,
            "exposure_listing_minutes": {k: v / 60.0 for k, v in sorted(self.exposure_seconds.items())},
        }

    def hourly(self) -> list[dict[str, Any]]:
        """Per hour of the window: caught episodes' p50/p95 minutes by kind (for the plot)."""
        start, end = self.window
        hours = max(1, round((end - start) / 3600.0))
        rows = []
        for hour in range(hours):
            row: dict[str, Any] = {"hour": hour}
            for kind in (SELL_OUT, RESTOCK, PRICE):
                values = [
                    e.seconds / 60.0
                    for e in self.episodes
                    if e.kind == kind and e.outcome == CAUGHT and int((e.start - start) // 3600) == hour
                ]
                row[kind] = {
                    "caught": len(values),
                    "p50": percentile(values, 50),
                    "p95": percentile(values, 95),
                }
            rows.append(row)
        return rows


def score_day(
    truth: MarketTruth,
    listings: Iterable[Listing],
    base_initial: dict[tuple[str, int], tuple[int, int]],
    changes: Iterable[BaseChange],
    window: tuple[float, float],
    pricing: Pricing | None = None,
) -> DayScore:
    """Episodes and exposure of every listing whose ASIN the market moves."""
    pricing = pricing or Pricing()
    by_item: dict[tuple[str, int], list[BaseChange]] = defaultdict(list)
    for change in sorted(changes, key=lambda c: c.at):
        by_item[(change.shop_id, change.item_id)].append(change)
    events = truth.by_asin()
    score = DayScore(window)
    for listing in listings:
        if listing.asin not in truth.initial:
            continue
        key = (listing.shop_id, listing.item_id)
        amazon = truth.timeline(listing.asin, events.get(listing.asin, ()))
        _score_listing(score, listing, amazon, base_initial[key], by_item.get(key, ()), pricing)
    return score


def _score_listing(
    score: DayScore,
    listing: Listing,
    amazon: Sequence[tuple[float, bool, int | None]],
    base_start: tuple[int, int],
    changes: Sequence[BaseChange],
    pricing: Pricing,
) -> None:
    start, end = score.window
    # One merged sequence of change points: ("a", in_stock, yen) from the market, ("b", price,
    # visible) from BASE; at equal times the market goes first (BASE cannot react in zero time).
    points: list[tuple[float, int, tuple[Any, ...]]] = [(t, 0, (s, y)) for t, s, y in amazon[1:]]
    points += [(c.at, 1, (c.price, c.visible)) for c in changes]
    points.sort(key=lambda p: (p[0], p[1]))
    in_stock, yen = amazon[0][1], amazon[0][2]
    price, visible = base_start
    open_: dict[str, float] = {}

    def right_price() -> bool:
        return yen is None or abs(price - pricing.target(yen)) < pricing.min_change_yen

    def close(kind: str, at: float, outcome: str) -> None:
        began = open_.pop(kind, None)
        if began is not None:
            score.episodes.append(Episode(kind, listing.shop_id, listing.asin, began, at, outcome))

    last = 0.0
    for at, source, values in [*points, (end, 2, ())]:
        _expose(score, last, min(at, end), in_stock, yen, price, visible, pricing)
        last = max(last, at)
        if at > end or source == 2:
            break
        if source == 0:
            was_in, was_right = in_stock, in_stock and right_price()
            in_stock, yen = values[0], values[1] if values[1] is not None else yen
            scored = start <= at
            if was_in and not in_stock:
                close(RESTOCK, at, REVERTED)
                close(PRICE, at, MOOT)
                if visible and scored:
                    open_[SELL_OUT] = at
            elif not was_in and in_stock:
                close(SELL_OUT, at, REVERTED)
                if not visible and scored:
                    open_[RESTOCK] = at
            elif in_stock:
                now_right = right_price()
                if now_right:
                    close(PRICE, at, REVERTED)
                elif was_right and scored:
                    open_[PRICE] = at
        else:
            price, visible = values
            if not visible:
                close(SELL_OUT, at, CAUGHT)
            if visible:
                close(RESTOCK, at, CAUGHT)
            if in_stock and right_price():
                close(PRICE, at, CAUGHT)
    for kind in list(open_):
        close(kind, end, OPEN)


def _expose(
    score: DayScore,
    a: float,
    b: float,
    in_stock: bool,
    yen: int | None,
    price: int,
    visible: int,
    pricing: Pricing,
) -> None:
    a, b = max(a, score.window[0]), min(b, score.window[1])
    if b <= a or not visible:
        return
    seconds = b - a
    if not in_stock:
        score.exposure_seconds["public_out_of_stock"] += seconds
        return
    if yen is None:
        return
    if pricing.below_floor(price, yen):
        score.exposure_seconds["public_below_floor"] += seconds
    if abs(price - pricing.target(yen)) >= pricing.min_change_yen:
        score.exposure_seconds["public_mispriced"] += seconds


# --------------------------------------------------------------------------------------------
# the seed's approach, modelled on the same market


SEED_SPACING_SECONDS = 2.1  # benchmarks.baseline: one getItemOffers per ASIN, 2.1 s apart


def seed_model_changes(
    truth: MarketTruth,
    listings: Sequence[Listing],
    base_initial: dict[tuple[str, int], tuple[int, int]],
    horizon: float,
    *,
    spacing: float = SEED_SPACING_SECONDS,
    seconds_per_edit: float = 0.0,
    pricing: Pricing | None = None,
) -> tuple[list[BaseChange], dict[str, Any]]:
    """What BASE would have shown under the seed's loop (:mod:`benchmarks.baseline`), run back to back.

    Each cycle reads every ASIN once, in listing order, ``spacing`` virtual seconds apart, then
    pushes every change it found (hide if sold out, publish if back, reprice when ¥100 or more
    off; no guards), ``seconds_per_edit`` each, one after another; the next cycle starts when the
    pushes are done. A model, not a run: it costs no quota and no time.
    """
    pricing = pricing or Pricing()
    events = truth.by_asin()
    asins = [a for a in dict.fromkeys(listing.asin for listing in listings) if a in truth.initial]
    timelines = {a: truth.timeline(a, events.get(a, ())) for a in asins}
    times = {a: [p[0] for p in line] for a, line in timelines.items()}
    shown = {(x.shop_id, x.item_id): base_initial[(x.shop_id, x.item_id)] for x in listings}
    per_asin: dict[str, list[Listing]] = defaultdict(list)
    for listing in listings:
        per_asin[listing.asin].append(listing)
    changes: list[BaseChange] = []
    cycles: list[float] = []
    t = 0.0
    while t < horizon:
        cycle_start = t
        seen = {}
        for i, asin in enumerate(asins):
            at = cycle_start + i * spacing
            line = timelines[asin]
            seen[asin] = line[bisect.bisect_right(times[asin], at) - 1]
        t = cycle_start + len(asins) * spacing
        for asin in asins:
            _, in_stock, yen = seen[asin]
            for listing in per_asin[asin]:
                key = (listing.shop_id, listing.item_id)
                price, visible = shown[key]
                new_price, new_visible = price, visible
                if not in_stock:
                    new_visible = 0
                else:
                    new_visible = 1
                    if yen is not None and abs(pricing.target(yen) - price) >= pricing.min_change_yen:
                        new_price = pricing.target(yen)
                if (new_price, new_visible) != (price, visible):
                    t += seconds_per_edit
                    shown[key] = (new_price, new_visible)
                    changes.append(BaseChange(t, listing.shop_id, listing.item_id, new_price, new_visible))
        cycles.append(t - cycle_start)
        if not asins:
            break
    return changes, {
        "spacing_seconds": spacing,
        "seconds_per_edit": seconds_per_edit,
        "cycles": len(cycles),
        "cycle_hours_mean": (sum(cycles) / len(cycles) / 3600.0) if cycles else None,
        "edits": len(changes),
    }


# --------------------------------------------------------------------------------------------
# quota and budget use over the day


@dataclass(frozen=True, slots=True)
class Call:
    """One API call the simulator answered, reduced to what the day's figures need."""

    at: float  # virtual seconds since the market started
    service: str
    operation: str
    status: int
    error_code: str | None = None
    shop_id: str | None = None
    asins: int = 0


def quota_over_day(
    calls: Iterable[Call], window: tuple[float, float], plans: dict[str, tuple[float, int]]
) -> dict[str, Any]:
    """Per SP-API operation: calls, 429s, ASINs, and the share of the window's quota used
    (accepted calls ÷ rate × window), overall and per hour of the window."""
    start, end = window
    hours = max(1, round((end - start) / 3600.0))
    out: dict[str, Any] = {}
    mine: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        if call.service == "sp-api" and start <= call.at < end:
            mine[call.operation].append(call)
    for operation, (rate, _burst) in plans.items():
        ops = mine.get(operation, [])
        accepted = [c for c in ops if c.status != 429]
        per_hour = Counter(int((c.at - start) // 3600) for c in accepted)
        out[operation] = {
            "quota_rate": rate,
            "calls": len(ops),
            "accepted": len(accepted),
            "throttled": len(ops) - len(accepted),
            "asins": sum(c.asins for c in accepted),
            "day_use": len(accepted) / (rate * (end - start)) if end > start else None,
            "hourly_use": [per_hour.get(h, 0) / (rate * 3600.0) for h in range(hours)],
        }
    return out


def base_calls_per_shop_hour(calls: Iterable[Call], window: tuple[float, float]) -> dict[str, Any]:
    """Per shop: the items calls BASE counted in each hour of the window (its budget's measure)."""
    start, end = window
    hours = max(1, round((end - start) / 3600.0))
    counted: dict[str, Counter] = defaultdict(Counter)
    edits: Counter = Counter()
    refused: Counter = Counter()
    for call in calls:
        if call.service != "base" or call.operation == "baseToken" or not call.shop_id:
            continue
        if not start <= call.at < end:
            continue
        if call.error_code in ("hour_api_limit", "day_api_limit"):
            refused[call.shop_id] += 1
            continue
        if call.error_code == "invalid_request":  # refused for its token: not counted by BASE
            continue
        counted[call.shop_id][int((call.at - start) // 3600)] += 1
        if call.operation == "itemsEdit" and call.status == 200:
            edits[call.shop_id] += 1
    out = {}
    for shop in sorted(counted):
        series = [counted[shop].get(h, 0) for h in range(hours)]
        out[shop] = {
            "calls": sum(series),
            "edits": edits[shop],
            "refused_by_budget": refused[shop],
            "per_hour_max": max(series),
            "per_hour_mean": sum(series) / hours,
            "per_hour_p95": percentile(series, 95),
            "hourly": series,
        }
    return out


def stock_age(
    fetches: Iterable[tuple[float, Sequence[str]]],
    asins: Iterable[str],
    window: tuple[float, float],
    sample_seconds: float = 300.0,
) -> dict[str, Any]:
    """How old each ASIN's last offers answer was over the window (hours).

    ``fetches`` are ``(at, asins)`` of the offers calls Amazon answered (batch and single). An
    ASIN's age at ``t`` is ``t`` minus its last fetch at or before ``t`` (its warm-up fetches
    count; one never fetched since the warm-up began counts from its start). Sampled every
    ``sample_seconds``: percentiles over every ASIN and sample, and each ASIN's oldest.
    """
    import numpy as np

    start, end = window
    by_asin: dict[str, list[float]] = {a: [0.0] for a in asins}
    for at, fetched in fetches:
        for asin in fetched:
            if asin in by_asin and at <= end:
                by_asin[asin].append(at)
    samples = np.arange(start, end, sample_seconds)
    ages, oldest = [], []
    for times in by_asin.values():
        line = np.sort(np.asarray(times))
        last = line[np.searchsorted(line, samples, side="right") - 1]
        age = (samples - last) / 3600.0
        ages.append(age)
        gaps = np.diff(np.concatenate([line[line <= start][-1:], line[(line > start)], [end]]))
        oldest.append(float(gaps.max()) / 3600.0 if gaps.size else (end - start) / 3600.0)
    flat = np.concatenate(ages) if ages else np.array([])
    return {
        "asins": len(by_asin),
        "age_hours_p50": float(np.percentile(flat, 50)) if flat.size else None,
        "age_hours_p95": float(np.percentile(flat, 95)) if flat.size else None,
        "oldest_hours_p50": percentile(oldest, 50),
        "oldest_hours_p95": percentile(oldest, 95),
        "oldest_hours_max": max(oldest, default=None),
    }
