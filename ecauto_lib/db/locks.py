"""One sync per account at a time: a lock row per account, with a heartbeat.

A second run that wants an account another live run holds is refused with
:class:`AlreadyRunningError` (it says who holds it and since when). A lock is taken over when its
holder is gone (``kill -9``, a crashed machine) or stopped heart-beating for ``stale_after``.

- **Who holds it** is a random token (:class:`LockHolder`), never ``host:pid``: containers with
  host networking share a hostname but not a PID namespace, so a PID that looks dead here may
  belong to a live run there. ``host:pid`` is kept only to tell people where the holder runs.
- **Whether the holder is alive** is asked of the operating system and the database, not of
  PIDs. The holder keeps a liveness lock for as long as it lives: on PostgreSQL a session
  advisory lock on a connection of its own (the server drops it when the process or its
  connection dies), on SQLite an exclusive ``flock`` on a file beside the database (the kernel
  drops it when the process dies; SQLite is one machine, so every process sees the same file).
  A lock whose holder's liveness lock is free is taken over at once.
- **Heartbeats and staleness** use the database's clock (:mod:`ecauto_lib.db.clock`), so a
  holder whose machine clock runs behind is not taken over early, nor one that runs ahead late.
- **A holder that lost its lock notices**: :func:`heartbeat` and :func:`release` check how many
  rows they changed, :func:`holds` re-reads the row, and the push asks :func:`holds` before
  every edit (see ``tasks/base.py``), so a run that was taken over stops pushing at once; the
  heartbeat thread also flags the loss within one heartbeat.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from ecauto_lib.db.clock import DatabaseClock, database_now, database_time
from ecauto_lib.db.engine import begin_write, sqlite_file
from ecauto_lib.db.models import account_locks as lock_table
from ecauto_lib.errors import EcAutoError

DEFAULT_STALE_AFTER = timedelta(minutes=10)
DEFAULT_HEARTBEAT_SECONDS = 60.0

log = logging.getLogger(__name__)


class AlreadyRunningError(EcAutoError):
    """Another run holds the account."""

    def __init__(self, account_id: str, holder: str, since: datetime) -> None:
        self.account_id, self.holder, self.since = account_id, holder, since
        super().__init__(
            f"another sync is already running for account {account_id!r} "
            f"(holder {holder}, since {since.isoformat(timespec='seconds')}); this run exits"
        )


@dataclass(frozen=True)
class LockHolder:
    """One run's claim: ``token`` identifies it (random), ``where`` says where it runs (host:pid)."""

    token: str
    where: str


def new_holder() -> LockHolder:
    """A fresh holder for this process's run."""
    return LockHolder(token=secrets.token_hex(16), where=f"{socket.gethostname()}:{os.getpid()}")


# -- liveness -------------------------------------------------------------------------------------


@contextmanager
def alive(engine: sa.Engine, holder: LockHolder) -> Iterator[None]:
    """Hold ``holder``'s liveness lock for the block (see the module docstring); takers that find
    it free know the holder is gone."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _advisory_key(holder.token)})
            conn.commit()
            try:
                yield
            finally:
                with contextlib.suppress(sa.exc.SQLAlchemyError):  # a dead connection dropped it anyway
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _advisory_key(holder.token)})
                    conn.commit()
        return
    path = _liveness_file(engine, holder.token)
    if path is None:  # :memory: or a file: URI: one process, or no path of ours to lock beside
        yield
        return
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


def holder_is_alive(engine: sa.Engine, token: str | None) -> bool | None:
    """Whether the holder with ``token`` still holds its liveness lock (None: cannot tell)."""
    if not token:
        return None  # a lock written before holders had tokens: only its heartbeat tells
    if engine.dialect.name == "postgresql":
        key = _advisory_key(token)
        with engine.connect() as conn:
            got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one())
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        return not got
    path = _liveness_file(engine, token)
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return True
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # the file of a holder that is gone
    os.close(fd)
    return False


def _advisory_key(token: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"ecauto-lock-holder|{token}".encode()).digest()[:8], "big", signed=True
    )


def _liveness_file(engine: sa.Engine, token: str) -> Path | None:
    database = sqlite_file(engine.url)
    return None if database is None else database.with_name(f"{database.name}.holder-{token}.lock")


# -- the lock rows --------------------------------------------------------------------------------


def acquire(
    engine: sa.Engine,
    account_ids: Sequence[str],
    holder: LockHolder,
    *,
    run_id: int | None = None,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    clock: DatabaseClock = database_time,
) -> None:
    """Take every account's lock, or none of them (raises :class:`AlreadyRunningError`).

    A lock is taken over when its holder is not alive (:func:`holder_is_alive`) or its last
    heartbeat is older than ``stale_after`` by the database's clock.
    """
    for _ in range(_INSERT_RACES):
        try:
            _take(engine, account_ids, holder, run_id, stale_after, clock)
            return
        except sa.exc.IntegrityError as exc:
            # Another process inserted the same account's lock between our read and write.
            with engine.connect() as conn:
                row = conn.execute(
                    sa.select(lock_table).where(lock_table.c.account_id.in_(account_ids))
                ).first()
            if row is not None:
                raise AlreadyRunningError(row.account_id, row.holder, row.acquired_at) from None
            lost = exc  # and it has released since: the lock is free, try again
    raise lost


_INSERT_RACES = 3
"""Tries of :func:`acquire` when each lost an insert race to a run that released before the re-read."""


def _take(
    engine: sa.Engine,
    account_ids: Sequence[str],
    holder: LockHolder,
    run_id: int | None,
    stale_after: timedelta,
    clock: DatabaseClock,
) -> None:
    """One try of :func:`acquire`; raises IntegrityError when another process inserted a lock row first."""
    with begin_write(engine) as conn:
        now = database_now(conn, clock)
        for account_id in sorted(set(account_ids)):
            row = conn.execute(
                sa.select(lock_table).where(lock_table.c.account_id == account_id).with_for_update()
            ).first()
            values = dict(
                token=holder.token, holder=holder.where, run_id=run_id, acquired_at=now, heartbeat_at=now
            )
            if row is None:
                conn.execute(sa.insert(lock_table).values(account_id=account_id, **values))
                continue
            if (
                row.token != holder.token
                and row.heartbeat_at > now - stale_after
                and holder_is_alive(engine, row.token) is not False
            ):
                raise AlreadyRunningError(account_id, row.holder, row.acquired_at)
            conn.execute(sa.update(lock_table).where(lock_table.c.account_id == account_id).values(**values))


def heartbeat(
    engine: sa.Engine, account_ids: Sequence[str], holder: LockHolder, *, clock: DatabaseClock = database_time
) -> bool:
    """Keep the locks alive during a long run; False when one of them is no longer ours."""
    ids = sorted(set(account_ids))
    with begin_write(engine) as conn:
        changed = conn.execute(
            sa.update(lock_table)
            .where(lock_table.c.account_id.in_(ids), lock_table.c.token == holder.token)
            .values(heartbeat_at=database_now(conn, clock))
        ).rowcount
    return changed == len(ids)


def holds(engine: sa.Engine, account_id: str, holder: LockHolder) -> bool:
    """True while ``holder`` still has ``account_id``'s lock (re-read from the database)."""
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.select(sa.literal(1)).where(
                    lock_table.c.account_id == account_id, lock_table.c.token == holder.token
                )
            ).first()
            is not None
        )


def release(engine: sa.Engine, account_ids: Sequence[str], holder: LockHolder) -> bool:
    """Give the locks back (only those this holder still has); False when some were no longer ours."""
    ids = sorted(set(account_ids))
    with begin_write(engine) as conn:
        deleted = conn.execute(
            sa.delete(lock_table).where(lock_table.c.account_id.in_(ids), lock_table.c.token == holder.token)
        ).rowcount
    return deleted == len(ids)


@contextmanager
def account_locks(
    engine: sa.Engine,
    account_ids: Sequence[str],
    *,
    heartbeat_every: float = DEFAULT_HEARTBEAT_SECONDS,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> Iterator[LockHolder]:
    """Hold the accounts' locks for the block, heart-beating in the background; yields the holder.

    The block's own steps ask :func:`holds` before acting for an account (the push does, before
    every edit); a heartbeat that finds a lock taken over logs it and stops beating.
    """
    holder = new_holder()
    with alive(engine, holder):
        acquire(engine, account_ids, holder, stale_after=stale_after)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(heartbeat_every):
                try:
                    still_ours = heartbeat(engine, account_ids, holder)
                except Exception:  # a missed beat is not fatal: a lock is only stale after stale_after
                    continue
                if not still_ours:
                    log.warning(
                        "the lock of %s was taken over by another run: pushes stop", ", ".join(account_ids)
                    )
                    return

        thread = threading.Thread(target=beat, name="ecauto-lock-heartbeat", daemon=True)
        thread.start()
        try:
            yield holder
        finally:
            stop.set()
            thread.join(timeout=5)
            if not release(engine, account_ids, holder):
                log.warning(
                    "some of the locks of %s had been taken over by another run", ", ".join(account_ids)
                )
