"""The audit log: every write, who made it, when, from where, and how it ended.

Events are buffered in memory and written in one statement per second by a background task
(started with the server), so auditing adds no latency to writes; without that task (an app
used without its lifespan) each event is written at once. Stopping lets a write under way
finish, then writes what is left: a writer cancelled halfway through its transaction lost
the events it had taken from the buffer.
"""

import asyncio
import contextlib
import logging
from typing import Any

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories import auth as repo
from mltrail_server.db.types import utcnow
from mltrail_server.db.unit_of_work import transaction

logger = logging.getLogger(__name__)


class AuditLog:
    FLUSH_SECONDS = 1.0
    MAX_BUFFER = 10_000

    def __init__(self) -> None:
        self._buffer: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None
        self._database: Database | None = None
        self._stopping = asyncio.Event()

    def start(self, database: Database) -> None:
        self._database = database
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        await self.flush()

    async def record(self, database: Database, **event: Any) -> None:
        event.setdefault("at", utcnow())
        if len(self._buffer) >= self.MAX_BUFFER:
            logger.warning("audit buffer full; dropping the oldest event")
            self._buffer.pop(0)
        self._buffer.append(event)
        if self._task is None:
            self._database = database
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer or self._database is None:
            return
        events, self._buffer = self._buffer, []
        try:
            async with transaction(self._database.session()) as session:
                await repo.add_audit_events(session, events)
        except Exception as exc:  # the database is down: keep the events for the next try
            logger.warning("could not write %d audit events: %s", len(events), exc)
            self._buffer[:0] = events[: self.MAX_BUFFER - len(self._buffer)]

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.FLUSH_SECONDS)
            await self.flush()
