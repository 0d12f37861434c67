"""/api/v1/models: the model registry (the same models and versions as MLflow's registry).

A model's name is one path segment, percent-encoded as any text in a URL (`churn%20v2`).
MLflow's rule forbids `/` (and `:`) in names, so no name spans two segments: an encoded
slash (`%2F`) is read as a separator like a plain one, and `/models/{name}/versions` is never
part of a name."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response, status

from mltrail_server.dependencies import AuthServiceDep, PrincipalDep, SessionDep
from mltrail_server.mlflow.services.model_sources import MlflowModelSources
from mltrail_server.models.auth import Grant, GrantCreate
from mltrail_server.models.registry import (
    AliasTarget,
    LoggedModel,
    ModelVersion,
    ModelVersionCreate,
    ModelVersionPage,
    ModelVersionUpdate,
    RegisteredModel,
    RegisteredModelCreate,
    RegisteredModelPage,
    RegisteredModelUpdate,
    TagValue,
)
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import CONFLICT, NOT_FOUND
from mltrail_server.services.access import RegisteredModelRef
from mltrail_server.services.registry import ModelRecord, RegistryService, VersionRecord

router = APIRouter(tags=["models"], route_class=AccessRoute)

PageNumber = Annotated[int, Query(ge=1, description="Page number, from 1")]
PerPage = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100)")]
NO_CONTENT = status.HTTP_204_NO_CONTENT
M = "/models/{name}"
V = "/models/{name}/versions/{version}"


async def get_registry(session: SessionDep) -> RegistryService:
    return RegistryService(session, MlflowModelSources(session))


async def get_model_ref(
    name: Annotated[str, Path(description="The model's name, percent-encoded")],
) -> RegisteredModelRef:
    return RegisteredModelRef(name)


RegistryDep = Annotated[RegistryService, Depends(get_registry)]
ModelRefDep = Annotated[RegisteredModelRef, Depends(get_model_ref)]
Version = Annotated[int, Path(ge=1, description="The version number")]


def _model(record: ModelRecord) -> RegisteredModel:
    row = record.row
    return RegisteredModel(
        name=row.name,
        description=row.description,
        owner=row.owner,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tags=record.tags,
        aliases=record.aliases,
        latest_version=record.latest_version,
        versions_count=record.versions_count,
    )


def _version(record: VersionRecord) -> ModelVersion:
    row = record.row
    return ModelVersion(
        name=record.name,
        version=row.version,
        source=row.source,
        run_id=row.run_id,
        logged_model_id=row.logged_model_id,
        status=row.status,
        stage=row.stage,
        description=row.description,
        tags=record.tags,
        aliases=record.aliases,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.get("/models", response_model=RegisteredModelPage)
async def list_models(
    service: RegistryDep,
    filter: Annotated[
        str | None,
        Query(description="MLflow's filter language: name LIKE 'clf%' AND tags.team = 'nlp'"),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        Query(description="name, creation_timestamp or last_updated_timestamp, ASC or DESC"),
    ] = None,
    page: PageNumber = 1,
    per_page: PerPage = 20,
) -> RegisteredModelPage:
    """Registered models matching `filter` (with AND, OR and parentheses), by name unless
    `order_by` says otherwise."""
    records, total = await service.list_models(filter, order_by or [], page, per_page)
    return RegisteredModelPage.build([_model(r) for r in records], total, page, per_page)


@router.post(
    "/models",
    response_model=RegisteredModel,
    status_code=status.HTTP_201_CREATED,
    responses=CONFLICT,
)
async def create_model(
    data: RegisteredModelCreate, service: RegistryDep, principal: PrincipalDep
) -> RegisteredModel:
    """Create a registered model, owned by the caller; a name in use is a 409."""
    record = await service.create_model(
        data.name, principal.name, description=data.description, tags=data.tags
    )
    return _model(await service.get_model(record.row.name))


@router.get(M, response_model=RegisteredModel, responses=NOT_FOUND)
async def get_model(model: ModelRefDep, service: RegistryDep) -> RegisteredModel:
    """A registered model with its tags, aliases and newest version."""
    return _model(await service.get_model(model.name))


@router.patch(M, response_model=RegisteredModel, responses={**NOT_FOUND, **CONFLICT})
async def update_model(
    model: ModelRefDep, data: RegisteredModelUpdate, service: RegistryDep
) -> RegisteredModel:
    """Rename (`name`; 409 when taken; versions and aliases stay) or describe a model."""
    name = model.name
    if "description" in data.model_fields_set:
        await service.update_model(name, data.description)
    if data.name is not None and data.name != name:
        name = (await service.rename_model(name, data.name)).row.name
    return _model(await service.get_model(name))


@router.delete(M, status_code=NO_CONTENT, responses=NOT_FOUND)
async def delete_model(model: ModelRefDep, service: RegistryDep) -> Response:
    """Delete a registered model with its versions, tags and aliases."""
    await service.delete_model(model.name)
    return Response(status_code=NO_CONTENT)


@router.put(f"{M}/tags/{{key}}", status_code=NO_CONTENT, responses=NOT_FOUND)
async def set_model_tag(
    model: ModelRefDep, key: str, data: TagValue, service: RegistryDep
) -> Response:
    """Set or overwrite a tag of a registered model."""
    await service.set_model_tag(model.name, key, data.value)
    return Response(status_code=NO_CONTENT)


@router.delete(f"{M}/tags/{{key}}", status_code=NO_CONTENT, responses=NOT_FOUND)
async def delete_model_tag(model: ModelRefDep, key: str, service: RegistryDep) -> Response:
    """Remove a tag of a registered model (404 when it has no such tag)."""
    await service.delete_model_tag(model.name, key, missing_ok=False)
    return Response(status_code=NO_CONTENT)


@router.put(f"{M}/aliases/{{alias}}", status_code=NO_CONTENT, responses=NOT_FOUND)
async def set_alias(
    model: ModelRefDep, alias: str, data: AliasTarget, service: RegistryDep
) -> Response:
    """Point an alias at a version (moving it if set); `latest` and `v<n>` are reserved."""
    await service.set_alias(model.name, alias, data.version)
    return Response(status_code=NO_CONTENT)


@router.delete(f"{M}/aliases/{{alias}}", status_code=NO_CONTENT, responses=NOT_FOUND)
async def delete_alias(model: ModelRefDep, alias: str, service: RegistryDep) -> Response:
    """Remove an alias (404 when the model has no such alias)."""
    await service.delete_alias(model.name, alias, missing_ok=False)
    return Response(status_code=NO_CONTENT)


@router.get(f"{M}/aliases/{{alias}}", response_model=ModelVersion, responses=NOT_FOUND)
async def get_alias(model: ModelRefDep, alias: str, service: RegistryDep) -> ModelVersion:
    """The version an alias points at (`latest`: the newest version)."""
    return _version(await service.get_by_alias(model.name, alias))


@router.get(f"{M}/versions", response_model=ModelVersionPage, responses=NOT_FOUND)
async def list_versions(
    model: ModelRefDep, service: RegistryDep, page: PageNumber = 1, per_page: PerPage = 20
) -> ModelVersionPage:
    """A model's versions, newest first."""
    records, total = await service.list_versions(model.name, page, per_page)
    return ModelVersionPage.build([_version(r) for r in records], total, page, per_page)


@router.post(
    f"{M}/versions",
    response_model=ModelVersion,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
async def create_version(
    model: ModelRefDep, data: ModelVersionCreate, service: RegistryDep, principal: PrincipalDep
) -> ModelVersion:
    """Register a new version, numbered one past the model's last: from a run's files
    (`runs:/<run id>/<path>`), a logged model (`models:/m-<id>`), or an artifact URI."""
    record = await service.create_version(
        model.name,
        data.source,
        user=principal.name,
        run_id=data.run_id,
        description=data.description,
        tags=data.tags,
    )
    return _version(record)


@router.get(V, response_model=ModelVersion, responses=NOT_FOUND)
async def get_version(model: ModelRefDep, version: Version, service: RegistryDep) -> ModelVersion:
    """One version of a model."""
    return _version(await service.get_version(model.name, version))


@router.patch(V, response_model=ModelVersion, responses=NOT_FOUND)
async def update_version(
    model: ModelRefDep, version: Version, data: ModelVersionUpdate, service: RegistryDep
) -> ModelVersion:
    """Change a version's description or stage (only the fields sent)."""
    record = await service.update_version(
        model.name,
        version,
        description=data.description,
        stage=data.stage,
        set_description="description" in data.model_fields_set,
    )
    return _version(record)


@router.delete(V, status_code=NO_CONTENT, responses=NOT_FOUND)
async def delete_version(model: ModelRefDep, version: Version, service: RegistryDep) -> Response:
    """Delete a version with its tags and aliases; its number is never given again."""
    await service.delete_version(model.name, version)
    return Response(status_code=NO_CONTENT)


@router.put(f"{V}/tags/{{key}}", status_code=NO_CONTENT, responses=NOT_FOUND)
async def set_version_tag(
    model: ModelRefDep, version: Version, key: str, data: TagValue, service: RegistryDep
) -> Response:
    """Set or overwrite a tag of a version."""
    await service.set_version_tag(model.name, version, key, data.value)
    return Response(status_code=NO_CONTENT)


@router.delete(f"{V}/tags/{{key}}", status_code=NO_CONTENT, responses=NOT_FOUND)
async def delete_version_tag(
    model: ModelRefDep, version: Version, key: str, service: RegistryDep
) -> Response:
    """Remove a tag of a version (404 when it has no such tag)."""
    await service.delete_version_tag(model.name, version, key, missing_ok=False)
    return Response(status_code=NO_CONTENT)


@router.post(f"{M}/grants", status_code=NO_CONTENT, responses={**NOT_FOUND, **CONFLICT})
async def grant_model_write(
    model: ModelRefDep, data: GrantCreate, service: AuthServiceDep, principal: PrincipalDep
) -> Response:
    """Let a user write to this model and its versions: its owner or an admin may."""
    await service.grant_model(principal, model.name, data.user_id)
    return Response(status_code=NO_CONTENT)


@router.get(f"{M}/grants", response_model=list[Grant], responses=NOT_FOUND)
async def list_model_grants(
    model: ModelRefDep, service: AuthServiceDep, principal: PrincipalDep
) -> list[Grant]:
    """The users granted write access to this model, oldest grant first (its owner or an
    admin)."""
    found = await service.list_model_grants(principal, model.name)
    return [
        Grant(user_id=user.id, name=user.name, role=user.role, granted_at=grant.created_at)
        for grant, user in found
    ]


@router.delete(f"{M}/grants/{{user_id}}", status_code=NO_CONTENT, responses=NOT_FOUND)
async def revoke_model_grant(
    model: ModelRefDep, user_id: UUID, service: AuthServiceDep, principal: PrincipalDep
) -> Response:
    """Take back a user's write access to this model (its owner or an admin)."""
    await service.revoke_model_grant(principal, model.name, user_id)
    return Response(status_code=NO_CONTENT)


@router.get("/runs/{run_id}/model-versions", response_model=list[ModelVersion])
async def list_run_model_versions(run_id: UUID, service: RegistryDep) -> list[ModelVersion]:
    """The versions registered from this run, newest first."""
    return [_version(r) for r in await service.versions_of_run(run_id)]


@router.get("/runs/{run_id}/logged-models", response_model=list[LoggedModel], responses=NOT_FOUND)
async def list_run_logged_models(run_id: UUID, service: RegistryDep) -> list[LoggedModel]:
    """The models this run logged (MLflow 3's logged models whose source is the run, and
    those it logged as its outputs), each once, newest first."""
    return await service.logged_models_of_run(run_id)
