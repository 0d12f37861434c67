"""The payloads of the live event streams (`GET /api/v1/runs/{id}/events` and
`GET /api/v1/experiments/{id}/events`), one schema per Server-Sent Event type."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from mltrail_server.models.run import RunStatus
from mltrail_server.models.tracking import LatestMetric


class LiveRun(BaseModel):
    """What a runs table shows of a run and can change while it is watched."""

    id: UUID
    name: str
    status: RunStatus
    ended_at: datetime | None


class LiveMetric(LatestMetric):
    """The latest point of one series of one run, with the series' min and max."""

    run_id: UUID
    key: str


class LiveState(BaseModel):
    """`event: state`, sent first: everything the stream watches, as it is now."""

    runs: list[LiveRun]
    metrics: list[LiveMetric] = Field(
        description="Every series of the run; for an experiment, those of its running runs"
    )


class RunsChanged(BaseModel):
    """`event: runs`: runs that appeared or changed (status, name, end), and runs that are
    gone (deleted)."""

    changed: list[LiveRun]
    removed: list[UUID]


class MetricsChanged(BaseModel):
    """`event: metrics`: series whose latest point, min or max moved."""

    metrics: list[LiveMetric]
