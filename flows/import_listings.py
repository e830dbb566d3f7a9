"""Register listings: from each shop's BASE items, or from a CSV file.

    python flows/import_listings.py --from-base [--account ID ...]
    python flows/import_listings.py --csv FILE [--encoding utf-8|cp932]

An item is an Amazon listing when its ``identifier`` (商品コード) is an ASIN or holds one as a
``-``-separated token (``b-B0FGQJ45HW-20251120123456``). Bad rows are reported with their line
numbers and the good rows are still imported. A CSV may be UTF-8 (with or without BOM) or CP932
(Shift_JIS, as Excel saves it on Japanese Windows), detected unless ``--encoding`` says which; a
line that cannot be decoded is reported like any other bad row. Exit codes: 0 clean, 1 some rows were refused,
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python flows/import_listings.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prefect import get_run_logger

from ecauto_lib.config import load_settings
from ecauto_lib.errors import ConfigError
from ecauto_lib.listings_import import (
    CSV_ENCODINGS,
    ParsedListings,
    listings_from_base_items,
    listings_from_csv,
)
from tasks._common import quiet_prefect
from tasks.listings import check_secrets, fetch_shop_items, prepare_database, register_listings
from tasks.states import exit_code_flow


@exit_code_flow(name="ecauto-import-listings", log_prints=True)
def import_listings(
    source: str = "base",
    accounts: list[str] | None = None,
    csv_path: str | None = None,
    encoding: str | None = None,
) -> dict:
    """Read listings from BASE (or a CSV), parse them, register the good ones, report the rest."""
    settings = load_settings(require_sp_api=False)
    prepare_database(settings.database_url, dry_run=False)
    parsed = ParsedListings()
    lines: list[str] = []  # the summary: logged, and printed on stdout by main()
    if source == "csv":
        if not csv_path:
            raise ConfigError("--csv", "a file path is required")
        parsed = listings_from_csv(csv_path, {a.id for a in settings.accounts}, encoding=encoding)
    else:
        selected = settings.select_accounts(accounts)
        check_secrets(settings, [a.id for a in selected])
        for account in selected:
            items = fetch_shop_items(settings, account)
            found = listings_from_base_items(account.id, items)
            lines.append(
                f"{account.id} ({account.name}): {len(items)} items, {len(found.rows)} with an ASIN, "
                f"{found.skipped} without"
            )
            parsed.rows += found.rows
            parsed.problems += found.problems
            parsed.skipped += found.skipped
            parsed.isbns += found.isbns
    result = register_listings(settings.database_url, parsed.rows)
    problems = parsed.problems + result.conflicts
    lines.append(
        f"listings: {result.inserted} new, {result.updated} updated, {result.unchanged} unchanged, "
        f"{len(problems)} refused"
    )
    lines += [f"  refused: {problem}" for problem in problems]
    # ten digits are a book only when the ISBN-10 check digit holds
    lines += [f"  ISBN: {note}" for note in parsed.isbns]
    for line in lines:
        get_run_logger().info("%s", line)
    return {
        "summary": "\n".join(lines),
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "refused": problems,
        "isbns": parsed.isbns,
        "exit_code": 1 if problems else 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python flows/import_listings.py", description=__doc__.splitlines()[0]
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-base", action="store_true", help="read every item of each shop from BASE")
    source.add_argument(
        "--csv",
        metavar="FILE",
        help="a CSV with columns account_id,asin,base_item_id (or アカウント,ASIN,商品ID)",
    )
    parser.add_argument(
        "--encoding",
        choices=list(CSV_ENCODINGS),
        help="the CSV's encoding (default: detected; UTF-8 with or without BOM, or CP932/Shift_JIS)",
    )
    parser.add_argument("--account", action="append", metavar="ID", help="only this account (repeatable)")
    args = parser.parse_args(argv)
    if args.encoding and not args.csv:
        parser.error("--encoding applies to --csv only")
    quiet_prefect()
    try:
        from ecauto_lib.db import check_database
        from ecauto_lib.db.tokens import TokenCipher

        settings = load_settings(require_sp_api=False)
        settings.select_accounts(args.account)
        if args.csv and not Path(args.csv).is_file():
            raise ConfigError("--csv", f"file not found: {args.csv}")
        if not args.csv:  # reading BASE stores the shops' tokens: their key must be set
            TokenCipher.of(settings.secret_key)
        check_database(settings.database_url)
        result = import_listings(
            source="csv" if args.csv else "base",
            accounts=args.account,
            csv_path=args.csv,
            encoding=args.encoding,
        )
    except ConfigError as exc:
        print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
        return 2
    print(result["summary"])
    return int(result["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
