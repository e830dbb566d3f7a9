"""Reads for refresh ordering (issue #17 §3): each ASIN's own history of changes.

Kept apart from :mod:`ecauto_lib.db.repo`. The master DB keeps every change BASE confirmed
(``change_history``: price, visibility, stock) but only the latest Amazon observation per
product, so an ASIN's change rates are learned from what was *pushed*: a hide (visible 1 → 0)
is a sell-out seen, a publish (0 → 1) a restock, a price edit a price move of at least the push
threshold. An event pushed to several shops counts once (distinct runs). ``products.offer_count``
(Summary.TotalOfferCount) comes along. Whether Amazon or FBA sells an ASIN is not recorded, so it
plays no part (UNCONFIRMED whether it would help).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from ecauto_lib.db.models import change_history, products

HISTORY_COLUMNS = ["asin", "sell_outs", "restocks", "price_moves", "offer_count"]
_IN_CHUNK = 500


def change_counts(engine: sa.Engine, asins: Iterable[str], since: datetime) -> pd.DataFrame:
    """Per ASIN of ``asins``: sell-outs, restocks and price moves pushed since ``since``, and its
    offer count (0 events where there are none; ``offer_count`` may be missing)."""
    wanted = sorted(set(asins))
    counts: dict[str, dict[str, int]] = {a: {"sell_outs": 0, "restocks": 0, "price_moves": 0} for a in wanted}
    offers: dict[str, int | None] = dict.fromkeys(wanted)
    events = sa.func.count(sa.distinct(sa.func.coalesce(change_history.c.run_id, change_history.c.id)))
    with engine.connect() as conn:
        for i in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[i : i + _IN_CHUNK]
            rows = conn.execute(
                sa.select(change_history.c.asin, change_history.c.field, change_history.c.new_value, events)
                .where(
                    change_history.c.asin.in_(chunk),
                    change_history.c.at >= since,
                    change_history.c.field.in_(("price", "visible")),
                    change_history.c.variation_id.is_(None),
                )
                .group_by(change_history.c.asin, change_history.c.field, change_history.c.new_value)
            )
            for asin, field, new_value, n in rows:
                key = "price_moves" if field == "price" else "sell_outs" if new_value == 0 else "restocks"
                counts[asin][key] += int(n)
            for asin, offer_count in conn.execute(
                sa.select(products.c.asin, products.c.offer_count).where(products.c.asin.in_(chunk))
            ):
                offers[asin] = offer_count
    return pd.DataFrame(
        [{"asin": a, **counts[a], "offer_count": offers[a]} for a in wanted], columns=HISTORY_COLUMNS
    ).astype({"sell_outs": "int64", "restocks": "int64", "price_moves": "int64", "offer_count": "Int64"})
