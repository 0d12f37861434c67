"""SQL of the model registry's two searches (MLflow's `registered-models/search` and
`model-versions/search`, v1's `GET /models`): a parsed filter and `order_by` compiled by
`db.search_sql` over the registry's columns and tag tables."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.search_sql import Attribute, KeyedTable, KeyRows, SearchSql
from mltrail_server.db.tables import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)
from mltrail_server.search import Expr, OrderBy

__all__ = ["search_models", "search_versions"]

_MODEL_ATTRIBUTES = {
    "name": Attribute(RegisteredModel.name),
    "creation_timestamp": Attribute(RegisteredModel.created_at, "time"),
    "last_updated_timestamp": Attribute(RegisteredModel.updated_at, "time"),
}
_MODEL_KEYED = {
    "tag": KeyedTable(RegisteredModelTag, "model_id", RegisteredModel.id),
}
_MODEL_THEN = (OrderBy("attribute", "name", True),)


@dataclass(frozen=True)
class _VersionTags:
    """A version's tags: rows keyed by (model id, version), which `KeyedTable` cannot say."""

    def rows(self, key: str, on_postgres: bool) -> KeyRows:
        where: tuple[ColumnElement[bool], ...] = (
            ModelVersionTag.model_id == ModelVersion.model_id,
            ModelVersionTag.version == ModelVersion.version,
            ModelVersionTag.key == key,
        )
        return KeyRows(None, ModelVersionTag.value, where)


_VERSION_ATTRIBUTES = {
    "name": Attribute(RegisteredModel.name),
    "version_number": Attribute(ModelVersion.version, "number"),
    "run_id": Attribute(ModelVersion.run_id, "uuid", nullable=True),
    "source_path": Attribute(ModelVersion.source),
    "creation_timestamp": Attribute(ModelVersion.created_at, "time"),
    "last_updated_timestamp": Attribute(ModelVersion.updated_at, "time"),
}
_VERSION_KEYED = {"tag": _VersionTags()}
_VERSION_THEN = (
    OrderBy("attribute", "name", True),
    OrderBy("attribute", "version_number", False),
)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else ""


async def search_models(
    session: AsyncSession,
    *,
    where: Expr | None,
    order_by: Sequence[OrderBy],
    offset: int,
    limit: int,
    count: bool = False,
) -> tuple[Sequence[RegisteredModel], int | None]:
    """A page of the models matching `where`, in `order_by` order then by name; with
    `count`, also how many match in all."""
    compiler = SearchSql(_dialect(session), attributes=_MODEL_ATTRIBUTES, keyed=_MODEL_KEYED)
    query = select(RegisteredModel)
    condition = None if where is None else compiler.condition(where)
    if condition is not None:
        query = query.where(condition)
    total = None
    if count:
        counting = select(func.count()).select_from(RegisteredModel)
        if condition is not None:
            counting = counting.where(condition)
        total = int((await session.execute(counting)).scalar_one())
    query = compiler.ordered(query, order_by, _MODEL_THEN).offset(offset).limit(limit)
    return (await session.execute(query)).scalars().all(), total


async def search_versions(
    session: AsyncSession,
    *,
    where: Expr | None,
    order_by: Sequence[OrderBy],
    offset: int,
    limit: int,
    model_id: uuid.UUID | None = None,
    count: bool = False,
) -> tuple[Sequence[tuple[ModelVersion, str]], int | None]:
    """A page of the versions (with their model's name) matching `where` (and of one model,
    with `model_id`), in `order_by` order, then by name and newest version first."""
    compiler = SearchSql(_dialect(session), attributes=_VERSION_ATTRIBUTES, keyed=_VERSION_KEYED)
    conditions: list[ColumnElement[bool]] = []
    if model_id is not None:
        conditions.append(ModelVersion.model_id == model_id)
    if where is not None:
        conditions.append(compiler.condition(where))
    joined = ModelVersion.__table__.join(
        RegisteredModel.__table__, RegisteredModel.id == ModelVersion.model_id
    )
    query = cast(
        "Select[Any]",
        select(ModelVersion, RegisteredModel.name).select_from(joined).where(*conditions),
    )
    total = None
    if count:
        counting = select(func.count()).select_from(joined).where(*conditions)
        total = int((await session.execute(counting)).scalar_one())
    query = compiler.ordered(query, order_by, _VERSION_THEN).offset(offset).limit(limit)
    return [(row[0], row[1]) for row in await session.execute(query)], total
