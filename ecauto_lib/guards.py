"""Safety guards: never hide on a glitch.

A single "no offers" answer is not trusted (sp-api.md §3.1: false zero counts were reported after
the 2023 rate change, and ``ActiveButTooSoonForProcessing`` comes with an empty offer list).
Hiding a listing therefore needs a *confirmed* sell-out: a second observation, re-fetched in the
same run, must agree. If it disagrees the newer answer wins; if it fails, the stock is unknown
and nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from ecauto_lib.domain import Observation, Outcome

_GONE = (Outcome.OUT_OF_STOCK, Outcome.FILTERED_OUT)


def sell_outs_to_confirm(observations: Iterable[Observation], stored_states: Mapping[str, str]) -> list[str]:
    """ASINs newly observed out of stock / filtered out whose stored state says otherwise."""
    return [
        o.asin
        for o in observations
        if o.outcome in _GONE and stored_states.get(o.asin) not in ("out_of_stock", "filtered_out")
    ]


def confirm_sell_outs(first: Iterable[Observation], second: Iterable[Observation]) -> list[Observation]:
    """Merge a confirmation round into the first observations.

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
                    reason=f"sell-out not confirmed ({o.outcome}, then {again.reason or 'an error'})",
                )
            )
        else:
            merged.append(again)
    return merged
