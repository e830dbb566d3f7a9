"""Product titles for the run report (the catalog facts the master DB keeps)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from ecauto_lib.db.models import products

_IN_CHUNK = 500  # ASINs per IN (...) list


def product_titles(engine: sa.Engine, asins: Iterable[str]) -> dict[str, str]:
    """ASIN → title for those of ``asins`` whose title the DB has."""
    wanted = sorted(set(asins))
    titles: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            stmt = sa.select(products.c.asin, products.c.title).where(
                products.c.asin.in_(chunk), products.c.title.is_not(None)
            )
            titles.update({asin: title for asin, title in conn.execute(stmt)})
    return titles
