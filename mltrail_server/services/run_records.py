"""The one read model of a run, which both APIs render.

A `RunRecord` is the run's row (with its lifecycle and stored artifact URI), its params, tags
and latest metrics, and, where the caller asks, its inputs and outputs. Any number of runs load
in three queries (four with links), each row read once: v1 renders a record as `Run`, the
MLflow wire as its `Run` (mltrail_server/mlflow/render.py).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import tracking as repo
from mltrail_server.db.tables import Run as RunRow
from mltrail_server.db.tables import RunLink
from mltrail_server.models.run import Run
from mltrail_server.models.tracking import LatestMetric
from mltrail_server.services.tracking import latest_metric

__all__ = ["RunRecord", "load_records"]


@dataclass(frozen=True)
class RunRecord:
    """A run as read, with everything it logged."""

    row: RunRow
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, LatestMetric]
    links: tuple[RunLink, ...] = ()

    def to_v1(self) -> Run:
        run = Run.model_validate(self.row)
        run.params = self.params
        run.tags = self.tags
        run.metrics = self.metrics
        return run


async def load_records(
    session: AsyncSession, rows: Sequence[RunRow], *, links: bool = False
) -> list[RunRecord]:
    """The records of `rows`, in their order; `links` also loads inputs and outputs."""
    ids = [row.id for row in rows]
    data = await repo.load_run_data(session, ids)
    linked = await repo.load_links(session, ids) if links else {}
    return [
        RunRecord(
            row=row,
            params=data[row.id].params,
            tags=data[row.id].tags,
            metrics={key: latest_metric(m) for key, m in data[row.id].metrics.items()},
            links=tuple(linked.get(row.id, ())),
        )
        for row in rows
    ]
