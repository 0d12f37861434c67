"""SQL for live updates: the small, indexed reads a watcher repeats every half second.

Each read walks an index: a run by its primary key, an experiment's live runs by
`ix_run_experiment_listing`, and their latest points by `uq_latest_metric_run_key`.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.tables import ACTIVE, Experiment, LatestMetric, Run


class RunState(NamedTuple):
    id: uuid.UUID
    name: str
    status: str
    ended_at: datetime | None


_RUN_STATE = (Run.id, Run.name, Run.status, Run.ended_at)


async def run_state(session: AsyncSession, run_id: uuid.UUID) -> RunState | None:
    """The run, if it and its experiment are live."""
    query = (
        select(*_RUN_STATE)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(Run.id == run_id, Run.lifecycle == ACTIVE, Experiment.lifecycle == ACTIVE)
    )
    row = (await session.execute(query)).first()
    return None if row is None else RunState(*row)


async def experiment_run_states(
    session: AsyncSession, experiment_id: uuid.UUID
) -> list[RunState] | None:
    """The live runs of a live experiment; None when the experiment is not live."""
    live = select(Experiment.id).where(
        Experiment.id == experiment_id, Experiment.lifecycle == ACTIVE
    )
    if (await session.execute(live)).first() is None:
        return None
    query = select(*_RUN_STATE).where(Run.experiment_id == experiment_id, Run.lifecycle == ACTIVE)
    return [RunState(*row) for row in await session.execute(query)]


class SeriesState(NamedTuple):
    """The latest point of one series, with its min and max (NaN is 0 with `is_nan`)."""

    run_id: uuid.UUID
    key: str
    value: float
    is_nan: bool
    step: int
    timestamp: int
    min: float | None
    max: float | None


_SERIES_STATE = (
    LatestMetric.run_id,
    LatestMetric.key,
    LatestMetric.value,
    LatestMetric.is_nan,
    LatestMetric.step,
    LatestMetric.timestamp,
    LatestMetric.min_value,
    LatestMetric.max_value,
)


async def latest_metrics(session: AsyncSession, run_ids: Sequence[uuid.UUID]) -> list[SeriesState]:
    """The latest point (with min and max) of every series of these runs, as plain rows (no
    ORM objects: this runs twice a second per watched experiment)."""
    if not run_ids:
        return []
    query = select(*_SERIES_STATE).where(LatestMetric.run_id.in_(list(run_ids)))
    return [SeriesState(*row) for row in await session.execute(query)]
