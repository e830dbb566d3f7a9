"""Drift reconciliation: read every item of each shop and repair the master DB where BASE differs.

    python flows/reconcile.py [--account ID ...] [--dry-run]

Price and visibility the DB believes BASE shows are corrected (recorded in the change history with
the reason ``drift``), and listings whose item is gone from BASE are marked delisted. Each repair
is reported. Exit codes: 0 no drift, 1 drift found (and repaired unless --dry-run), 2 configuration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python flows/reconcile.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import flow
from prefect.artifacts import create_table_artifact

from ecauto_lib.config import load_settings
from ecauto_lib.errors import ConfigError
from tasks.listings import fetch_shop_items, load_listings, prepare_database
from tasks.reconcile import repair_drift


@flow(name="ecauto-reconcile", log_prints=True)
def reconcile(accounts: list[str] | None = None, dry_run: bool = False) -> dict:
    """Each shop: list its items (100 a page), compare with the DB, repair and report the drift."""
    settings = load_settings(require_sp_api=False)
    selected = settings.select_accounts(accounts)
    prepare_database(settings.database_url, dry_run=dry_run)
    listings = load_listings(settings.database_url, [a.id for a in selected])
    rows = []
    summary = {}
    for account in selected:
        items = fetch_shop_items(settings, account)
        drift = repair_drift(settings.database_url, account.id, listings, items, dry_run=dry_run)
        summary[account.id] = {
            "checked": drift.checked,
            "corrected": len(drift.corrections),
            "deleted": len(drift.deleted),
        }
        print(
            f"{account.id} ({account.name}): {drift.checked} listings checked against {len(items)} items, "
            f"{len(drift.corrections)} values corrected, {len(drift.deleted)} items gone from BASE"
        )
        rows += [
            {
                "account_id": account.id,
                "asin": c.asin,
                "base_item_id": c.base_item_id,
                "field": c.field,
                "db_value": c.old_value,
                "base_value": c.new_value,
            }
            for c in drift.corrections
        ]
        rows += [
            {"account_id": account.id, **d, "field": "deleted", "db_value": None, "base_value": None}
            for d in drift.deleted
        ]
    create_table_artifact(
        key="reconcile-drift", table=rows, description="Drift between the DB and BASE, repaired"
    )
    drifted = sum(s["corrected"] + s["deleted"] for s in summary.values())
    return {"accounts": summary, "drift": rows, "exit_code": 1 if drifted else 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python flows/reconcile.py", description=__doc__.splitlines()[0])
    parser.add_argument("--account", action="append", metavar="ID", help="only this account (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="report the drift, repair nothing")
    args = parser.parse_args(argv)
    try:
        from ecauto_lib.db import check_database

        settings = load_settings(require_sp_api=False)
        settings.select_accounts(args.account)
        check_database(settings.database_url)
        result = reconcile(accounts=args.account, dry_run=args.dry_run)
    except ConfigError as exc:
        print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
        return 2
    return int(result["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
