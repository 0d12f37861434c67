"""SQL for experiments."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.tables import ACTIVE, Experiment, ExperimentTag, Run


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


def _filtered(
    query: Select[Any], name: str | None, owner: str | None, status: str | None
) -> Select[Any]:
    query = query.where(Experiment.lifecycle == ACTIVE)
    if name is not None:
        # Case-insensitive, folded by the database on both sides so that the two agree: ASCII
        # letters on SQLite, every letter on PostgreSQL. MLflow's names keep their case.
        query = query.where(func.lower(Experiment.name) == func.lower(name))
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


# -- for the MLflow API: any lifecycle, tags ----------------------------------------------


async def get_by_name_any(session: AsyncSession, name: str) -> Experiment | None:
    """The experiment of this exact name: the live one, else the most recently deleted."""
    query = (
        select(Experiment)
        .where(Experiment.name == name)
        .order_by((Experiment.lifecycle == ACTIVE).desc(), Experiment.deleted_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def name_in_use(
    session: AsyncSession, name: str, *, other_than: uuid.UUID | None = None
) -> bool:
    """Whether any experiment, live or deleted, has this name."""
    query = select(Experiment.id).where(Experiment.name == name)
    if other_than is not None:
        query = query.where(Experiment.id != other_than)
    return (await session.execute(query.limit(1))).first() is not None


async def add_if_missing(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert the experiment unless its id (or its live name) is already taken."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(Experiment).values(**values).on_conflict_do_nothing())


async def load_tags(
    session: AsyncSession, experiment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, str]]:
    tags: dict[uuid.UUID, dict[str, str]] = {experiment_id: {} for experiment_id in experiment_ids}
    if not experiment_ids:
        return tags
    query = select(ExperimentTag).where(ExperimentTag.experiment_id.in_(list(experiment_ids)))
    for tag in (await session.execute(query)).scalars():
        tags[tag.experiment_id][tag.key] = tag.value
    return tags


async def load_tag_values(
    session: AsyncSession, experiment_ids: Sequence[uuid.UUID], key: str
) -> dict[uuid.UUID, str]:
    """The value of the tag `key` of each of the experiments that has it."""
    if not experiment_ids:
        return {}
    query = select(ExperimentTag.experiment_id, ExperimentTag.value).where(
        ExperimentTag.experiment_id.in_(list(experiment_ids)), ExperimentTag.key == key
    )
    return {experiment_id: value for experiment_id, value in (await session.execute(query)).all()}


async def set_tags(session: AsyncSession, experiment_id: uuid.UUID, tags: dict[str, str]) -> None:
    if not tags:
        return
    dialect = session.bind.dialect.name if session.bind is not None else ""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [{"experiment_id": experiment_id, "key": k, "value": v} for k, v in sorted(tags.items())]
    statement = insert(ExperimentTag).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["experiment_id", "key"], set_={"value": statement.excluded.value}
        )
    )


async def delete_tag(session: AsyncSession, experiment_id: uuid.UUID, key: str) -> bool:
    result = await session.execute(
        delete(ExperimentTag).where(
            ExperimentTag.experiment_id == experiment_id, ExperimentTag.key == key
        )
    )
    return bool(getattr(result, "rowcount", 0))
