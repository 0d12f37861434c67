"""SQL of the queue of artifact purges: the store folders whose objects are still to be
deleted (services/artifact_purge.py holds the rules: when to retry, when a row is done).

Drainers claim due rows with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several processes
or hosts draining at once never claim the same row in the same moment; SQLite ignores the
clause, and its single writer serializes the claims instead."""

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.tables import ArtifactPurge

__all__ = [
    "ClaimedPurge",
    "claim_due",
    "count",
    "next_due",
    "queue",
    "record_failure",
    "release",
    "remove",
]


class ClaimedPurge(NamedTuple):
    id: int
    prefix: str
    attempts: int  # this one included


async def queue(session: AsyncSession, prefix: str, now: datetime) -> None:
    """A row due at once for the folder `prefix`, in the session's transaction."""
    session.add(ArtifactPurge(prefix=prefix, queued_at=now, attempts=0, next_attempt_at=now))
    await session.flush()


async def claim_due(
    session: AsyncSession, now: datetime, lease_until: datetime, limit: int
) -> list[ClaimedPurge]:
    """Up to `limit` rows due by `now`, oldest first, each counted as one more attempt and
    not due again before `lease_until` (so a drainer that dies holding them only delays
    them)."""
    query = (
        select(ArtifactPurge)
        .where(ArtifactPurge.next_attempt_at <= now)
        .order_by(ArtifactPurge.next_attempt_at, ArtifactPurge.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = list(await session.scalars(query))
    for row in rows:
        row.attempts += 1
        row.next_attempt_at = lease_until
    await session.flush()
    return [ClaimedPurge(row.id, row.prefix, row.attempts) for row in rows]


async def remove(session: AsyncSession, purge_id: int) -> None:
    """The row is done: its folder's objects are gone (nothing if another drainer removed
    it first)."""
    await session.execute(delete(ArtifactPurge).where(ArtifactPurge.id == purge_id))


async def record_failure(
    session: AsyncSession, purge_id: int, error: str, next_attempt_at: datetime
) -> None:
    await session.execute(
        update(ArtifactPurge)
        .where(ArtifactPurge.id == purge_id)
        .values(last_error=error, next_attempt_at=next_attempt_at)
    )


async def release(session: AsyncSession, purge_ids: Sequence[int], now: datetime) -> None:
    """Claimed rows due again at once: their drainer stops before it finished them."""
    if purge_ids:
        await session.execute(
            update(ArtifactPurge).where(ArtifactPurge.id.in_(purge_ids)).values(next_attempt_at=now)
        )


async def next_due(session: AsyncSession) -> datetime | None:
    """When the next row falls due (perhaps already past); None when the queue is empty."""
    found: datetime | None = await session.scalar(select(func.min(ArtifactPurge.next_attempt_at)))
    return found


async def count(session: AsyncSession) -> int:
    """Rows pending: folders whose objects are not deleted yet."""
    return int(await session.scalar(select(func.count()).select_from(ArtifactPurge)) or 0)
