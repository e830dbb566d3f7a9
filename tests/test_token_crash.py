"""A process killed around a BASE token refresh never locks the shop out.

The refresh answer carries a rotated refresh token and BASE (in the simulator, as designed for)
rejects the old one at once. The pair is committed to the master DB before the new access token is
used, so a ``kill -9`` at any point after the commit leaves a working pair behind, and a kill
before the refresh leaves the old, still valid one. (The only window no client can close is
between BASE's answer and the commit — milliseconds; see the README.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ecauto_lib import db
from ecauto_lib.config import load_settings
from ecauto_lib.connect import base_client
from tests.marketplace import calls, marketplace

ROOT = Path(__file__).resolve().parent.parent

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from ecauto_lib import db
    from ecauto_lib.base import auth as base_auth
    from ecauto_lib.config import load_settings
    from ecauto_lib.connect import base_client

    point = sys.argv[1]
    settings = load_settings(require_sp_api=False, dotenv_path=None)
    engine = db.make_engine(settings.database_url)
    store = db.DbTokenStore(engine)
    account = settings.accounts[0]
    client = base_client(settings, account, store)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "after-save":
        real_save = store.save
        def save_then_die(account_id, tokens):
            real_save(account_id, tokens)
            die()  # committed, never used
        store.save = save_then_die
    elif point == "before-request":
        def die_instead(*args, **kwargs):
            die()  # the refresh request is never sent
        client.auth._session.request = die_instead
    client.list_items(limit=1)
    print("not killed")
    """
)


@pytest.mark.parametrize("point", ["after-save", "before-request"])
def test_kill_around_a_refresh_leaves_a_working_pair(tmp_path, sqlite_url, point):
    with marketplace(tmp_path, sqlite_url) as sb:
        engine = db.make_engine(sqlite_url)
        db.upgrade(engine)
        settings = load_settings(require_sp_api=False, dotenv_path=None)
        shop = settings.accounts[0]
        base_client(settings, shop, db.DbTokenStore(engine)).list_items(limit=1)  # a first pair, stored
        stored_before = db.DbTokenStore(engine).load(shop.id).refresh_token
        sb.expire_tokens()  # the next call must refresh
        sb.clear_requests()

        script = tmp_path / "child.py"
        script.write_text(CHILD.format(root=str(ROOT)))
        child = subprocess.run(
            [sys.executable, str(script), point], env=dict(os.environ), capture_output=True, timeout=60
        )
        assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]

        refreshed = [r for r in calls(sb, "baseToken") if r.status == 200]
        stored = db.DbTokenStore(engine).load(shop.id).refresh_token
        if point == "after-save":
            assert len(refreshed) == 1 and stored != stored_before  # BASE rotated, and we kept the new one
        else:
            assert not refreshed and stored == stored_before  # nothing happened at BASE
        assert stored == sb.current_refresh_token(shop.id)  # the stored token is the live one

        # A new process (a new run) works on the stored pair with no re-authorisation.
        fresh = db.make_engine(sqlite_url)
        items = base_client(settings, shop, db.DbTokenStore(fresh)).list_items(limit=5)
        assert items
        assert all(r.status == 200 for r in calls(sb, "baseToken"))
        fresh.dispose()
        engine.dispose()
