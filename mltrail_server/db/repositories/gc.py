"""SQL of garbage collection: finding soft-deleted runs and experiments old enough to purge,
what still refers to them from the model registry, deleting them for good, and the
PostgreSQL advisory lock that lets one process at a time collect (services/gc.py holds the
rules).

A run's rows go by cascade from `run`: params, tags, latest metrics (whose trigger deletes
the points, migration 0005), metric blocks, logged-model metrics and input/output links;
logged models it produced keep their row, with no source run (SET NULL), as do its child
runs (no parent). An experiment's delete cascades to its runs, tags, grants and logged
models."""

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from mltrail_server.db.tables import (
    DELETED,
    Experiment,
    ExperimentTag,
    LatestMetric,
    LoggedModel,
    Metric,
    ModelVersion,
    RegisteredModel,
    Run,
)

__all__ = [
    "Candidate",
    "advisory_unlock",
    "count_deleted",
    "deleted_experiments",
    "deleted_runs",
    "drop_old_points",
    "experiments_tagged",
    "delete_experiment",
    "delete_run",
    "experiments_referenced_by_versions",
    "lifecycles_of_experiments",
    "lifecycles_of_runs",
    "lock_deleted_experiment",
    "lock_deleted_run",
    "runs_referenced_by_versions",
    "try_advisory_lock",
]


class Candidate(NamedTuple):
    id: uuid.UUID
    experiment_id: uuid.UUID  # the experiment itself, for an experiment
    name: str
    deleted_at: datetime | None


def _deleted_before(table: type[Run] | type[Experiment], before: datetime) -> ColumnElement[bool]:
    """Soft-deleted before `before` (a row deleted before deletion times were kept counts)."""
    return and_(
        table.lifecycle == DELETED, or_(table.deleted_at.is_(None), table.deleted_at < before)
    )


async def count_deleted(session: AsyncSession, before: datetime) -> tuple[int, int]:
    """How many runs, and how many experiments, are soft-deleted before `before`: what a
    collection pass would look at (the backlog /metrics shows). The runs' count is a
    lookup in the partial index `ix_run_deleted`, whatever the table's size."""
    runs = select(func.count()).select_from(Run).where(_deleted_before(Run, before))
    experiments = (
        select(func.count()).select_from(Experiment).where(_deleted_before(Experiment, before))
    )
    return (await session.scalar(runs) or 0), (await session.scalar(experiments) or 0)


async def deleted_experiments(
    session: AsyncSession,
    before: datetime,
    ids: Collection[uuid.UUID] | None,
    limit: int,
    after: uuid.UUID | None = None,
) -> list[Candidate]:
    """Up to `limit` experiments soft-deleted before `before` (among `ids` when given), in
    id order, after the id `after`: a pass reads each candidate once, batch after batch."""
    query = select(Experiment.id, Experiment.name, Experiment.deleted_at).where(
        _deleted_before(Experiment, before)
    )
    if ids is not None:
        query = query.where(Experiment.id.in_(ids))
    if after is not None:
        query = query.where(Experiment.id > after)
    query = query.order_by(Experiment.id).limit(limit)
    rows = (await session.execute(query)).all()
    return [Candidate(row.id, row.id, row.name, row.deleted_at) for row in rows]


async def deleted_runs(
    session: AsyncSession,
    before: datetime,
    ids: Collection[uuid.UUID] | None,
    limit: int,
    after: uuid.UUID | None = None,
) -> list[Candidate]:
    """The same for runs, whatever their experiment's lifecycle."""
    query = select(Run.id, Run.experiment_id, Run.name, Run.deleted_at).where(
        _deleted_before(Run, before)
    )
    if ids is not None:
        query = query.where(Run.id.in_(ids))
    if after is not None:
        query = query.where(Run.id > after)
    query = query.order_by(Run.id).limit(limit)
    rows = (await session.execute(query)).all()
    return [Candidate(row.id, row.experiment_id, row.name, row.deleted_at) for row in rows]


async def lifecycles_of_runs(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = (await session.execute(select(Run.id, Run.lifecycle).where(Run.id.in_(ids)))).all()
    return {row.id: row.lifecycle for row in rows}


async def lifecycles_of_experiments(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    query = select(Experiment.id, Experiment.lifecycle).where(Experiment.id.in_(ids))
    return {row.id: row.lifecycle for row in (await session.execute(query)).all()}


async def runs_referenced_by_versions(
    session: AsyncSession, run_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Of `run_ids`, those a model version was registered from: run id -> `name/version`."""
    if not run_ids:
        return {}
    query = (
        select(ModelVersion.run_id, RegisteredModel.name, ModelVersion.version)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(ModelVersion.run_id.in_(run_ids))
        .order_by(RegisteredModel.name, ModelVersion.version)
    )
    found: dict[uuid.UUID, str] = {}
    for row in (await session.execute(query)).all():
        if row.run_id is not None:
            found.setdefault(row.run_id, f"{row.name}/{row.version}")
    return found


async def experiments_referenced_by_versions(
    session: AsyncSession, experiment_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Of `experiment_ids`, those holding a run or a logged model a model version was
    registered from: experiment id -> `name/version`."""
    if not experiment_ids:
        return {}
    found: dict[uuid.UUID, str] = {}
    by_run = (
        select(Run.experiment_id, RegisteredModel.name, ModelVersion.version)
        .join(ModelVersion, ModelVersion.run_id == Run.id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(Run.experiment_id.in_(experiment_ids))
    )
    by_model = (
        select(LoggedModel.experiment_id, RegisteredModel.name, ModelVersion.version)
        .join(ModelVersion, ModelVersion.logged_model_id == LoggedModel.id)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(LoggedModel.experiment_id.in_(experiment_ids))
    )
    for query in (by_run, by_model):
        for row in (await session.execute(query)).all():
            found.setdefault(row.experiment_id, f"{row.name}/{row.version}")
    return found


async def _lock_deleted(
    session: AsyncSession, table: type[Run] | type[Experiment], id_: uuid.UUID, before: datetime
) -> bool:
    query = (
        select(table.id).where(table.id == id_, _deleted_before(table, before)).with_for_update()
    )
    return (await session.execute(query)).first() is not None


async def lock_deleted_run(session: AsyncSession, run_id: uuid.UUID, before: datetime) -> bool:
    """Lock the run if it is still soft-deleted before `before` (not restored, not purged
    by another collector meanwhile): whether it may be purged in this transaction."""
    return await _lock_deleted(session, Run, run_id, before)


async def lock_deleted_experiment(
    session: AsyncSession, experiment_id: uuid.UUID, before: datetime
) -> bool:
    """The same for an experiment."""
    return await _lock_deleted(session, Experiment, experiment_id, before)


async def delete_run(session: AsyncSession, run_id: uuid.UUID) -> bool:
    result = await session.execute(delete(Run).where(Run.id == run_id))
    return bool(getattr(result, "rowcount", 0))


async def delete_experiment(session: AsyncSession, experiment_id: uuid.UUID) -> bool:
    result = await session.execute(delete(Experiment).where(Experiment.id == experiment_id))
    return bool(getattr(result, "rowcount", 0))


async def try_advisory_lock(connection: AsyncConnection, key: int) -> bool:
    """PostgreSQL: take the advisory lock `key` in the connection's transaction if no other
    session holds it; it is released when that transaction ends (`advisory_unlock`, or the
    connection closing). Transaction-scoped, so it holds behind PgBouncer in transaction
    mode too. Other databases: True (SQLite serializes its writers anyway)."""
    if connection.dialect.name != "postgresql":
        return True
    taken = await connection.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    return bool(taken)


async def advisory_unlock(connection: AsyncConnection, key: int) -> None:
    """End the lock's transaction (it wrote nothing), releasing the lock."""
    await connection.rollback()


async def experiments_tagged(session: AsyncSession, key: str) -> list[tuple[uuid.UUID, str]]:
    """Every experiment with the tag `key`, and the tag's value."""
    query = (
        select(ExperimentTag.experiment_id, ExperimentTag.value)
        .where(ExperimentTag.key == key)
        .order_by(ExperimentTag.experiment_id)
    )
    return [(row.experiment_id, row.value) for row in (await session.execute(query)).all()]


def _old_points(experiment_id: uuid.UUID, cutoff_ms: int) -> Any:
    """The experiment's raw points timestamped before `cutoff_ms`, except each series'
    latest point (the one `latest_metric` shows)."""
    series = (
        select(LatestMetric.id)
        .join(Run, Run.id == LatestMetric.run_id)
        .where(Run.experiment_id == experiment_id)
    )
    latest = exists().where(
        LatestMetric.id == Metric.series_id,
        LatestMetric.step == Metric.step,
        LatestMetric.timestamp == Metric.timestamp,
    )
    return and_(Metric.series_id.in_(series), Metric.timestamp < cutoff_ms, ~latest)


async def drop_old_points(
    session: AsyncSession, experiment_id: uuid.UUID, cutoff_ms: int, *, dry_run: bool
) -> int:
    """Delete (with `dry_run` only count) the experiment's raw points older than
    `cutoff_ms`, each series' latest kept. The rollups (`metric_block`: count, min, max and
    last per 256 steps; `latest_metric`: latest, min, max) are not touched."""
    where = _old_points(experiment_id, cutoff_ms)
    if dry_run:
        query = select(func.count()).select_from(Metric).where(where)
        return int((await session.execute(query)).scalar_one())
    result = await session.execute(delete(Metric).where(where))
    return int(getattr(result, "rowcount", 0) or 0)
