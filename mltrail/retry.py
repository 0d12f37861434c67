"""When to try a request again: exponential backoff with jitter, honouring `Retry-After`."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RETRYABLE_STATUSES", "Backoff", "parse_retry_after"]

#: Statuses that say "not now" rather than "not this": rate limits and server-side failures.
RETRYABLE_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True)
class Backoff:
    """Delays of `base * 2**attempt` seconds, capped at `cap`, each drawn uniformly from its
    upper half, so clients that failed together do not come back together."""

    base: float = 0.25
    cap: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try number `attempt + 1`; the server's `Retry-After`, when
        it sent one, is a minimum."""
        ceiling = min(self.cap, self.base * 2 ** min(attempt, 30))
        delay = random.uniform(ceiling / 2, ceiling)
        return max(delay, retry_after) if retry_after is not None else delay


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
