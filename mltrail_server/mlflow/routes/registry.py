"""/api/2.0/mlflow/registered-models/... and /model-versions/...: MLflow's model registry,
as the 3.x client calls it (GET requests carry their fields in the query string; DELETE
requests in a JSON body)."""

from typing import Annotated

from fastapi import APIRouter, Query

from mltrail_server.dependencies import PrincipalDep
from mltrail_server.mlflow import render_registry as render
from mltrail_server.mlflow import wire
from mltrail_server.mlflow import wire_registry as rw
from mltrail_server.mlflow.dependencies import RegistryServiceDep
from mltrail_server.mlflow.errors import MlflowRoute
from mltrail_server.mlflow.services.experiments import MLFLOW_OWNER
from mltrail_server.mlflow.translate import run_id_in
from mltrail_server.services.access import READ_ONLY

router = APIRouter(route_class=MlflowRoute)
RM = "/registered-models"
MV = "/model-versions"


# -- registered models -------------------------------------------------------------------------


@router.post(f"{RM}/create", response_model=rw.RegisteredModelResponse)
async def create_registered_model(
    request: rw.CreateRegisteredModel, service: RegistryServiceDep, principal: PrincipalDep
) -> rw.RegisteredModelResponse:
    """Create a registered model, owned by the caller; a name in use is a 400
    RESOURCE_ALREADY_EXISTS."""
    owner = principal.name if principal.authenticated else MLFLOW_OWNER
    record = await service.create_model(
        request.name,
        owner,
        description=request.description,
        tags={tag.key: tag.value for tag in request.tags},
    )
    return rw.RegisteredModelResponse(registered_model=render.registered_model(record))


@router.get(f"{RM}/get", response_model=rw.RegisteredModelResponse)
async def get_registered_model(
    query: Annotated[rw.RegistryRequest, Query()], service: RegistryServiceDep
) -> rw.RegisteredModelResponse:
    """A registered model with its tags, aliases and newest version per stage."""
    record = await service.get_model(query.name)
    return rw.RegisteredModelResponse(registered_model=render.registered_model(record))


@router.post(f"{RM}/rename", response_model=rw.RegisteredModelResponse)
async def rename_registered_model(
    request: rw.RenameRegisteredModel, service: RegistryServiceDep
) -> rw.RegisteredModelResponse:
    """Rename a registered model; its versions, tags and aliases stay with it."""
    record = await service.rename_model(request.name, request.new_name or "")
    return rw.RegisteredModelResponse(registered_model=render.registered_model(record))


@router.patch(f"{RM}/update", response_model=rw.RegisteredModelResponse)
async def update_registered_model(
    request: rw.UpdateRegisteredModel, service: RegistryServiceDep
) -> rw.RegisteredModelResponse:
    """Set a registered model's description."""
    record = await service.update_model(request.name, request.description)
    return rw.RegisteredModelResponse(registered_model=render.registered_model(record))


@router.delete(f"{RM}/delete", response_model=wire.Empty)
async def delete_registered_model(
    request: rw.RegistryRequest, service: RegistryServiceDep
) -> wire.Empty:
    """Delete a registered model with all its versions (their files stay where they are)."""
    await service.delete_model(request.name)
    return wire.Empty()


@router.get(f"{RM}/search", response_model=rw.SearchRegisteredModelsResponse)
async def search_registered_models(
    query: Annotated[rw.SearchRegistry, Query()], service: RegistryServiceDep
) -> rw.SearchRegisteredModelsResponse:
    """Registered models matching a filter (`name`, `tags.<key>`, with AND, OR and
    parentheses), by `order_by` (`name`, `creation_timestamp`, `last_updated_timestamp`),
    a page at a time (100 by default, at most 1000)."""
    size = rw.page_size(query.max_results, rw.DEFAULT_MODELS_PAGE, rw.MAX_MODELS_PAGE)
    records, token = await service.search_models(
        query.filter, query.order_by, size, query.page_token
    )
    return rw.SearchRegisteredModelsResponse(
        registered_models=[render.registered_model(r) for r in records], next_page_token=token
    )


@router.post(
    f"{RM}/get-latest-versions", response_model=rw.ModelVersionsResponse, openapi_extra=READ_ONLY
)
async def get_latest_versions(
    request: rw.GetLatestVersions, service: RegistryServiceDep
) -> rw.ModelVersionsResponse:
    """The newest version in each of `stages` (each stage when none is given)."""
    records = await service.latest_versions(request.name, request.stages)
    return rw.ModelVersionsResponse(model_versions=[render.model_version(r) for r in records])


@router.get(f"{RM}/get-latest-versions", response_model=rw.ModelVersionsResponse)
async def get_latest_versions_by_query(
    query: Annotated[rw.GetLatestVersions, Query()], service: RegistryServiceDep
) -> rw.ModelVersionsResponse:
    """The same, with the request in the query string."""
    records = await service.latest_versions(query.name, query.stages)
    return rw.ModelVersionsResponse(model_versions=[render.model_version(r) for r in records])


@router.post(f"{RM}/set-tag", response_model=wire.Empty)
async def set_registered_model_tag(
    request: rw.SetRegisteredModelTag, service: RegistryServiceDep
) -> wire.Empty:
    """Set or overwrite a tag of a registered model."""
    await service.set_model_tag(request.name, request.key, request.value)
    return wire.Empty()


@router.delete(f"{RM}/delete-tag", response_model=wire.Empty)
async def delete_registered_model_tag(
    request: rw.DeleteRegisteredModelTag, service: RegistryServiceDep
) -> wire.Empty:
    """Remove a tag of a registered model (a missing tag is no error, as in MLflow)."""
    await service.delete_model_tag(request.name, request.key)
    return wire.Empty()


@router.post(f"{RM}/alias", response_model=wire.Empty)
async def set_registered_model_alias(
    request: rw.SetAlias, service: RegistryServiceDep
) -> wire.Empty:
    """Point an alias (`models:/<name>@<alias>`) at a version, moving it if it was set."""
    await service.set_alias(request.name, request.alias, request.version)
    return wire.Empty()


@router.delete(f"{RM}/alias", response_model=wire.Empty)
async def delete_registered_model_alias(
    request: rw.AliasRequest, service: RegistryServiceDep
) -> wire.Empty:
    """Remove an alias."""
    await service.delete_alias(request.name, request.alias)
    return wire.Empty()


@router.get(f"{RM}/alias", response_model=rw.ModelVersionResponse)
async def get_model_version_by_alias(
    query: Annotated[rw.AliasRequest, Query()], service: RegistryServiceDep
) -> rw.ModelVersionResponse:
    """The version an alias points at (`latest`: the newest version)."""
    record = await service.get_by_alias(query.name, query.alias)
    return rw.ModelVersionResponse(model_version=render.model_version(record))


# -- model versions ----------------------------------------------------------------------------


@router.post(f"{MV}/create", response_model=rw.ModelVersionResponse)
async def create_model_version(
    request: rw.CreateModelVersion, service: RegistryServiceDep, principal: PrincipalDep
) -> rw.ModelVersionResponse:
    """Register a new version, numbered one past the model's last (`runs:/<run>/<path>`,
    `models:/m-<id>` or an artifact URI); it is READY at once."""
    run_id = run_id_in(request.run_id) if request.run_id else None
    record = await service.create_version(
        request.name,
        request.source,
        user=principal.name if principal.authenticated else None,
        run_id=run_id,
        logged_model_id=request.model_id or None,
        description=request.description,
        tags={tag.key: tag.value for tag in request.tags},
        run_link=request.run_link,
    )
    return rw.ModelVersionResponse(model_version=render.model_version(record))


@router.get(f"{MV}/get", response_model=rw.ModelVersionResponse)
async def get_model_version(
    query: Annotated[rw.VersionRequest, Query()], service: RegistryServiceDep
) -> rw.ModelVersionResponse:
    """A version of a registered model."""
    record = await service.get_version(query.name, query.version)
    return rw.ModelVersionResponse(model_version=render.model_version(record))


@router.patch(f"{MV}/update", response_model=rw.ModelVersionResponse)
async def update_model_version(
    request: rw.UpdateModelVersion, service: RegistryServiceDep
) -> rw.ModelVersionResponse:
    """Set a version's description."""
    record = await service.update_version(
        request.name, request.version, description=request.description
    )
    return rw.ModelVersionResponse(model_version=render.model_version(record))


@router.post(f"{MV}/transition-stage", response_model=rw.ModelVersionResponse)
async def transition_model_version_stage(
    request: rw.TransitionModelVersionStage, service: RegistryServiceDep
) -> rw.ModelVersionResponse:
    """Move a version to a stage (None, Staging, Production, Archived: deprecated in MLflow,
    answered as it does), archiving the others in that stage on request."""
    record = await service.transition_stage(
        request.name, request.version, request.stage, request.archive_existing_versions
    )
    return rw.ModelVersionResponse(model_version=render.model_version(record))


@router.delete(f"{MV}/delete", response_model=wire.Empty)
async def delete_model_version(
    request: rw.VersionRequest, service: RegistryServiceDep
) -> wire.Empty:
    """Delete a version, with its tags and the aliases that pointed at it; its number is
    never given again."""
    await service.delete_version(request.name, request.version)
    return wire.Empty()


@router.get(f"{MV}/search", response_model=rw.SearchModelVersionsResponse)
async def search_model_versions(
    query: Annotated[rw.SearchRegistry, Query()], service: RegistryServiceDep
) -> rw.SearchModelVersionsResponse:
    """Versions matching a filter (`name`, `version_number`, `run_id`, `source_path`,
    `tags.<key>`, with AND, OR and parentheses), by `order_by`, a page at a time."""
    size = rw.page_size(query.max_results, rw.DEFAULT_VERSIONS_PAGE, rw.MAX_VERSIONS_PAGE)
    records, token = await service.search_versions(
        query.filter, query.order_by, size, query.page_token
    )
    return rw.SearchModelVersionsResponse(
        model_versions=[render.model_version(r) for r in records], next_page_token=token
    )


@router.get(f"{MV}/get-download-uri", response_model=rw.DownloadUriResponse)
async def get_model_version_download_uri(
    query: Annotated[rw.VersionRequest, Query()], service: RegistryServiceDep
) -> rw.DownloadUriResponse:
    """Where a version's files are: `mlflow-artifacts:/…` for files in this server's store,
    which the client fetches through the proxied artifact routes."""
    return rw.DownloadUriResponse(
        artifact_uri=await service.download_uri(query.name, query.version)
    )


@router.post(f"{MV}/set-tag", response_model=wire.Empty)
async def set_model_version_tag(
    request: rw.SetModelVersionTag, service: RegistryServiceDep
) -> wire.Empty:
    """Set or overwrite a tag of a version."""
    await service.set_version_tag(request.name, request.version, request.key, request.value)
    return wire.Empty()


@router.delete(f"{MV}/delete-tag", response_model=wire.Empty)
async def delete_model_version_tag(
    request: rw.DeleteModelVersionTag, service: RegistryServiceDep
) -> wire.Empty:
    """Remove a tag of a version (a missing tag is no error, as in MLflow)."""
    await service.delete_version_tag(request.name, request.version, request.key)
    return wire.Empty()
