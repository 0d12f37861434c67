"""Per-key rate limits: a token bucket in Redis (shared by every worker) or in-process.

A bucket holds up to `burst` tokens and refills at `rate` per second; each request takes one.
An empty bucket answers how long until the next token. A rate or a burst of 0 turns limiting
off (a bucket that never refills, or never holds a token, would refuse every request). Redis
trouble never fails a request: the in-process bucket takes over until Redis answers again.
"""

import logging
import math
import time
from collections import OrderedDict

import redis.asyncio as aioredis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV: rate, burst, now (seconds). Returns seconds to wait (0: allowed).
_TAKE = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 't') or ARGV[2])
local stamp = tonumber(redis.call('HGET', KEYS[1], 's') or ARGV[3])
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tokens, 's', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class MemoryBuckets:
    def __init__(self, rate: float, burst: int, size: int = 50_000) -> None:
        self.rate = rate
        self.burst = burst
        self._size = size
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, identity: str) -> float:
        now = time.monotonic()
        tokens, stamp = self._buckets.get(identity, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[identity] = (tokens, now)
        self._buckets.move_to_end(identity)
        if len(self._buckets) > self._size:
            self._buckets.popitem(last=False)
        return wait


class RateLimiter:
    """`retry_after(identity)` is 0 when the request may go ahead, else whole seconds to wait."""

    def __init__(
        self, rate: float, burst: int, redis_url: str = "", prefix: str = "mltrail:"
    ) -> None:
        self.enabled = rate > 0 and burst > 0
        self._memory = MemoryBuckets(rate, burst) if self.enabled else None
        self._redis = (
            aioredis.Redis.from_url(redis_url, socket_timeout=0.25, socket_connect_timeout=0.25)
            if redis_url and self.enabled
            else None
        )
        self._script = self._redis.register_script(_TAKE) if self._redis else None
        self._prefix = prefix
        self._redis_down_until = 0.0
        self._rate = rate
        self._burst = burst

    async def retry_after(self, identity: str) -> int:
        if self._memory is None:
            return 0
        wait = None
        if self._script is not None and time.monotonic() >= self._redis_down_until:
            try:
                result = await self._script(
                    keys=[f"{self._prefix}ratelimit:{identity}"],
                    args=[self._rate, self._burst, time.time()],
                )
                wait = float(result)
            except (RedisError, OSError) as exc:
                logger.warning("rate limiter falling back to in-process buckets: %s", exc)
                self._redis_down_until = time.monotonic() + 5
        if wait is None:
            wait = self._memory.take(identity)
        return math.ceil(wait) if wait > 0 else 0

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
