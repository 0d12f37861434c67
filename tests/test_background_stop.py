"""Stopping the server while a background writer is inside its transaction (the audit log's
writer, the drainer of artifact purges) loses nothing and leaves no write lock behind.

The writers used to be cancelled at stop. One cancelled while it waited for SQLite's write
lock lost the audit events it had taken from its buffer. Here a side connection holds the
write lock, so the writer is certainly inside its transaction when the server stops.
"""

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from mltrail_server.db.unit_of_work import transaction
from mltrail_server.runtime import Runtime
from mltrail_server.services.artifact_purge import ArtifactPurges
from tests.conftest import Backend, _empty, side_database, start_server

DEADLINE_SECONDS = 90.0


async def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def database_file(sqlite_backend: Backend) -> str:
    return sqlite_backend.database_url.removeprefix("sqlite:///")


@pytest.fixture
async def runtime(sqlite_backend: Backend) -> AsyncIterator[Runtime]:
    database = side_database(sqlite_backend.settings().resolved_database_url)
    await _empty(database)
    await database.dispose()
    server = await start_server(sqlite_backend.settings(), sqlite_backend)
    runtime: Runtime = server.app.state.runtime  # type: ignore[attr-defined]
    yield runtime
    await server.client.aclose()
    await runtime.stop()  # a second stop does nothing


def _held_write_lock(database_file: str) -> sqlite3.Connection:
    """SQLite's write lock, held by a connection of the test's own until it rolls back."""
    holder = sqlite3.connect(database_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def _lock_is_free(database_file: str) -> bool:
    probe = sqlite3.connect(database_file, isolation_level=None, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def _count(database_file: str, table: str) -> int:
    with sqlite3.connect(database_file) as reader:
        return int(reader.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def _stop_while_locked(
    runtime: Runtime, write_lock: sqlite3.Connection, begun: Callable[[], bool]
) -> None:
    """Stop the runtime while the lock is held; once the writer has been told to stop (and,
    before the fix, cancelled), let it have the lock."""
    stopping = asyncio.create_task(runtime.stop())
    await _eventually(lambda: begun() or stopping.done(), "the writer was told to stop")
    write_lock.execute("ROLLBACK")
    await stopping


class TestAuditLog:
    async def test_events_being_written_when_the_server_stops_are_kept(
        self, runtime: Runtime, database_file: str
    ) -> None:
        # The drainer of purges would wait for the lock too, and stop waits for it first.
        await runtime.purge_drainer.stop()
        write_lock = _held_write_lock(database_file)
        database, _ = await runtime.resources()
        await runtime.audit.record(
            database, principal="p", method="POST", path="/api/v1/x", status=201
        )
        # The writer takes the event from its buffer and waits for the write lock.
        await _eventually(lambda: not runtime.audit._buffer, "the writer took the event")

        await _stop_while_locked(runtime, write_lock, runtime.audit._stopping.is_set)

        write_lock.close()
        assert _count(database_file, "audit_event") == 1
        assert _lock_is_free(database_file)


class TestPurgeDrainer:
    async def test_a_pass_under_way_hands_its_rows_back_and_leaves_the_lock_free(
        self, runtime: Runtime, database_file: str
    ) -> None:
        database, _ = await runtime.resources()
        async with transaction(database.session()) as session:
            await ArtifactPurges(session, runtime.purge_drainer).queue("gone/artifacts")
        holder = _held_write_lock(database_file)
        try:
            runtime.purge_drainer.start()  # its pass waits for the lock to claim the row
            await asyncio.sleep(0.5)
            await _stop_while_locked(runtime, holder, lambda: runtime.purge_drainer._stopping)
        finally:
            holder.close()

        assert _lock_is_free(database_file)
        # Claimed by the pass, then either deleted (a missing folder is done) or handed
        # back due at once: never left claimed for the five-minute lease.
        with sqlite3.connect(database_file) as reader:
            rows = reader.execute("SELECT next_attempt_at FROM artifact_purge").fetchall()
        soon = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)
        assert all(datetime.fromisoformat(due) < soon for (due,) in rows), rows
