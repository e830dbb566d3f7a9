"""Safety guards: never hide on a glitch.

A single "no offers" answer is not trusted (sp-api.md §3.1: false zero counts were reported after
the 2023 rate change, and ``ActiveButTooSoonForProcessing`` comes with an empty offer list).
Hiding a listing therefore needs a *re-checked* sell-out: a second observation, re-fetched in the
same run, must agree. If it disagrees the newer answer wins; if it fails, the stock is unknown
and nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

import pandas as pd

from ecauto_lib.domain import CHANGE_COLUMNS, HELD_KEY, FieldChange, HeldChange, Observation, Outcome
from ecauto_lib.settings_table import default


@dataclass(frozen=True)
class GuardPolicy:
    """Limits that hold a change for review instead of pushing it (configurable, on by default)."""

    max_move_pct: float = default(
        "ECAUTO_MAX_PRICE_MOVE_PCT"
    )  # a price moving more than this in one run is held
    # hiding more than this share of an account's listings trips the breaker
    breaker_hide_pct: float = default("ECAUTO_BREAKER_HIDE_PCT")
    breaker_cut_pct: float = default(
        "ECAUTO_BREAKER_CUT_PCT"
    )  # cutting more than this share of its prices trips it
    breaker_min_items: int = default(
        "ECAUTO_BREAKER_MIN_ITEMS"
    )  # fewer affected items than this never trip it


_GONE = (Outcome.OUT_OF_STOCK, Outcome.FILTERED_OUT)


def sell_outs_to_recheck(observations: Iterable[Observation], stored_states: Mapping[str, str]) -> list[str]:
    """ASINs newly observed out of stock / filtered out whose stored state says otherwise."""
    return [
        o.asin
        for o in observations
        if o.outcome in _GONE and stored_states.get(o.asin) not in ("out_of_stock", "filtered_out")
    ]


def merge_rechecks(first: Iterable[Observation], second: Iterable[Observation]) -> list[Observation]:
    """Merge the re-checks' answers into the first observations.

    For each re-fetched ASIN: the second answer replaces the first when it is a real answer (it is
    newer); a failed second answer turns the sell-out into *unknown* (an error observation), so it
    changes nothing.
    """
    recheck = {o.asin: o for o in second}
    merged = []
    for o in first:
        again = recheck.get(o.asin)
        if again is None:
            merged.append(o)
        elif again.outcome is Outcome.ERROR:
            merged.append(
                replace(
                    again,
                    reason=f"sell-out re-check failed ({o.outcome}, then {again.reason or 'an error'})",
                )
            )
        else:
            merged.append(again)
    return merged


# --------------------------------------------------------------------------------------------
# Price and volume guards (vectorised on the planned changes)
# --------------------------------------------------------------------------------------------

RELEASED_PREFIX = "released with --confirm: "
BREAKER_PREFIX = "circuit breaker: "  # the reason of every change a circuit breaker held


@dataclass(frozen=True)
class GuardOutcome:
    """The planned changes split by the guards (each frame has ``domain.CHANGE_COLUMNS``)."""

    push: pd.DataFrame  # to push now (including the released ones)
    held: pd.DataFrame  # held for review, with the guard's reason
    released: pd.DataFrame  # held again by the guards, but released by --confirm (a subset of push)


def hold_risky_changes(
    changes: pd.DataFrame,
    listings_per_account: Mapping[str, int],
    policies: Mapping[str, GuardPolicy],
    *,
    releasable: Collection[HeldChange] = (),
    earlier: Mapping[tuple[str, str], int] | None = None,
) -> GuardOutcome:
    """Split planned changes into pushed, held for review and released.

    - A price that moves more than ``max_move_pct`` from what BASE shows is held.
    - Circuit breaker, per account: if the run would hide more than ``breaker_hide_pct`` of the
      account's listings, or cut more than ``breaker_cut_pct`` of its prices, none of those hides
      (or cuts) is pushed: all are held, with the reason. Only counts of at least
      :func:`breaker_min_items` trip it (``breaker_min_items``, scaled down in small shops).
    ``policies`` maps account id → its limits (accounts missing from it use the defaults).

    ``releasable`` (``--confirm``): the changes an earlier run held (stored in the master DB). A
    change the guards hold now is released when it matches one of them by shop, item, field and
    value: the value is recomputed from the current Amazon price, so a match is still valid.
    Everything else meets every guard as in any run.

    ``earlier``: what earlier rounds of the same run pushed, per (account id, ``"hide"`` or
    ``"cut"``): a run that pushes as it goes counts its breaker over the whole run, as a run
    that pushes once does.
    """
    empty = pd.DataFrame(columns=CHANGE_COLUMNS)
    if changes.empty:
        return GuardOutcome(changes, empty, empty)
    default = GuardPolicy()
    limit_of = {a: policies.get(a, default) for a in changes["account_id"].unique()}
    reason = pd.Series("", index=changes.index, dtype=object)
    is_price = changes["field"].eq("price")
    old = changes["old_value"].astype("Float64")
    move_pct = ((changes["new_value"] - old).abs() / old * 100).where(is_price & old.gt(0))
    max_move = changes["account_id"].map(lambda a: limit_of[a].max_move_pct).astype(float)
    too_far = move_pct.gt(max_move).fillna(False).astype(bool)
    reason[too_far] = (
        "price move "
        + move_pct[too_far].round(0).astype("Int64").astype(str)
        + "% exceeds ±"
        + max_move[too_far].map("{:g}".format)
        + "% (run with --confirm to release)"
    )

    hides = changes["field"].eq("visible") & changes["new_value"].eq(0)
    cuts = is_price & (changes["new_value"] < old).fillna(False).astype(bool)
    for kind, short, mask, limit_name in (
        ("hide", "hide", hides, "breaker_hide_pct"),
        ("cut the price of", "cut", cuts, "breaker_cut_pct"),
    ):
        counts = changes[mask].groupby("account_id").size()
        for key, now in counts.items():
            account_id = str(key)  # the groupby key: an account_id
            count = int(now) + (earlier or {}).get((account_id, short), 0)
            policy = limit_of[account_id]
            limit = getattr(policy, limit_name)
            total = max(1, int(listings_per_account.get(account_id, 0)))
            share = 100 * count / total
            if count >= breaker_min_items(policy, total) and share > limit:
                tripped = mask & changes["account_id"].eq(account_id)
                reason[tripped] = (
                    f"{BREAKER_PREFIX}this run would {kind} {count} of {total} listings ({share:.0f}% > {limit:g}%); "
                    "nothing of the kind was pushed (run with --confirm to release); planned because: "
                    + changes.loc[tripped, "reason"].astype(str)
                )
    held_mask = reason.ne("")
    released_mask = held_mask & _matches(changes, releasable)
    held_mask &= ~released_mask
    held = changes[held_mask].assign(reason=reason[held_mask])[CHANGE_COLUMNS]
    push = changes[~held_mask].copy()
    push.loc[released_mask[~held_mask], "reason"] = RELEASED_PREFIX + push["reason"].astype(str)
    released = changes[released_mask][CHANGE_COLUMNS]
    return GuardOutcome(push, held.reset_index(drop=True), released.reset_index(drop=True))


BREAKER_FLOOR_ITEMS = 2  # a single item never trips the breaker (a shop's one sell-out is hidden)


def breaker_min_items(policy: GuardPolicy, shop_size: int) -> int:
    """The fewest affected items that trip a breaker in a shop of ``shop_size`` listings.

    ``breaker_min_items`` (5) keeps a big shop's breaker from tripping on a handful of items, but
    in a shop of 5 it would let 3 hides of 5 (60 %) through. So the minimum is at most half the
    shop (rounded up: 3 in a shop of 5), and at least 2 (one item alone never trips it: a
    one-listing shop's sell-out is hidden), unless the configured minimum is lower still.
    """
    return min(policy.breaker_min_items, max(BREAKER_FLOOR_ITEMS, math.ceil(shop_size / 2)))


def breaker_not_armed(policy: GuardPolicy, shop_size: int) -> str | None:
    """Why a shop's circuit breakers cannot trip this run (None when they can), for the report."""
    limits = (policy.breaker_hide_pct, policy.breaker_cut_pct)
    if min(limits) >= 100:
        return f"breaker limits {policy.breaker_hide_pct:g}% / {policy.breaker_cut_pct:g}%: no share of a shop exceeds 100%"
    needed = breaker_min_items(policy, shop_size)
    if shop_size < needed:
        noun = "listing" if shop_size == 1 else "listings"
        return (
            f"{shop_size} {noun}: the circuit breaker needs at least {needed} affected items, "
            "so it cannot trip in this shop"
        )
    return None


def breaker_kind(held: FieldChange) -> str | None:
    """``hide`` or ``cut`` for a change a circuit breaker held, None for any other hold."""
    if not held.reason.startswith(BREAKER_PREFIX):
        return None
    return "hide" if held.field == "visible" else "cut"


def _matches(changes: pd.DataFrame, stored: Collection[HeldChange]) -> pd.Series:
    """True for each change equal to a stored one by :data:`HELD_KEY`."""
    if not stored:
        return pd.Series(False, index=changes.index)
    keys = {h.key for h in stored}
    mine = (
        changes[HELD_KEY]
        .astype({"base_item_id": "int64", "new_value": "int64"})
        .itertuples(index=False, name=None)
    )
    return pd.Series([key in keys for key in mine], index=changes.index, dtype=bool)
