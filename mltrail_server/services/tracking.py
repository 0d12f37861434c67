"""Logging to a run: metric points, write-once params, tags. A batch is validated whole and
stored in the request's one transaction, or not at all."""

import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.db.repositories import tracking as repo
from mltrail_server.errors import Conflict, NotFound
from mltrail_server.models.tracking import (
    BatchLog,
    BatchResult,
    LatestMetric,
    MetricPoint,
    metric_float,
)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def latest_metric(row: Any) -> LatestMetric:
    """A series' latest point and extremes, from a `latest_metric` row or ORM object."""
    return LatestMetric(
        value=math.nan if row.is_nan else row.value,
        step=row.step,
        timestamp=row.timestamp,
        min=row.min_value,
        max=row.max_value,
    )


class ParamChanged(Conflict):
    """A param logged again with another value: (key, stored value, new value) of each."""

    def __init__(self, message: str, changes: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.changes = changes


@dataclass
class TrackingService:
    session: AsyncSession

    async def log_batch(self, run_id: uuid.UUID, batch: BatchLog) -> BatchResult:
        if batch.params or batch.tags or not repo.is_postgres(self.session):
            await self._live_run(run_id)
            await self._store(run_id, batch.params, batch.tags)
            if batch.metrics:
                await repo.add_points(self.session, run_id, self._points(batch.metrics))
        elif not await repo.add_points_alone(self.session, run_id, self._points(batch.metrics)):
            # The hot path, metrics only on PostgreSQL: one statement, checking the run too.
            raise NotFound(f"Run {run_id} not found")
        return BatchResult(
            metrics=len(batch.metrics), params=len(batch.params), tags=len(batch.tags)
        )

    async def delete_tag(self, run_id: uuid.UUID, key: str) -> None:
        await self._live_run(run_id)
        if not await repo.delete_tag(self.session, run_id, key):
            raise NotFound(f"Run {run_id} has no tag {key!r}")

    @staticmethod
    def _points(metrics: list[MetricPoint]) -> list[repo.Point]:
        stamp = now_ms()
        return [
            repo.Point(
                m.key,
                metric_float(m.value),
                m.step,
                stamp if m.timestamp is None else m.timestamp,
            )
            for m in metrics
        ]

    async def _store(
        self, run_id: uuid.UUID, params: Mapping[str, str], tags: Mapping[str, str]
    ) -> None:
        stored = await repo.add_params(self.session, run_id, params)
        changed = sorted(key for key, value in params.items() if stored.get(key) != value)
        if changed:
            await self.session.rollback()
            key = changed[0]
            raise ParamChanged(
                f"Param {key!r} of run {run_id} is already {stored[key]!r}; params are "
                f"write-once, so {params[key]!r} was not stored (nothing in this request was)",
                [(k, stored[k], params[k]) for k in changed],
            )
        await repo.set_tags(self.session, run_id, tags)

    async def _live_run(self, run_id: uuid.UUID) -> None:
        if not await runs_repo.is_live(self.session, run_id):
            raise NotFound(f"Run {run_id} not found")
