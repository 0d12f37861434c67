"""Which database a request that only reads runs on, when there is a read replica
(DATABASE_READ_URL): the replica, except in two cases, where it runs on the primary.

- **Read-your-writes.** A principal that has just written reads from the primary for
  DATABASE_READ_YOUR_WRITES_SECONDS after its write was answered, so it sees what it wrote
  however far the replica lags. The window is a Redis key per principal that expires with
  it, so every worker and every host sees it. Without REDIS_URL each worker keeps its own
  windows in memory: a client whose write and next read land on two different workers may
  then read the replica (run one worker, or set REDIS_URL). Redis trouble never fails a
  request: the in-process windows, which are always kept too, take over until it answers.
  With authentication off every caller is the one open principal, so any write sends every
  read to the primary for the window.
- **The replica cannot be reached.** Its connection is taken before the request's session is
  handed out; if that fails, the request reads from the primary, and so does every read for
  REPLICA_RETRY_SECONDS, after which the replica is tried again.

Key lookups (authentication) always read the primary: a revoked key stops working at once.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from enum import StrEnum

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories import replication

__all__ = ["REPLICA_RETRY_SECONDS", "ReadRouting", "RecentWriters", "ReplicaState"]

logger = logging.getLogger(__name__)

# After the replica failed to connect, reads stay on the primary this long before it is
# tried again: a replica that is down costs one failed connection per worker per period.
REPLICA_RETRY_SECONDS = 2.0
# The longest a read waits for a connection to the replica before it goes to the primary.
REPLICA_CONNECT_SECONDS = 3.0
REDIS_TIMEOUT_SECONDS = 0.25
REDIS_RETRY_SECONDS = 5.0


class ReplicaState(StrEnum):
    NONE = "none"  # no DATABASE_READ_URL
    OK = "ok"
    UNAVAILABLE = "unavailable"


class RecentWriters:
    """The principals that wrote within the last `seconds`: in Redis (shared) when
    `redis_url` is set, and always in this process."""

    def __init__(
        self, seconds: float, redis_url: str = "", prefix: str = "mltrail:", size: int = 50_000
    ) -> None:
        self.seconds = seconds
        self._prefix = f"{prefix}read-your-writes:"
        self._size = size
        self._until: OrderedDict[str, float] = OrderedDict()
        self._redis = (
            aioredis.Redis.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            if redis_url and seconds > 0
            else None
        )
        self._redis_down_until = 0.0

    async def wrote(self, principal: str) -> None:
        """`principal` has just written: its window starts now."""
        if self.seconds <= 0:
            return
        self._until[principal] = time.monotonic() + self.seconds
        self._until.move_to_end(principal)
        while len(self._until) > self._size:
            self._until.popitem(last=False)
        if self._redis_usable():
            assert self._redis is not None
            try:
                await self._redis.set(
                    self._prefix + principal, b"1", px=max(1, round(self.seconds * 1000))
                )
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)

    async def recently_wrote(self, principal: str) -> bool:
        if self.seconds <= 0:
            return False
        if self._redis_usable():
            assert self._redis is not None
            try:
                return bool(await self._redis.exists(self._prefix + principal))
            except (RedisError, OSError) as exc:
                self._redis_failed(exc)
        until = self._until.get(principal)
        return until is not None and time.monotonic() < until

    def _redis_usable(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._redis_down_until

    def _redis_failed(self, exc: BaseException) -> None:
        logger.warning("read-your-writes windows kept in this process only: %s", exc)
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


class ReadRouting:
    """The rule of the module's docstring, for one process."""

    def __init__(self, writers: RecentWriters) -> None:
        self.writers = writers
        self._replica_down_until = 0.0

    async def read_session(
        self, primary: Database, replica: Database | None, principal: str | None
    ) -> AsyncSession:
        """A read session on the replica, or on the primary when the rule says so. A
        request with no principal (a route without authentication) has no window."""
        if replica is None:
            return primary.read_session()
        if principal is not None and await self.writers.recently_wrote(principal):
            return primary.read_session()
        if time.monotonic() < self._replica_down_until:
            return primary.read_session()
        session = replica.read_session()
        try:
            # Takes (and, the replica's pool pre-pinging, checks) the session's connection.
            await asyncio.wait_for(session.connection(), REPLICA_CONNECT_SECONDS)
        except Exception as exc:  # any failure to connect: the primary answers instead
            await session.close()
            self._replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
            logger.warning("read replica unavailable, reading from the primary: %s", exc)
            return primary.read_session()
        return session

    async def replica_state(self, replica: Database | None) -> ReplicaState:
        """Whether the replica answers now (for /ready)."""
        if replica is None:
            return ReplicaState.NONE
        try:
            await asyncio.wait_for(replica.ping(), REPLICA_CONNECT_SECONDS)
        except Exception:  # any failure to reach it is the answer
            return ReplicaState.UNAVAILABLE
        return ReplicaState.OK

    async def replica_lag(self, replica: Database | None) -> float | None:
        """How far the replica's replay lags, in seconds (for /metrics); None when there is
        no replica, it cannot be reached, or it is no standby."""
        if replica is None:
            return None
        try:
            async with replica.read_session() as session:
                return await asyncio.wait_for(
                    replication.replay_lag_seconds(session), REPLICA_CONNECT_SECONDS
                )
        except Exception:  # any failure to reach it: no lag to show
            return None

    async def close(self) -> None:
        await self.writers.close()
