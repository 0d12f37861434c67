"""The one read model of a run, which both APIs render.

A `RunRecord` is the run's row (with its lifecycle and stored artifact URI), its params, tags
and latest metrics, and, where the caller asks, its inputs and outputs. Any number of runs load
in three queries (four with links), each row read once: v1 renders a record as `Run`, the
MLflow wire as its `Run` (mltrail_server/mlflow/render.py).

A page of search results takes a shorter way: `load_page` keeps the rows as the database gave
them (plain column tuples), and each API turns them straight into the dicts of its JSON
(`v1_run` here, `render.run_json` for MLflow), which `orjson` encodes at once: no pydantic
model (nor a record) per run, per metric or per param, and no second validation of the
response (that cost ten times the database's share of a 1,000-run page).
"""

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import tracking as repo
from mltrail_server.db.tables import Run as RunRow
from mltrail_server.db.tables import RunLink
from mltrail_server.models.run import NOTE_TAG, Run
from mltrail_server.models.tracking import LatestMetric, dump_metric_value
from mltrail_server.services.tracking import latest_metric

_INF = math.inf

__all__ = ["RunPage", "RunRecord", "load_page", "load_records", "metric_json", "v1_run"]


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
        run.description = note(self.row.description, self.tags)
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


@dataclass(frozen=True)
class RunPage:
    """A page of runs as read: `run` rows (plain columns), and per run id its params, tags
    and latest-metric rows, and (when asked for) its inputs and outputs."""

    rows: Sequence[Any]
    data: Mapping[uuid.UUID, repo.RunData]
    links: Mapping[uuid.UUID, list[RunLink]]


async def load_page(session: AsyncSession, rows: Sequence[Any], *, links: bool = False) -> RunPage:
    """What a page of `rows` renders from: three queries (four with links)."""
    ids = [row.id for row in rows]
    data = await repo.load_run_data(session, ids)
    linked = await repo.load_links(session, ids) if links else {}
    return RunPage(rows, data, linked)


def note(column: str | None, tags: Mapping[str, str]) -> str | None:
    """A run's description: its MLflow note tag. The `description` column is only read for
    runs whose notes were written before the tag held them, until a write moves them."""
    return tags.get(NOTE_TAG, column)


def v1_run(row: Any, data: repo.RunData) -> dict[str, Any]:
    """A run as the v1 `Run` JSON (datetimes and UUIDs are left to orjson, which writes them
    as pydantic does: ISO 8601 with `Z`, lowercase hyphenated hex)."""
    return {
        "id": row.id,
        "experiment_id": row.experiment_id,
        "name": row.name,
        "status": row.status,
        "user": row.user,
        "description": note(row.description, data.tags),
        "parent_run_id": row.parent_run_id,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "params": data.params,
        "tags": data.tags,
        "metrics": {key: v1_latest(metric) for key, metric in data.metrics.items()},
    }


def v1_latest(row: Any) -> dict[str, Any]:
    """A `latest_metric` row as the v1 `LatestMetric` JSON."""
    low, high = row.min_value, row.max_value
    return {
        "value": metric_json(row),
        "step": row.step,
        "timestamp": row.timestamp,
        "min": low if low is None or -_INF < low < _INF else dump_metric_value(low),
        "max": high if high is None or -_INF < high < _INF else dump_metric_value(high),
    }


def metric_json(row: Any) -> float | str:
    """A `latest_metric` row's value as JSON: a number, or "NaN", "Infinity", "-Infinity"."""
    if row.is_nan:
        return "NaN"
    value: float = row.value
    # The comparison holds for every finite number (a NaN fails both sides, the infinities one).
    return value if -_INF < value < _INF else dump_metric_value(value)
