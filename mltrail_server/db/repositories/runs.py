"""SQL for runs."""

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.tables import ACTIVE, Experiment, Run


async def add(session: AsyncSession, run: Run) -> Run:
    session.add(run)
    await session.flush()
    return run


async def get(
    session: AsyncSession,
    run_id: uuid.UUID,
    *,
    include_deleted: bool = False,
    for_update: bool = False,
) -> Run | None:
    """A run whose experiment is live; a deleted run only with `include_deleted`."""
    query = (
        select(Run)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(Run.id == run_id, Experiment.lifecycle == ACTIVE)
    )
    if not include_deleted:
        query = query.where(Run.lifecycle == ACTIVE)
    if for_update:
        query = query.with_for_update(of=Run)
    return (await session.execute(query)).scalar_one_or_none()


async def list_page(
    session: AsyncSession, experiment_id: uuid.UUID, *, offset: int, limit: int
) -> tuple[Sequence[Run], int]:
    """A page of an experiment's live runs, most recently started first, and the total."""
    where = (Run.experiment_id == experiment_id, Run.lifecycle == ACTIVE)
    total = int((await session.execute(select(func.count(Run.id)).where(*where))).scalar_one())
    if total <= offset:
        return [], total
    query = (
        select(Run)
        .where(*where)
        .order_by(Run.started_at.desc(), Run.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all(), total


async def is_live(session: AsyncSession, run_id: uuid.UUID) -> bool:
    """Whether the run and its experiment are live (the check before every log write)."""
    query = (
        select(Run.id)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(Run.id == run_id, Run.lifecycle == ACTIVE, Experiment.lifecycle == ACTIVE)
    )
    return (await session.execute(query)).first() is not None


async def get_any(session: AsyncSession, run_id: uuid.UUID) -> Run | None:
    """A run whatever its lifecycle or its experiment's (MLflow's runs/get shows them all)."""
    return await session.get(Run, run_id)


async def set_artifact_uri(session: AsyncSession, run: Run, uri: str) -> None:
    run.artifact_uri = uri
    await session.flush()
