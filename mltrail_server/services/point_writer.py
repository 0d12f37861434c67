"""Group commit for one point per request (what `mlflow.log_metric` sends on every call).

Concurrent single-point requests of one process are stored together: the first one is
written at once; the ones that arrive while that write is in flight wait for it to end and
are then written together, in one statement (PostgreSQL) or one transaction (SQLite), with
one commit. A request is answered only after the commit that holds its point. Nothing waits
for company: a lone request costs what it did before, and under load the commits (and
their WAL flushes) are shared.

This writer is a unit of work of its own (STYLE 3, db/unit_of_work.py): it opens its own
session per group, commits it once, and tells each waiting request the result of that
commit. The request's own session stays empty, so its commit at the request boundary
writes nothing. A group that fails is not half-written (the statement and the transaction
are atomic) and is retried point by point, each in its own transaction, so every request
gets its own answer: an error goes only to the request whose point caused it.
"""

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories import tracking as repo
from mltrail_server.db.unit_of_work import transaction

__all__ = ["PointWriter", "point_writer", "requests_waiting"]


@dataclass
class _Pending:
    run_id: uuid.UUID
    points: Sequence[repo.Point]
    done: "asyncio.Future[bool]"


@dataclass
class PointWriter:
    """The group-commit writer of one database in one event loop."""

    database: Database
    _queue: list[_Pending] = field(default_factory=list)
    _task: "asyncio.Task[None] | None" = None
    # Groups written, and the requests in them: what a test or an operator can look at.
    groups: int = 0
    requests: int = 0
    # Requests waiting for the commit of their point now (queued or being written).
    waiting: int = 0

    async def add(self, run_id: uuid.UUID, points: Sequence[repo.Point]) -> bool:
        """Store the points of one request, committed, with those of the requests that
        came meanwhile; returns whether the run is live (its points were stored)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(run_id, points, done))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        self.waiting += 1
        try:
            # A request that is cancelled (its client went away) does not cancel the group.
            return await asyncio.shield(done)
        finally:
            self.waiting -= 1

    async def _drain(self) -> None:
        group: list[_Pending] = []
        try:
            while self._queue:
                group, self._queue = self._queue, []
                await self._write(group)
        finally:
            self._task = None
            # Cancelled (the loop is closing): no caller may wait for ever.
            for pending in group:
                if not pending.done.done():
                    pending.done.cancel()

    async def _write(self, group: list[_Pending]) -> None:
        self.groups += 1
        self.requests += len(group)
        try:
            live = await self._commit([(p.run_id, p.points) for p in group])
        except Exception as exc:  # noqa: BLE001 - each request gets its own error below
            if len(group) == 1 or database_failed(exc):
                # The database itself failed (down, locked, too slow): the same for everyone,
                # and retrying each point would only make the last request wait longer.
                for pending in group:
                    _resolve(pending, error=exc)
                return
            # Nothing of the group was stored: each point again, alone, for its own answer.
            for pending in group:
                try:
                    alone = await self._commit([(pending.run_id, pending.points)])
                except Exception as error:  # noqa: BLE001 - handed to its request
                    _resolve(pending, error=error)
                else:
                    _resolve(pending, live=pending.run_id in alone)
            return
        for pending in group:
            _resolve(pending, live=pending.run_id in live)

    async def _commit(
        self, batches: Sequence[tuple[uuid.UUID, Sequence[repo.Point]]]
    ) -> set[uuid.UUID]:
        async with transaction(self.database.session()) as session:
            return await repo.add_points_of_runs_alone(session, batches)


def database_failed(exc: BaseException) -> bool:
    """An error of the database or the connection to it, not of the data written."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError)
    return isinstance(exc, PoolTimeoutError | ConnectionError | TimeoutError | OSError)


def _resolve(pending: _Pending, *, live: bool = False, error: BaseException | None = None) -> None:
    if pending.done.done():
        return
    if error is not None:
        pending.done.set_exception(error)
    else:
        pending.done.set_result(live)


_writers: "weakref.WeakKeyDictionary[Database, tuple[asyncio.AbstractEventLoop, PointWriter]]"
_writers = weakref.WeakKeyDictionary()


def point_writer(database: Database) -> PointWriter:
    """The writer of `database` in the running event loop (a database used from another
    loop, as without a lifespan, gets its own)."""
    loop = asyncio.get_running_loop()
    found = _writers.get(database)
    if found is None or found[0] is not loop:
        found = (loop, PointWriter(database))
        _writers[database] = found
    return found[1]


def requests_waiting() -> int:
    """Requests of this process waiting for their point's commit, over every writer (for
    /metrics: a queue that stays long says the database cannot keep up)."""
    return sum(writer.waiting for _, writer in list(_writers.values()))
