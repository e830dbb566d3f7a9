"""Drift reconciliation: read every item of each shop and repair the master DB where BASE differs.

    python flows/reconcile.py [--account ID ...] [--dry-run]

Price and visibility the DB believes BASE shows are corrected (recorded in the change history with
the reason ``drift``). A listing the page scan did not show is looked up with items/detail first
(the scan can skip items while the shop is being edited); only BASE's not-found answer marks it
delisted. Each repair is reported, with how many listings were looked up. A shop BASE refused for
the day (day_api_limit) is skipped until its reset. Exit codes: 0 no drift, 1 drift found (and
repaired unless --dry-run), a listing that could not be checked, or a shop skipped; 2 configuration.
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
from tasks.reconcile import base_budget_block, repair_drift


@flow(name="ecauto-reconcile", log_prints=True)
def reconcile(accounts: list[str] | None = None, dry_run: bool = False) -> dict:
    """Each shop: list its items (100 a page), compare with the DB, repair and report the drift."""
    settings = load_settings(require_sp_api=False)
    selected = settings.select_accounts(accounts)
    prepare_database(settings.database_url, dry_run=dry_run)
    listings = load_listings(settings.database_url, [a.id for a in selected])
    rows = []
    summary: dict[str, dict] = {}
    lines = []
    for account in selected:
        if block := base_budget_block(settings.database_url, account.id):
            summary[account.id] = {"skipped": block.code}
            lines.append(
                f"{account.id} ({account.name}): skipped, BASE {block.code} until "
                f"{block.blocked_until.isoformat(timespec='minutes')}"
            )
            print(lines[-1])
            continue
        items = fetch_shop_items(settings, account)
        drift = repair_drift(settings, account, listings, items, dry_run=dry_run)
        summary[account.id] = {
            "checked": drift.checked,
            "corrected": len(drift.corrections),
            "deleted": len(drift.deleted),
            "missing": drift.missing,
            "detail_checked": drift.detail_checked,
            "still_there": len(drift.still_there),
            "unchecked": len(drift.unchecked),
        }
        lines.append(
            f"{account.id} ({account.name}): {drift.checked} listings checked against {len(items)} items, "
            f"{len(drift.corrections)} values corrected; {drift.missing} missing from the scan, checked with "
            f"items/detail: {len(drift.deleted)} gone from BASE, {len(drift.still_there)} still there, "
            f"{len(drift.unchecked)} not answered (left listed)"
        )
        print(lines[-1])
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
        rows += [
            {
                "account_id": account.id,
                "asin": d["asin"],
                "base_item_id": d["base_item_id"],
                "field": "unchecked",
                "db_value": None,
                "base_value": d["message"],
            }
            for d in drift.unchecked
        ]
    create_table_artifact(
        key="reconcile-drift", table=rows, description="Drift between the DB and BASE, repaired"
    )
    troubled = sum(
        1 if "skipped" in s else s["corrected"] + s["deleted"] + s["unchecked"] for s in summary.values()
    )
    return {"accounts": summary, "drift": rows, "report": "\n".join(lines), "exit_code": 1 if troubled else 0}


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
