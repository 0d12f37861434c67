"""Purging a run or an experiment removes its artifacts too, in the background, retried until
done, never blocking the request.

The purge queues one row per store folder (`artifact_purge`) in the transaction that deletes
the run's or the experiment's rows: both are committed or neither is, so a purge rolled back
keeps its files, and a purge committed is never forgotten, whatever happens to the process.
After the commit the request wakes this process's drainer; at start the drainer takes what
is pending (queued before a restart, or by a host that went away).

A drainer claims due rows (SQL in db/repositories/artifact_purges.py), which makes them due
again only after a lease, deletes each folder from the store (idempotent: a folder already
gone is done), and removes a row only once its objects are gone. A failure is recorded on
the row with the next attempt after a pause that doubles up to `LONGEST_PAUSE_SECONDS`: it
is retried until it succeeds. A drainer that stops cleanly hands its claimed rows back; one
that dies leaves them to the next drainer once the lease ends. Several drainers (workers,
hosts) at once are fine: a row is claimed by one at a time, and a folder deleted twice (a
lease ran out mid-delete) is harmless.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories import artifact_purges as repo
from mltrail_server.db.types import utcnow
from mltrail_server.db.unit_of_work import after_commit, transaction
from mltrail_server.storage import ArtifactStore

__all__ = ["ArtifactPurges", "PurgeDrainer", "retry_pause"]

logger = logging.getLogger(__name__)

FIRST_PAUSE_SECONDS = 1.0
LONGEST_PAUSE_SECONDS = 60.0
# A claimed row is due again after this long if its drainer never reports back (it died).
LEASE = timedelta(minutes=5)
# Rows claimed at once; a full batch is followed by the next without a pause.
BATCH = 16
# With nothing due, the drainer still looks this often: rows another host queued, or whose
# lease ran out, are its to take too.
IDLE_POLL_SECONDS = 60.0
# Stopping waits this long for the row under way (its transaction is never cancelled
# halfway); past it, a store that does not answer is given up on and the row handed back.
STOP_GRACE_SECONDS = 30.0
ERROR_MAX_CHARS = 1000


def retry_pause(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: 1, 2, 4... up to 60."""
    pause: float = FIRST_PAUSE_SECONDS * 2.0 ** max(attempts - 1, 0)
    return min(pause, LONGEST_PAUSE_SECONDS)


class PurgeDrainer:
    """The process's background deleter of queued artifact purges."""

    def __init__(self, store: ArtifactStore, database: Callable[[], Awaitable[Database]]) -> None:
        self.store = store
        self._database = database
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._claimed: set[int] = set()
        self._stopping = False
        # Pending purges as of the last pass (the `mltrail_artifact_purge_backlog` gauge).
        self.backlog = 0

    def start(self) -> None:
        """Drain what is pending now, and whenever woken, until `stop`."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            # A new event loop (an app used without its lifespan) needs an event of its own.
            self._wake = asyncio.Event()
            self._stopping = False
            self._task = loop.create_task(self._run(), name="artifact-purge-drainer")
        self._wake.set()

    async def wake(self) -> None:
        """A purge was committed: look at the queue now (started here if need be)."""
        self.start()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if task.get_loop() is asyncio.get_running_loop():
            # The pass under way ends after its current row: a task cancelled inside a
            # transaction can leave its connection, and SQLite's write lock, behind.
            self._stopping = True
            self._wake.set()
            await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if self._claimed and task.get_loop() is asyncio.get_running_loop():
            await self._release()

    async def _release(self) -> None:
        claimed, self._claimed = list(self._claimed), set()
        try:
            database = await self._database()
            async with transaction(database.session()) as session:
                await repo.release(session, claimed, utcnow())
        except Exception as exc:  # the lease hands them on anyway
            logger.warning("could not hand back %d artifact purges: %s", len(claimed), exc)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                pause = await self.drain()
            except Exception as exc:  # the database failing: look again a little later
                logger.warning("draining the artifact purges failed (%s); retrying", exc)
                pause = LONGEST_PAUSE_SECONDS / 4
            if pause > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)

    async def drain(self) -> float:
        """One pass over the due rows; the seconds until the next pass is needed."""
        database = await self._database()
        now = utcnow()
        async with transaction(database.session()) as session:
            claimed = await repo.claim_due(session, now, now + LEASE, BATCH)
        self._claimed.update(row.id for row in claimed)
        for row in claimed:
            if self._stopping:
                return 0.0  # the rest is handed back
            await self._delete(database, row)
        if len(claimed) == BATCH:
            return 0.0
        async with database.read_session() as session:
            self.backlog = await repo.count(session)
            due = await repo.next_due(session)
        if due is None:
            return IDLE_POLL_SECONDS
        return min(max((due - utcnow()).total_seconds(), 0.0), IDLE_POLL_SECONDS)

    async def _delete(self, database: Database, row: repo.ClaimedPurge) -> None:
        try:
            await self.store.delete(row.prefix)  # False (nothing there) is done too
        except Exception as exc:  # the store failing: this row again after a pause
            pause = retry_pause(row.attempts)
            logger.warning(
                "deleting the artifacts under %s failed (attempt %d: %s); retrying in %.0fs",
                row.prefix,
                row.attempts,
                exc,
                pause,
            )
            error = f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]
            async with transaction(database.session()) as session:
                await repo.record_failure(
                    session, row.id, error, utcnow() + timedelta(seconds=pause)
                )
        else:
            async with transaction(database.session()) as session:
                await repo.remove(session, row.id)
        self._claimed.discard(row.id)


@dataclass
class ArtifactPurges:
    """The request's side of the queue: folders to delete once the purge is committed."""

    session: AsyncSession
    drainer: PurgeDrainer

    async def queue(self, prefix: str) -> None:
        """Delete everything under `prefix` once the session's transaction commits (never if
        it rolls back)."""
        await repo.queue(self.session, prefix, utcnow())
        after_commit(self.session, self.drainer.wake)
