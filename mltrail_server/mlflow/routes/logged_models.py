"""/api/2.0/mlflow/logged-models/...: the models MLflow 3's `log_model` records."""

from typing import Annotated

from fastapi import APIRouter, Query

from mltrail_server.mlflow import wire
from mltrail_server.mlflow.dependencies import (
    LoggedModelServiceDep,
    MlflowModelArtifactServiceDep,
)
from mltrail_server.mlflow.errors import MlflowRoute
from mltrail_server.mlflow.wire_artifacts import ListLoggedModelArtifacts
from mltrail_server.services.access import READ_ONLY

router = APIRouter(prefix="/logged-models", route_class=MlflowRoute)


@router.post("", response_model=wire.LoggedModelResponse)
async def create_logged_model(
    request: wire.CreateLoggedModel, service: LoggedModelServiceDep
) -> wire.LoggedModelResponse:
    """Create a logged model, PENDING until its files are uploaded and it is finalized."""
    return wire.LoggedModelResponse(model=await service.create(request))


@router.post("/search", response_model=wire.SearchLoggedModelsResponse, openapi_extra=READ_ONLY)
async def search_logged_models(
    request: wire.SearchLoggedModels, service: LoggedModelServiceDep
) -> wire.SearchLoggedModelsResponse:
    """Logged models of some experiments matching a filter, a page at a time."""
    return await service.search(request)


@router.get("/{model_id}", response_model=wire.LoggedModelResponse)
async def get_logged_model(
    model_id: str, service: LoggedModelServiceDep
) -> wire.LoggedModelResponse:
    """A logged model."""
    return wire.LoggedModelResponse(model=await service.get(model_id))


@router.patch("/{model_id}", response_model=wire.LoggedModelResponse)
async def finalize_logged_model(
    model_id: str, request: wire.FinalizeLoggedModel, service: LoggedModelServiceDep
) -> wire.LoggedModelResponse:
    """Set a logged model's final status (LOGGED_MODEL_READY once its files are up)."""
    return wire.LoggedModelResponse(model=await service.finalize(model_id, request.status))


@router.delete("/{model_id}", response_model=wire.Empty)
async def delete_logged_model(model_id: str, service: LoggedModelServiceDep) -> wire.Empty:
    """Delete a logged model (its files stay among the artifacts)."""
    await service.delete(model_id)
    return wire.Empty()


@router.patch("/{model_id}/tags", response_model=wire.Empty)
async def set_logged_model_tags(
    model_id: str, request: wire.LoggedModelTags, service: LoggedModelServiceDep
) -> wire.Empty:
    """Set or overwrite tags of a logged model."""
    await service.set_tags(model_id, request.tags)
    return wire.Empty()


@router.delete("/{model_id}/tags/{key:path}", response_model=wire.Empty)
async def delete_logged_model_tag(
    model_id: str, key: str, service: LoggedModelServiceDep
) -> wire.Empty:
    """Remove a tag of a logged model."""
    await service.delete_tag(model_id, key)
    return wire.Empty()


@router.post("/{model_id}/params", response_model=wire.Empty)
async def log_logged_model_params(
    model_id: str, request: wire.LoggedModelParams, service: LoggedModelServiceDep
) -> wire.Empty:
    """Add params to a logged model."""
    await service.log_params(model_id, request.params)
    return wire.Empty()


@router.get("/{model_id}/artifacts/directories", response_model=wire.ListRunArtifactsResponse)
async def list_logged_model_artifacts(
    model_id: str,
    query: Annotated[ListLoggedModelArtifacts, Query()],
    service: MlflowModelArtifactServiceDep,
) -> wire.ListRunArtifactsResponse:
    """The entries directly under `artifact_directory_path` of a logged model's files
    (model-relative paths), with its `root_uri`; a `..` segment is a 400."""
    return await service.list(model_id, query)
