"""SQL for experiments."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.tables import ACTIVE, Experiment, Run


def _run_count() -> Any:
    return (
        select(func.count(Run.id))
        .where(Run.experiment_id == Experiment.id, Run.lifecycle == ACTIVE)
        .correlate(Experiment)
        .scalar_subquery()
        .label("run_count")
    )


async def add(session: AsyncSession, experiment: Experiment) -> Experiment:
    session.add(experiment)
    await session.flush()
    return experiment


async def get(
    session: AsyncSession, experiment_id: uuid.UUID, *, include_deleted: bool = False
) -> Experiment | None:
    query = select(Experiment).where(Experiment.id == experiment_id)
    if not include_deleted:
        query = query.where(Experiment.lifecycle == ACTIVE)
    return (await session.execute(query)).scalar_one_or_none()


async def get_for_update(
    session: AsyncSession, experiment_id: uuid.UUID, *, include_deleted: bool = False
) -> Experiment | None:
    """Like `get`, locking the row on PostgreSQL so concurrent updates queue."""
    query = select(Experiment).where(Experiment.id == experiment_id).with_for_update()
    if not include_deleted:
        query = query.where(Experiment.lifecycle == ACTIVE)
    return (await session.execute(query)).scalar_one_or_none()


async def get_by_name(session: AsyncSession, name: str) -> Experiment | None:
    query = select(Experiment).where(Experiment.name == name, Experiment.lifecycle == ACTIVE)
    return (await session.execute(query)).scalar_one_or_none()


async def count_runs(session: AsyncSession, experiment_id: uuid.UUID) -> int:
    query = select(func.count(Run.id)).where(
        Run.experiment_id == experiment_id, Run.lifecycle == ACTIVE
    )
    return int((await session.execute(query)).scalar_one())


def _filtered(
    query: Select[Any], name: str | None, owner: str | None, status: str | None
) -> Select[Any]:
    query = query.where(Experiment.lifecycle == ACTIVE)
    if name is not None:
        query = query.where(Experiment.name == name)
    if owner is not None:
        query = query.where(Experiment.owner == owner)
    if status is not None:
        query = query.where(Experiment.status == status)
    return query


async def list_page(
    session: AsyncSession,
    *,
    name: str | None,
    owner: str | None,
    status: str | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Row[Any]], int]:
    """A page of (Experiment, run_count) rows, newest first, and the total."""
    total_query = _filtered(select(func.count(Experiment.id)), name, owner, status)
    total = int((await session.execute(total_query)).scalar_one())
    if total <= offset:
        return [], total
    query = (
        _filtered(select(Experiment, _run_count()), name, owner, status)
        .order_by(Experiment.created_at.desc(), Experiment.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return (await session.execute(query)).all(), total


async def purge(session: AsyncSession, experiment_id: uuid.UUID) -> bool:
    """Delete the experiment and, by cascade, everything under it."""
    result = await session.execute(delete(Experiment).where(Experiment.id == experiment_id))
    return bool(getattr(result, "rowcount", 0))
