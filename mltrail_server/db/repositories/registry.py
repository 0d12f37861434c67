"""SQL for the model registry: registered models, their versions, tags, aliases and grants
(the searches are in `registry_search`).

Children refer to the model's surrogate id, so a rename touches one row. Deleting a version
or a model deletes its tags and aliases explicitly too (the foreign keys cascade, but not
every SQLite connection enforces them)."""

import uuid
from collections.abc import Sequence

from sqlalchemy import and_, delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.tables import (
    ModelAlias,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelGrant,
    RegisteredModelTag,
)

__all__ = [
    "add_model",
    "add_version",
    "aliases_of",
    "allocate_version",
    "delete_alias",
    "delete_model",
    "delete_model_tag",
    "delete_version",
    "delete_version_tag",
    "get_alias",
    "get_model",
    "get_version",
    "latest_versions",
    "model_owner",
    "model_tags",
    "set_alias",
    "set_model_tag",
    "set_version_tag",
    "version_counts",
    "version_tags",
    "versions_of_run",
]


# -- registered models -------------------------------------------------------------------------


async def add_model(session: AsyncSession, model: RegisteredModel) -> RegisteredModel:
    session.add(model)
    await session.flush()
    return model


async def get_model(
    session: AsyncSession, name: str, *, for_update: bool = False
) -> RegisteredModel | None:
    query = select(RegisteredModel).where(RegisteredModel.name == name)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def model_owner(session: AsyncSession, name: str) -> tuple[uuid.UUID, str] | None:
    """The model's id and owner (the permission check's question)."""
    query = select(RegisteredModel.id, RegisteredModel.owner).where(RegisteredModel.name == name)
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def delete_model(session: AsyncSession, model_id: uuid.UUID) -> None:
    for table in (ModelAlias, ModelVersionTag, ModelVersion, RegisteredModelTag):
        await session.execute(delete(table).where(table.model_id == model_id))
    await session.execute(
        delete(RegisteredModelGrant).where(RegisteredModelGrant.model_id == model_id)
    )
    await session.execute(delete(RegisteredModel).where(RegisteredModel.id == model_id))


async def allocate_version(session: AsyncSession, model_id: uuid.UUID) -> int:
    """The model's next version number, taken in this transaction: the UPDATE locks the
    model's row until the commit (PostgreSQL; SQLite holds its write lock), so concurrent
    creates get consecutive numbers, and a rolled-back one gives its number back."""
    statement = (
        update(RegisteredModel)
        .where(RegisteredModel.id == model_id)
        .values(last_version=RegisteredModel.last_version + 1)
        .returning(RegisteredModel.last_version)
    )
    return int((await session.execute(statement)).scalar_one())


async def model_tags(
    session: AsyncSession, model_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, str]]:
    found: dict[uuid.UUID, dict[str, str]] = {model_id: {} for model_id in model_ids}
    if model_ids:
        query = select(RegisteredModelTag).where(RegisteredModelTag.model_id.in_(list(model_ids)))
        for tag in (await session.execute(query)).scalars():
            found[tag.model_id][tag.key] = tag.value
    return found


async def set_model_tag(session: AsyncSession, model_id: uuid.UUID, key: str, value: str) -> None:
    tag = await session.get(RegisteredModelTag, (model_id, key))
    if tag is None:
        session.add(RegisteredModelTag(model_id=model_id, key=key, value=value))
    else:
        tag.value = value
    await session.flush()


async def delete_model_tag(session: AsyncSession, model_id: uuid.UUID, key: str) -> bool:
    result = await session.execute(
        delete(RegisteredModelTag).where(
            RegisteredModelTag.model_id == model_id, RegisteredModelTag.key == key
        )
    )
    return bool(getattr(result, "rowcount", 0))


# -- versions ----------------------------------------------------------------------------------


async def add_version(session: AsyncSession, version: ModelVersion) -> ModelVersion:
    session.add(version)
    await session.flush()
    return version


async def get_version(
    session: AsyncSession, model_id: uuid.UUID, version: int
) -> ModelVersion | None:
    return await session.get(ModelVersion, (model_id, version))


async def delete_version(session: AsyncSession, model_id: uuid.UUID, version: int) -> None:
    for table in (ModelAlias, ModelVersionTag, ModelVersion):
        await session.execute(
            delete(table).where(table.model_id == model_id, table.version == version)
        )


async def latest_versions(
    session: AsyncSession, model_ids: Sequence[uuid.UUID], stages: Sequence[str] | None = None
) -> list[ModelVersion]:
    """The newest version of each model in each stage (of `stages`, or any stage)."""
    if not model_ids:
        return []
    newest = select(
        ModelVersion.model_id, ModelVersion.stage, func.max(ModelVersion.version).label("v")
    ).where(ModelVersion.model_id.in_(list(model_ids)))
    if stages is not None:
        newest = newest.where(ModelVersion.stage.in_(list(stages)))
    picked = newest.group_by(ModelVersion.model_id, ModelVersion.stage).subquery()
    query = (
        select(ModelVersion)
        .join(
            picked,
            and_(picked.c.model_id == ModelVersion.model_id, picked.c.v == ModelVersion.version),
        )
        .order_by(ModelVersion.model_id, ModelVersion.version)
    )
    return list((await session.execute(query)).scalars().all())


async def version_counts(
    session: AsyncSession, model_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int | None]]:
    """Per model: how many versions it has, and its newest version's number."""
    found: dict[uuid.UUID, tuple[int, int | None]] = {m: (0, None) for m in model_ids}
    if model_ids:
        query = (
            select(ModelVersion.model_id, func.count(), func.max(ModelVersion.version))
            .where(ModelVersion.model_id.in_(list(model_ids)))
            .group_by(ModelVersion.model_id)
        )
        for model_id, count, newest in await session.execute(query):
            found[model_id] = (int(count), None if newest is None else int(newest))
    return found


async def versions_of_run(
    session: AsyncSession, run_id: uuid.UUID
) -> Sequence[tuple[ModelVersion, str]]:
    """The versions registered from a run, with their model's name, newest first."""
    query = (
        select(ModelVersion, RegisteredModel.name)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(ModelVersion.run_id == run_id)
        .order_by(ModelVersion.created_at.desc(), RegisteredModel.name, ModelVersion.version)
    )
    return [(row[0], row[1]) for row in await session.execute(query)]


VersionKey = tuple[uuid.UUID, int]


async def version_tags(
    session: AsyncSession, keys: Sequence[VersionKey]
) -> dict[VersionKey, dict[str, str]]:
    found: dict[VersionKey, dict[str, str]] = {key: {} for key in keys}
    if keys:
        query = select(ModelVersionTag).where(
            tuple_(ModelVersionTag.model_id, ModelVersionTag.version).in_(list(keys))
        )
        for tag in (await session.execute(query)).scalars():
            found[(tag.model_id, tag.version)][tag.key] = tag.value
    return found


async def set_version_tag(
    session: AsyncSession, model_id: uuid.UUID, version: int, key: str, value: str
) -> None:
    tag = await session.get(ModelVersionTag, (model_id, version, key))
    if tag is None:
        session.add(ModelVersionTag(model_id=model_id, version=version, key=key, value=value))
    else:
        tag.value = value
    await session.flush()


async def delete_version_tag(
    session: AsyncSession, model_id: uuid.UUID, version: int, key: str
) -> bool:
    result = await session.execute(
        delete(ModelVersionTag).where(
            ModelVersionTag.model_id == model_id,
            ModelVersionTag.version == version,
            ModelVersionTag.key == key,
        )
    )
    return bool(getattr(result, "rowcount", 0))


# -- aliases -----------------------------------------------------------------------------------


async def aliases_of(
    session: AsyncSession, model_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Per model: alias -> version, aliases in name order."""
    found: dict[uuid.UUID, dict[str, int]] = {model_id: {} for model_id in model_ids}
    if model_ids:
        query = (
            select(ModelAlias)
            .where(ModelAlias.model_id.in_(list(model_ids)))
            .order_by(ModelAlias.alias)
        )
        for alias in (await session.execute(query)).scalars():
            found[alias.model_id][alias.alias] = alias.version
    return found


async def get_alias(session: AsyncSession, model_id: uuid.UUID, alias: str) -> int | None:
    row = await session.get(ModelAlias, (model_id, alias))
    return None if row is None else row.version


async def set_alias(session: AsyncSession, model_id: uuid.UUID, alias: str, version: int) -> None:
    row = await session.get(ModelAlias, (model_id, alias))
    if row is None:
        session.add(ModelAlias(model_id=model_id, alias=alias, version=version))
    else:
        row.version = version
    await session.flush()


async def delete_alias(session: AsyncSession, model_id: uuid.UUID, alias: str) -> bool:
    result = await session.execute(
        delete(ModelAlias).where(ModelAlias.model_id == model_id, ModelAlias.alias == alias)
    )
    return bool(getattr(result, "rowcount", 0))
