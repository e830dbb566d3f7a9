"""Refresh value: which ASIN gains most from its next offers call (issue #17 §3).

Every offers call answers for a fixed number of ASINs (20 on getItemOffersBatch, 1 on
getItemOffers), so the value of a call is the value of the ASINs it carries, and the queue is
ordered by each ASIN's **expected harm of a stale answer**:

    harm = Σ over its listings of  hours the state may have been wrong since the last answer × cost of that wrong state

* The hours wrong (:func:`time_wrong`) = ∫₀^age P(changed by t) dt, with P(changed) =
  1 − exp(−rate × t) for each kind of change, a Poisson guess: rates per hour learned from the
  ASIN's own history in the master DB (:func:`learned_rate`), its sell-out rate raised when few
  offers are left. An ASIN's rate is shrunk towards the mean of all ASINs while its history is
  short, the more so the less the ASINs differ beyond chance (:func:`prior_weight_hours`): ASINs
  alike get the mean rate, and the order is the age order.
* Ranking by the time wrong rather than by P(changed) is the square-root law of crawl
  scheduling: it grows with rate × age² while changes are rare, so an ASIN with k times the
  listings or the rate is asked about √k times as often, not k times (ranking by P(changed)
  starved calm ASINs until the fairness floor and, where the learned rates differ only by
  chance, did worse than age order).
* The costs (:class:`Costs`) rank the wrong states: a listing **public while Amazon is sold out**
  (a sale that cannot be bought) worst, a **price below cost** next (likelier the thinner the
  price's headroom over the floor), a price merely off, and a missed restock (a hidden item that
  could sell: at most a sale's margin lost) least. Their numbers are our guess, not measured.
* **Fairness floor**: an ASIN whose last answer is older than the maximum age goes first (oldest
  first) whatever its value, after the never-fetched ones; so no ASIN is starved by the ordering.

With the same rates and listings for every ASIN the harm grows with age alone: the order is the
age order (oldest first), as before this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NEVER_FETCHED, FAIRNESS, VALUE = 0, 1, 2  # tiers, in queue order
# How much history outweighs the prior: a rate is the prior's until the ASIN has this many hours
# of its own. Learned from how much the ASINs differ (prior_weight_hours); 24 (a day; our choice)
# until there are changes to learn from.
PRIOR_WEIGHT_HOURS = 24.0
# Its bounds: at the top (over a year) every ASIN gets the mean rate, as when they do not differ.
PRIOR_WEIGHT_HOURS_RANGE = (1.0, 10_000.0)
# Amazon moves a price by up to about ±15 % of its level in the simulator's model (our guess for
# the real market): a price whose headroom over the floor is h falls below cost on an upward move
# larger than h.
PRICE_MOVE_SPAN = 0.3


@dataclass(frozen=True)
class ChangeRates:
    """How often an ASIN changes, per hour: sells out (while in stock), moves its price by at
    least the push threshold, comes back in stock (while sold out)."""

    sell_out: float
    price_move: float
    restock: float


@dataclass(frozen=True)
class Costs:
    """The harm of one listing in a wrong state, relative (our guess; see the module doc)."""

    public_sold_out: float = 4.0
    below_cost: float = 2.0
    wrong_price: float = 0.5
    missed_restock: float = 0.25  # a hidden item that could sell loses at most a sale's margin


@dataclass(frozen=True)
class RefreshCandidate:
    """One ASIN as the queue sees it: the age of its last offers answer (None: never fetched),
    its listings public and hidden on BASE, its rates, its offer count, and the thinnest price
    headroom of its public listings (BASE price ÷ floor − 1; None: unknown)."""

    asin: str
    age_hours: float | None
    public_listings: int
    hidden_listings: int
    rates: ChangeRates
    price_headroom: float | None = None
    offer_count: int | None = None


@dataclass(frozen=True)
class Refresh:
    """An ASIN's place in the queue: its tier, its expected harm and why (for --dry-run)."""

    asin: str
    tier: int
    harm: float
    reason: str


def learned_rate(
    events: int, hours: float, *, prior_rate: float, prior_hours: float = PRIOR_WEIGHT_HOURS
) -> float:
    """A rate per hour from ``events`` seen in ``hours`` of history, shrunk towards ``prior_rate``
    (a Gamma prior worth ``prior_hours`` of history)."""
    if events < 0 or hours < 0 or prior_rate < 0 or prior_hours <= 0:
        raise ValueError("events and hours must be 0 or more, the prior's weight positive")
    return (events + prior_rate * prior_hours) / (hours + prior_hours)


@dataclass(frozen=True)
class Prior:
    """What an ASIN's own rate of one kind of change is shrunk towards: the mean rate of all
    ASINs, worth ``hours`` of the ASIN's own history (:func:`learned_rate`)."""

    rate: float
    hours: float


def pooled_prior(events: Sequence[int], hours: Sequence[float], *, default_rate: float) -> Prior:
    """The prior from every ASIN's count of one kind of change over its hours of history: the
    mean rate (``default_rate`` before any change is seen) and :func:`prior_weight_hours`."""
    total_events, total_hours = sum(events), sum(hours)
    if total_events <= 0 or total_hours <= 0:
        return Prior(default_rate, PRIOR_WEIGHT_HOURS)
    return Prior(total_events / total_hours, prior_weight_hours(events, hours))


def prior_weight_hours(events: Sequence[int], hours: Sequence[float]) -> float:
    """How many hours of an ASIN's own history the mean rate is worth (the prior of
    :func:`learned_rate`), from how much the ASINs' counts of one kind of change differ beyond
    chance (empirical Bayes, the method of moments). With rates of mean m and variance v, a count
    over t hours has variance m·t + v·t², and the prior is worth m / v hours: ASINs that differ
    no more than Poisson chance would make them (v ≤ 0) all get the mean rate, which orders them
    by age; no changes seen yet: :data:`PRIOR_WEIGHT_HOURS`."""
    total_events, total_hours = sum(events), sum(hours)
    if total_events <= 0 or total_hours <= 0:
        return PRIOR_WEIGHT_HOURS
    mean = total_events / total_hours
    excess = sum((k - mean * t) ** 2 - mean * t for k, t in zip(events, hours, strict=True))
    squares = sum(t * t for t in hours)
    low, high = PRIOR_WEIGHT_HOURS_RANGE
    if excess <= 0 or squares <= 0:
        return high
    return min(high, max(low, mean / (excess / squares)))


def changed(rate: float, age_hours: float) -> float:
    """P(at least one change in ``age_hours``) for a Poisson process at ``rate`` per hour."""
    return -math.expm1(-max(0.0, rate) * max(0.0, age_hours))


def time_wrong(rate: float, age_hours: float) -> float:
    """The expected hours a state has been wrong ``age_hours`` after its last answer, for a
    Poisson change at ``rate`` per hour: ∫₀^age P(changed by t) dt = age − (1 − e^(−rate·age)) / rate
    (about rate·age²/2 while a change is rare, age − 1/rate once it is sure)."""
    rate, age = max(0.0, rate), max(0.0, age_hours)
    x = rate * age
    if x == 0.0:
        return 0.0
    if x < 1e-4:  # x + expm1(-x) loses its digits to cancellation here: the series instead
        return age * x * (0.5 - x / 6.0)
    return (x + math.expm1(-x)) / rate


def below_cost_share(headroom: float | None) -> float:
    """Of price moves, the share that would put a public price under the floor (half of the moves
    go up; the thinner the headroom the more of those cross it). Unknown headroom: the middle."""
    if headroom is None:
        return 0.25
    return max(0.0, min(0.5, 0.5 - headroom / PRICE_MOVE_SPAN))


def harms(c: RefreshCandidate, costs: Costs = Costs()) -> dict[str, float]:
    """The expected harm of ``c``'s stale answer, per kind of wrong state: listing-hours it may
    have been wrong since its last answer (:func:`time_wrong`) × the cost of that state."""
    age = c.age_hours or 0.0
    scarce = 1.0 + 0.5 / max(1, c.offer_count) if c.offer_count is not None else 1.0
    sold_hours = time_wrong(c.rates.sell_out * scarce, age)
    moved_hours = time_wrong(c.rates.price_move, age)
    below = below_cost_share(c.price_headroom)
    return {
        "sell-out": c.public_listings * sold_hours * costs.public_sold_out,
        "below cost": c.public_listings * moved_hours * below * costs.below_cost,
        "price": c.public_listings * moved_hours * (1.0 - below) * costs.wrong_price,
        "restock": c.hidden_listings * time_wrong(c.rates.restock, age) * costs.missed_restock,
    }


def refresh_order(
    candidates: Sequence[RefreshCandidate],
    *,
    max_age_hours: float,
    costs: Costs = Costs(),
    floor_hours: float | None = None,
) -> list[Refresh]:
    """``candidates`` in queue order: never fetched, then older than ``max_age_hours`` (oldest
    first), then by expected harm (highest first); ties by age (oldest first), then ASIN.
    ``floor_hours``: the maximum age the reasons name, when ``max_age_hours`` applies it early."""
    named = max_age_hours if floor_hours is None else floor_hours
    ranked: list[tuple[tuple[int, float, float, str], Refresh]] = []
    for c in candidates:
        if c.age_hours is None:
            ranked.append(
                ((NEVER_FETCHED, 0.0, 0.0, c.asin), Refresh(c.asin, NEVER_FETCHED, math.inf, "never fetched"))
            )
            continue
        parts = harms(c, costs)
        harm = sum(parts.values())
        if c.age_hours >= max_age_hours:
            reason = (
                f"older than {named:g} h ({c.age_hours:.1f} h)"
                if c.age_hours >= named
                else (f"due for the {named:g} h maximum age ({c.age_hours:.1f} h)")
            )
            ranked.append(((FAIRNESS, -c.age_hours, 0.0, c.asin), Refresh(c.asin, FAIRNESS, harm, reason)))
            continue
        worst = max(parts, key=lambda k: parts[k])
        listings = c.public_listings if worst != "restock" else c.hidden_listings
        state = "hidden" if worst == "restock" else "public"
        reason = (
            f"{worst} risk {harm:.3f} ({listings} {state}, {c.age_hours * 60:.0f} min old, "
            f"sell-out {c.rates.sell_out:.3f}/h, price {c.rates.price_move:.3f}/h)"
        )
        ranked.append(((VALUE, -harm, -c.age_hours, c.asin), Refresh(c.asin, VALUE, harm, reason)))
    ranked.sort(key=lambda pair: pair[0])
    return [r for _, r in ranked]
