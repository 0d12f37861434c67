"""SQL asked of a PostgreSQL read replica (a hot standby) about itself."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["replay_lag_seconds"]

# 0 when the standby has replayed all the WAL it received; else the age of the last
# transaction it replayed. NULL on a server that is not in recovery (no standby).
_REPLAY_LAG = text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
)


async def replay_lag_seconds(session: AsyncSession) -> float | None:
    """How many seconds the standby's replay lags behind what it received, None when it is
    no standby or has replayed nothing yet. A standby cut off from its primary receives
    nothing and so reports 0: /ready and `mltrail doctor` tell that case."""
    value = await session.scalar(_REPLAY_LAG)
    return None if value is None else float(value)
