"""One sync per account at a time: a lock row per account, with a heartbeat.

A second run that wants an account another live run holds is refused with
:class:`AlreadyRunningError` (it says who holds it and since when). A lock whose holder stopped
heart-beating (``stale_after``), or whose holder process is gone from this machine (``kill -9``),
is taken over.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ecauto_lib.db.engine import begin_write
from ecauto_lib.db.models import account_locks as lock_table
from ecauto_lib.errors import EcAutoError

DEFAULT_STALE_AFTER = timedelta(minutes=10)


class AlreadyRunningError(EcAutoError):
    """Another run holds the account."""

    def __init__(self, account_id: str, holder: str, since: datetime) -> None:
        self.account_id, self.holder, self.since = account_id, holder, since
        super().__init__(
            f"another sync is already running for account {account_id!r} "
            f"(holder {holder}, since {since.isoformat(timespec='seconds')}); this run exits"
        )


def new_holder() -> str:
    """``host:pid:nonce`` identifying this process's run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_is_dead(holder: str) -> bool:
    """True when the holder ran on this machine and its process no longer exists."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire(
    engine: sa.Engine,
    account_ids: Sequence[str],
    holder: str,
    now: datetime,
    *,
    run_id: int | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> None:
    """Take every account's lock, or none of them (raises :class:`AlreadyRunningError`)."""
    try:
        with begin_write(engine) as conn:
            for account_id in sorted(set(account_ids)):
                row = conn.execute(
                    sa.select(lock_table).where(lock_table.c.account_id == account_id).with_for_update()
                ).first()
                if row is None:
                    conn.execute(
                        sa.insert(lock_table).values(
                            account_id=account_id,
                            holder=holder,
                            run_id=run_id,
                            acquired_at=now,
                            heartbeat_at=now,
                        )
                    )
                    continue
                if (
                    row.holder != holder
                    and row.heartbeat_at > now - stale_after
                    and not _holder_is_dead(row.holder)
                ):
                    raise AlreadyRunningError(account_id, row.holder, row.acquired_at)
                conn.execute(
                    sa.update(lock_table)
                    .where(lock_table.c.account_id == account_id)
                    .values(holder=holder, run_id=run_id, acquired_at=now, heartbeat_at=now)
                )
    except sa.exc.IntegrityError:
        # Another process inserted the same account's lock between our read and write.
        with engine.connect() as conn:
            row = conn.execute(sa.select(lock_table).where(lock_table.c.account_id.in_(account_ids))).first()
        raise AlreadyRunningError(row.account_id, row.holder, row.acquired_at) from None


def heartbeat(engine: sa.Engine, account_ids: Sequence[str], holder: str, now: datetime) -> None:
    """Keep the locks alive during a long run."""
    with begin_write(engine) as conn:
        conn.execute(
            sa.update(lock_table)
            .where(lock_table.c.account_id.in_(list(account_ids)), lock_table.c.holder == holder)
            .values(heartbeat_at=now)
        )


def release(engine: sa.Engine, account_ids: Sequence[str], holder: str) -> None:
    """Give the locks back (only those this holder still has)."""
    with begin_write(engine) as conn:
        conn.execute(
            sa.delete(lock_table).where(
                lock_table.c.account_id.in_(list(account_ids)), lock_table.c.holder == holder
            )
        )


@contextmanager
def account_locks(
    engine: sa.Engine,
    account_ids: Sequence[str],
    *,
    heartbeat_every: float = 60.0,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> Iterator[str]:
    """Hold the accounts' locks for the block, heart-beating in the background; yields the holder."""
    holder = new_holder()
    acquire(engine, account_ids, holder, datetime.now(UTC), stale_after=stale_after)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat_every):
            try:
                heartbeat(engine, account_ids, holder, datetime.now(UTC))
            except Exception:  # a missed beat is not fatal; a stale lock is only taken over after stale_after
                continue

    thread = threading.Thread(target=beat, name="ecauto-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield holder
    finally:
        stop.set()
        thread.join(timeout=5)
        release(engine, account_ids, holder)
