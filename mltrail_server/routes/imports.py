"""/api/v1/import/...: what an import from another tracker needs beyond the usual routes
(admins only): runs created with the ids, times and status they had there, MLflow 3's
logged models with their `m-…` ids, and registered models whose versions keep their
numbers."""

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from mltrail_server.dependencies import AdminDep, RunServiceDep, SessionDep
from mltrail_server.mlflow.services.model_imports import ModelImportService
from mltrail_server.models.imports import LoggedModelImport, RegisteredModelImport
from mltrail_server.models.registry import LoggedModel, RegisteredModel
from mltrail_server.models.run import Run, RunImport
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.registry import _model as registered_model
from mltrail_server.routes.responses import CONFLICT, NOT_FOUND

router = APIRouter(prefix="/import", tags=["import"], route_class=AccessRoute)


async def get_model_imports(session: SessionDep) -> ModelImportService:
    return ModelImportService(session)


ModelImportsDep = Annotated[ModelImportService, Depends(get_model_imports)]


@router.post(
    "/runs",
    response_model=Run,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": Run, "description": "The run existed: it now matches"}}
    | NOT_FOUND
    | CONFLICT,
)
async def import_run(
    data: RunImport, service: RunServiceDep, response: Response, _admin: AdminDep
) -> Run:
    """Create a run with the given id, name, status, user, times and parent (admins only).

    Sending it again is harmless: an existing run of that id in the same experiment is made
    to match (a deleted one is restored) and the answer is 200 instead of 201. A run of that
    id in another experiment is a 409; a missing experiment a 404. A parent that is not a
    run of the same experiment here is left out."""
    run, created = await service.import_run(data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return run


@router.post(
    "/logged-models",
    response_model=LoggedModel,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": LoggedModel, "description": "It existed: it now matches"}}
    | NOT_FOUND
    | CONFLICT,
)
async def import_logged_model(
    data: LoggedModelImport, service: ModelImportsDep, response: Response, _admin: AdminDep
) -> LoggedModel:
    """Create an MLflow 3 logged model with the given `m-…` id, name, status, params, tags,
    metrics and times (admins only); upload its files afterwards under the
    `artifact_location` of the answer (`mlflow-artifacts:/…`, through the artifact routes).

    Sending it again is harmless: an existing model of that id in the same experiment is
    made to match (a deleted one is restored; metric points are stored once) and the answer
    is 200. A model of that id in another experiment is a 409; a missing experiment a 404.
    A source run, or a metric's run, that is not here is left out."""
    model, created = await service.import_logged_model(data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return model


@router.post(
    "/registered-models",
    response_model=RegisteredModel,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": RegisteredModel, "description": "It existed: it now matches"}}
    | NOT_FOUND
    | CONFLICT,
)
async def import_registered_model(
    data: RegisteredModelImport, service: ModelImportsDep, response: Response, admin: AdminDep
) -> RegisteredModel:
    """Create a registered model with its description, tags, versions (with the numbers
    they had) and aliases, or make the existing one of that name match (admins only).

    Each version's files are found from its `source` as at a create: `models:/m-…` (a
    logged model here), `runs:/<run id>/<path>` (a run here) or an artifact URI, so
    `models:/<name>/<n>` and `models:/<name>@<alias>` load through this server. Versions not
    sent stay as they are; the next version created gets the number after the highest one.
    A source naming a run or logged model that is not here is a 404 or 422 naming the
    version, and nothing of the request is kept."""
    record, created = await service.import_registered_model(data, admin.name)
    if not created:
        response.status_code = status.HTTP_200_OK
    return registered_model(record)
