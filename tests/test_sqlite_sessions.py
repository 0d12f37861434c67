"""Read and write sessions on SQLite: a read transaction holds no write lock, so a reader
that is still open never makes a writer wait; writers begin IMMEDIATE and queue."""

import asyncio
from pathlib import Path

from sqlalchemy import text

from mltrail_server.db.engine import Database


async def test_an_open_read_does_not_hold_writers_back(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", statement_timeout=0)
    other = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", statement_timeout=0)
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        async with database.read_session() as reading:
            await reading.execute(text("SELECT count(*) FROM t"))  # its transaction is open
            # Another process's writer: with a write lock held by the reader it would wait
            # out SQLite's busy timeout and fail with "database is locked".
            async with other.session() as writing:
                await writing.execute(text("INSERT INTO t VALUES (1)"))
                await writing.commit()
        async with database.read_session() as reading:
            assert (await reading.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    finally:
        await database.dispose()
        await other.dispose()


async def test_a_write_session_holds_the_write_lock_from_its_start(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", statement_timeout=0)
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        async with database.session() as writing:
            await writing.execute(text("SELECT count(*) FROM t"))  # BEGIN IMMEDIATE: locked
            raw = await asyncio.to_thread(_try_to_write, tmp_path / "t.db")
            assert "locked" in raw
            await writing.rollback()
    finally:
        await database.dispose()


def _try_to_write(path: Path) -> str:
    import sqlite3

    connection = sqlite3.connect(path, timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
        return "free"
    except sqlite3.OperationalError as error:
        return str(error)
    finally:
        connection.close()
