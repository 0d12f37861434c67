"""/api/2.0/mlflow/experiments/...: MLflow's experiment endpoints."""

from typing import Annotated

from fastapi import APIRouter, Query

from mltrail_server.dependencies import PrincipalDep
from mltrail_server.mlflow import wire
from mltrail_server.mlflow.dependencies import MlflowExperimentServiceDep
from mltrail_server.mlflow.errors import MlflowRoute
from mltrail_server.mlflow.services.experiments import MLFLOW_OWNER
from mltrail_server.services.access import READ_ONLY

router = APIRouter(prefix="/experiments", route_class=MlflowRoute)


@router.post("/create", response_model=wire.CreateExperimentResponse)
async def create_experiment(
    request: wire.CreateExperiment, service: MlflowExperimentServiceDep, principal: PrincipalDep
) -> wire.CreateExperimentResponse:
    """Create an experiment, owned by the caller (`mlflow` where auth is off); a name in use
    (also by a deleted experiment) is a 400 RESOURCE_ALREADY_EXISTS."""
    owner = principal.name if principal.authenticated else MLFLOW_OWNER
    return wire.CreateExperimentResponse(experiment_id=await service.create(request, owner))


@router.get("/get", response_model=wire.ExperimentResponse)
async def get_experiment(
    query: Annotated[wire.ExperimentIdQuery, Query()], service: MlflowExperimentServiceDep
) -> wire.ExperimentResponse:
    """An experiment by id, deleted ones included."""
    return wire.ExperimentResponse(experiment=await service.get(query.experiment_id))


@router.get("/get-by-name", response_model=wire.ExperimentResponse)
async def get_experiment_by_name(
    query: Annotated[wire.ExperimentNameQuery, Query()], service: MlflowExperimentServiceDep
) -> wire.ExperimentResponse:
    """An experiment by exact name (the live one, else a deleted one); 404 when none."""
    return wire.ExperimentResponse(experiment=await service.get_by_name(query.experiment_name))


@router.post("/search", response_model=wire.SearchExperimentsResponse, openapi_extra=READ_ONLY)
async def search_experiments(
    request: wire.SearchExperiments, service: MlflowExperimentServiceDep
) -> wire.SearchExperimentsResponse:
    """Experiments matching a filter (`name`, `experiment_id`, `creation_time`,
    `last_update_time`, `tags.<key>`), a page at a time."""
    return await service.search(request)


@router.get("/search", response_model=wire.SearchExperimentsResponse)
async def search_experiments_by_query(
    query: Annotated[wire.SearchExperiments, Query()], service: MlflowExperimentServiceDep
) -> wire.SearchExperimentsResponse:
    """The same search, with the request in the query string."""
    return await service.search(query)


@router.post("/update", response_model=wire.Empty)
async def update_experiment(
    request: wire.UpdateExperiment, service: MlflowExperimentServiceDep
) -> wire.Empty:
    """Rename an experiment."""
    await service.rename(request.experiment_id, request.new_name)
    return wire.Empty()


@router.post("/delete", response_model=wire.Empty)
async def delete_experiment(
    request: wire.ExperimentIdBody, service: MlflowExperimentServiceDep
) -> wire.Empty:
    """Soft-delete an experiment and its runs."""
    await service.delete(request.experiment_id)
    return wire.Empty()


@router.post("/restore", response_model=wire.Empty)
async def restore_experiment(
    request: wire.ExperimentIdBody, service: MlflowExperimentServiceDep
) -> wire.Empty:
    """Bring back a soft-deleted experiment."""
    await service.restore(request.experiment_id)
    return wire.Empty()


@router.post("/set-experiment-tag", response_model=wire.Empty)
async def set_experiment_tag(
    request: wire.SetExperimentTag, service: MlflowExperimentServiceDep
) -> wire.Empty:
    """Set or overwrite an experiment tag."""
    await service.set_tag(request.experiment_id, request.key, request.value)
    return wire.Empty()


@router.post("/delete-experiment-tag", response_model=wire.Empty)
async def delete_experiment_tag(
    request: wire.DeleteExperimentTag, service: MlflowExperimentServiceDep
) -> wire.Empty:
    """Remove an experiment tag."""
    await service.delete_tag(request.experiment_id, request.key)
    return wire.Empty()
