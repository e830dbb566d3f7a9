"""Drift reconciliation: read every item of each shop and repair the master DB where BASE differs.

    python flows/reconcile.py [--account ID ...] [--dry-run]

Price and visibility the DB believes BASE shows are corrected (recorded in the change history with
the reason ``drift``). A listing the page scan did not show is looked up with items/detail first
(the scan can skip items while the shop is being edited); only BASE's not-found answer marks it
delisted. Each repair is reported, with how many listings were looked up. A shop BASE refused for
the day (day_api_limit) is skipped until its reset. A repair takes the shops' locks, as a sync
does, so it never writes beside a sync pushing the same shop (a dry run writes nothing and takes
none). It ends with one line per shop on stdout. Exit codes: 0 no drift, or a dry run that found
only drift (it says what it would correct); 1 drift repaired, a listing that could not be checked,
or a shop skipped; 2 configuration (a dry run on a missing database too); 3 another run holds one
of the shops.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

if __package__ in (None, ""):  # `python flows/reconcile.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact

from ecauto_lib.config import AccountConfig, Settings, load_settings
from ecauto_lib.db.locks import AlreadyRunningError, account_locks
from ecauto_lib.errors import ConfigError
from ecauto_lib.reconcile import ShopReconciliation
from tasks._common import engine_for, quiet_prefect
from tasks.listings import check_secrets, fetch_shop_items, load_listings, prepare_database
from tasks.reconcile import base_budget_block, repair_drift
from tasks.states import exit_code_flow


@exit_code_flow(name="ecauto-reconcile", log_prints=True)
def reconcile(accounts: list[str] | None = None, dry_run: bool = False) -> dict:
    """Each shop: list its items (100 a page), compare with the DB, repair and report the drift."""
    settings = load_settings(require_sp_api=False)
    selected = settings.select_accounts(accounts)
    prepare_database(settings.database_url, dry_run=dry_run)
    check_secrets(settings, [a.id for a in selected])
    shop_locks = (
        nullcontext()
        if dry_run
        else account_locks(engine_for(settings.database_url), [a.id for a in selected])
    )
    with shop_locks:
        return _reconcile(settings, selected, dry_run)


def _reconcile(settings: Settings, selected: tuple[AccountConfig, ...], dry_run: bool) -> dict:
    listings = load_listings(settings.database_url, [a.id for a in selected])
    outcomes = []
    for account in selected:
        if block := base_budget_block(settings.database_url, account.id):
            outcomes.append(ShopReconciliation.skipped(account.id, account.name, block))
        else:
            items = fetch_shop_items(settings, account)
            drift = repair_drift(settings, account, listings, items, dry_run=dry_run)
            outcomes.append(
                ShopReconciliation(account.id, account.name, scanned=len(items), drift=drift, dry_run=dry_run)
            )
        get_run_logger().info("%s", outcomes[-1].describe())
    rows = [row for outcome in outcomes for row in outcome.rows()]
    create_table_artifact(
        key="reconcile-drift",
        table=rows,
        description="Drift between the DB and BASE, "
        + ("found (dry run: not repaired)" if dry_run else "repaired"),
    )
    return {
        "accounts": {o.account_id: o.counts() for o in outcomes},
        "drift": rows,
        "report": "\n".join(o.describe() for o in outcomes),
        "exit_code": 1 if any(o.needs_attention for o in outcomes) else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python flows/reconcile.py", description=__doc__.splitlines()[0])
    parser.add_argument("--account", action="append", metavar="ID", help="only this account (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="report the drift, repair nothing")
    args = parser.parse_args(argv)
    quiet_prefect()
    try:
        from ecauto_lib.db import check_database
        from ecauto_lib.db.tokens import TokenCipher

        settings = load_settings(require_sp_api=False)
        settings.select_accounts(args.account)
        TokenCipher.of(settings.secret_key)  # the key the BASE tokens are encrypted with is set
        check_database(settings.database_url, create=not args.dry_run)
        result = reconcile(accounts=args.account, dry_run=args.dry_run)
    except ConfigError as exc:
        print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
        return 2
    except AlreadyRunningError as exc:
        print(f"実行中 / already running: {exc}", file=sys.stderr)
        return 3
    print(result["report"])
    return int(result["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
