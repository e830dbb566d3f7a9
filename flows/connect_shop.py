"""Connect a BASE shop (authorisation-code flow) and show every shop's token health.

    python flows/connect_shop.py --account ID [--code=CODE | --redirect-url=URL] [--force] [--timeout S]
    python flows/connect_shop.py --status

Prints BASE's authorize URL for the account. With a loopback ``redirect_uri``
(``http://127.0.0.1:PORT/…`` or ``http://localhost:PORT/…``) it listens there and catches the code
when the browser comes back; otherwise the seller pastes what the browser shows (``--redirect-url``,
or ``--code``; at a terminal the command also asks for it). The pair is stored in the master DB and
the BASE shop it belongs to is printed; no token is ever printed. Exit codes: 0 connected (or
``--status`` with every shop usable), 1 not connected (the reason is printed; nothing was written),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # `python flows/connect_shop.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecauto_lib import db
from ecauto_lib.base.authorize import (
    LoopbackReceiver,
    Page,
    RedirectAnswer,
    RedirectTimeout,
    parse_redirect,
)
from ecauto_lib.config import AccountConfig, Settings, load_settings
from ecauto_lib.connect import token_store
from ecauto_lib.db.tokens import TokenCipher
from ecauto_lib.errors import ConfigError
from ecauto_lib.shop_connect import (
    AuthorisationRequest,
    ConnectedShop,
    ConnectError,
    check_replaceable,
    current_health,
    finish,
    start,
)
from ecauto_lib.token_health import health_table, shops_token_health

DEFAULT_TIMEOUT = 300.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python flows/connect_shop.py", description=__doc__.splitlines()[0])
    parser.add_argument("--account", metavar="ID", help="the account (accounts file id) to connect")
    parser.add_argument("--status", action="store_true", help="print every shop's token health and exit")
    answer = parser.add_mutually_exclusive_group()
    answer.add_argument(
        "--code", metavar="CODE", help="the code BASE put on the redirect (write --code=CODE)"
    )
    answer.add_argument(
        "--redirect-url", metavar="URL", help="the whole address the browser shows after allowing access"
    )
    parser.add_argument("--force", action="store_true", help="replace a pair that still works")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long the loopback listener waits for the browser (default {DEFAULT_TIMEOUT:g})",
    )
    args = parser.parse_args(argv)
    if not args.status and not args.account:
        parser.error("--account ID is required (or --status)")
    if args.timeout <= 0:
        parser.error("--timeout must be more than 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(require_sp_api=False)
        account = None if args.status else settings.account(args.account)
        if account is not None:  # the new pair is stored encrypted with it
            TokenCipher.of(settings.secret_key)
        db.check_database(settings.database_url)
    except ConfigError as exc:
        print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
        return 2
    engine = db.make_engine(settings.database_url)
    try:
        db.upgrade(engine)
        store = token_store(settings, engine) if account is not None else db.DbTokenStore(engine)
        if account is None:
            return show_status(settings, store)
        return connect(settings, account, store, args)
    except ConnectError as exc:
        print(f"接続できません / not connected: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        engine.dispose()


def show_status(settings: Settings, store: db.DbTokenStore) -> int:
    """Every shop's token health as a table; exit 1 when a shop needs (re-)connecting."""
    healths = shops_token_health(settings.accounts, store.records(), datetime.now(UTC))
    print("\n".join(health_table(healths)))
    notes = [h.message() for h in healths if h.message()]
    for note in notes:
        print(f"- {note}")
    return 1 if any(h.needs_authorisation for h in healths) else 0


def connect(
    settings: Settings, account: AccountConfig, store: db.DbTokenStore, args: argparse.Namespace
) -> int:
    check_replaceable(current_health(store, account, datetime.now(UTC)), force=args.force)
    if args.code or args.redirect_url:
        answer = RedirectAnswer(code=args.code) if args.code else parse_redirect(args.redirect_url)
        return report(finish(settings, account, store, answer, force=args.force))
    request = start(settings, account)
    if request.loopback is not None:
        return listen(settings, account, store, request, args)
    print(f"1. Open this address in a browser logged in to the BASE shop of {account.id} ({account.name}):")
    print(f"   {request.url}")
    print(f"2. Allow access. BASE then sends the browser to {account.redirect_uri}?code=…")
    print("3. Copy the whole address from the browser's address bar and run:")
    print(f"   python flows/connect_shop.py --account {account.id} --redirect-url '<address>'")
    if not sys.stdin.isatty():
        return 0
    pasted = input("…or paste the address (or the code) here: ").strip()
    if not pasted:
        return 1
    answer = parse_redirect(pasted) if ("=" in pasted or "://" in pasted) else RedirectAnswer(code=pasted)
    return report(finish(settings, account, store, answer, force=args.force))


def listen(
    settings: Settings,
    account: AccountConfig,
    store: db.DbTokenStore,
    request: AuthorisationRequest,
    args: argparse.Namespace,
) -> int:
    """Wait on the loopback ``redirect_uri`` for BASE's redirect, then finish there."""
    address = request.loopback
    assert address is not None

    def handle(answer: RedirectAnswer) -> tuple[Page, ConnectedShop | ConnectError]:
        try:
            connected = finish(
                settings, account, store, answer, expected_state=request.state, force=args.force
            )
        except ConnectError as exc:
            return Page(400, "接続できませんでした / not connected", str(exc)), exc
        text = f"{account.id} → {connected.shop.name} ({connected.shop.shop_id}). このタブは閉じて構いません / you can close this tab."
        return Page(200, "接続しました / connected", text), connected

    with ExitStack() as stack:
        try:
            receiver = stack.enter_context(LoopbackReceiver(address))
        except OSError as exc:
            raise ConnectError(
                f"cannot listen on {address.url} ({exc.strerror or type(exc).__name__}); free the port, or open "
                "the URL, allow access and paste the address the browser shows with --redirect-url"
            ) from None
        print(f"Open this address in a browser logged in to the BASE shop of {account.id} ({account.name}):")
        print(f"   {request.url}")
        print(f"Waiting up to {args.timeout:g} s for the browser to come back to {address.url} …", flush=True)
        try:
            outcome = receiver.receive(args.timeout, handle)
        except RedirectTimeout as exc:
            raise ConnectError(
                f"{exc}: open the URL above and allow access (run again for a new URL), or paste the address "
                "the browser shows with --redirect-url; nothing was saved."
            ) from None
    if isinstance(outcome, ConnectError):
        raise outcome
    return report(outcome)


def report(connected: ConnectedShop) -> int:
    shop = connected.shop
    where = f", {shop.url}" if shop.url else ""
    verb = "re-connected" if connected.replaced else "connected"
    print(
        f"接続しました / {verb}: account {connected.account_id} → BASE shop {shop.name!r} ({shop.shop_id}{where})"
    )
    print(
        "トークンはマスターDBに保存しました / the token pair is stored in the master DB; syncs use it from now on."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
