"""Encrypt the BASE tokens an earlier version stored in plain text (one command, run once).

    python flows/encrypt_tokens.py --new-key   # print a new ECAUTO_SECRET_KEY to put in .env
    python flows/encrypt_tokens.py             # encrypt every plain-text token row with it

Rows already encrypted are checked against the key and left alone, so running it again is
harmless; a wrong key changes nothing. Exit codes: 0 done, 2 configuration error (the key is
missing, malformed or not the one the encrypted rows were stored with; DATABASE_URL unusable).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python flows/encrypt_tokens.py` from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ecauto_lib.config import load_settings
from ecauto_lib.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python flows/encrypt_tokens.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--new-key", action="store_true", help="print a new ECAUTO_SECRET_KEY (nothing else is done)"
    )
    args = parser.parse_args(argv)
    from ecauto_lib import db
    from ecauto_lib.db.tokens import TokenCipher, encrypt_stored_tokens

    if args.new_key:
        print(TokenCipher.new_key())
        return 0
    try:
        settings = load_settings(require_sp_api=False, require_accounts=False)
        cipher = TokenCipher.of(settings.secret_key)
        db.check_database(settings.database_url)
        engine = db.make_engine(settings.database_url)
        try:
            db.upgrade(engine)
            encrypted, already = encrypt_stored_tokens(engine, cipher)
        finally:
            engine.dispose()
    except ConfigError as exc:
        print(f"設定エラー / configuration error: {exc}", file=sys.stderr)
        return 2
    for warning in settings.warnings:
        print(f"警告 / warning: {warning}", file=sys.stderr)
    print(f"BASE tokens: {encrypted} shops encrypted now, {already} already encrypted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
