"""Purging a run or an experiment removes its artifacts too, in the background: the request
returns once the rows are gone, and a task per purge deletes the objects, retrying while the
store fails (with a growing pause, for up to `GIVE_UP_AFTER_SECONDS`).

A task deletes nothing until the purge is committed: it first checks that the run (or the
experiment) is gone from the database, so a purge that was rolled back keeps its files.
Tasks live in the process: a purge whose process stops before its files are gone leaves them
in the store (they belong to no run any more, and are found under the run's old prefix).
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories import experiments as experiments_repo
from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.storage import ArtifactStore

__all__ = ["ArtifactPurger", "Purged", "PurgeJob"]

logger = logging.getLogger(__name__)

FIRST_PAUSE_SECONDS = 0.5
LONGEST_PAUSE_SECONDS = 30.0
GIVE_UP_AFTER_SECONDS = 3600.0
# How long a purge may take to commit before its task decides it was rolled back.
COMMIT_WAIT_SECONDS = 60.0


class Purged(StrEnum):
    RUN = "run"
    EXPERIMENT = "experiment"


@dataclass(frozen=True)
class PurgeJob:
    kind: Purged
    owner_id: uuid.UUID
    prefix: str  # the store folder holding all of its artifacts


class ArtifactPurger:
    def __init__(self, store: ArtifactStore, database: Callable[[], Awaitable[Database]]) -> None:
        self.store = store
        self._database = database
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def schedule(self, job: PurgeJob) -> None:
        task = asyncio.get_running_loop().create_task(self._purge(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _still_there(self, job: PurgeJob) -> bool:
        database = await self._database()
        async with database.read_session() as session:
            if job.kind is Purged.RUN:
                return await runs_repo.get_any(session, job.owner_id) is not None
            found = await experiments_repo.get(session, job.owner_id, include_deleted=True)
            return found is not None

    async def _purge(self, job: PurgeJob) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        pause = FIRST_PAUSE_SECONDS
        while True:
            try:
                if await self._still_there(job):
                    if loop.time() - started > COMMIT_WAIT_SECONDS:
                        logger.info(
                            "%s %s was not purged: its artifacts stay", job.kind, job.owner_id
                        )
                        return
                else:
                    await self.store.delete(job.prefix)
                    return
            except Exception as exc:  # the store or the database failing: try again later
                if loop.time() - started > GIVE_UP_AFTER_SECONDS:
                    logger.error(
                        "gave up deleting the artifacts of purged %s %s under %s: %s",
                        job.kind.value,
                        job.owner_id,
                        job.prefix,
                        exc,
                    )
                    return
                logger.warning(
                    "deleting the artifacts of purged %s %s failed (%s); retrying in %.1fs",
                    job.kind.value,
                    job.owner_id,
                    exc,
                    pause,
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
