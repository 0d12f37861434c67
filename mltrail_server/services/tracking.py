"""Logging to a run: metric points, write-once params, tags. A batch is validated whole and
stored in the request's one transaction, or not at all. A few points alone (one point per
request, above all) go to the group-commit writer instead (services/point_writer.py), which
stores those of concurrent requests together, in a transaction of its own."""

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
from mltrail_server.services.point_writer import PointWriter
from mltrail_server.services.telemetry import POINTS


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


# Writes of at most this many points and nothing else go through the group-commit writer;
# bigger batches are one statement of their own already.
GROUPED_POINTS = 100


@dataclass
class TrackingService:
    session: AsyncSession
    # The group-commit writer of the request's database (None: every write in the session).
    writer: PointWriter | None = None

    async def log_batch(self, run_id: uuid.UUID, batch: BatchLog) -> BatchResult:
        await self.store(run_id, self._points(batch.metrics), batch.params, batch.tags)
        return BatchResult(
            metrics=len(batch.metrics), params=len(batch.params), tags=len(batch.tags)
        )

    async def store(
        self,
        run_id: uuid.UUID,
        points: list[repo.Point],
        params: Mapping[str, str],
        tags: Mapping[str, str],
    ) -> None:
        """Store what a run logs, all or nothing; NotFound if the run is not live."""
        if params or tags:
            await self._live_run(run_id)
            await self._store(run_id, params, tags)
            if points:
                await repo.add_points(self.session, run_id, points)
        elif (
            self.writer is not None
            and 0 < len(points) <= GROUPED_POINTS
            and not self.session.in_transaction()
        ):
            # One point per request: committed with those of concurrent requests. (A session
            # that already holds a transaction keeps the write in it: on SQLite it may hold
            # the write lock the writer would wait for.)
            if not await self.writer.add(run_id, points):
                raise NotFound(f"Run {run_id} not found")
        elif repo.is_postgres(self.session):
            # Metrics only on PostgreSQL: one statement, checking the run too.
            if not await repo.add_points_alone(self.session, run_id, points):
                raise NotFound(f"Run {run_id} not found")
        else:
            await self._live_run(run_id)
            await repo.add_points(self.session, run_id, points)
        if points:
            POINTS.inc(len(points))

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
