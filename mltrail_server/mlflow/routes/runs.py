"""/api/2.0/mlflow/runs/...: MLflow's run endpoints."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from mltrail_server.mlflow import wire
from mltrail_server.mlflow.dependencies import MlflowLoggingServiceDep, MlflowRunServiceDep
from mltrail_server.mlflow.errors import MlflowRoute
from mltrail_server.routes.responses import orjson_response
from mltrail_server.services.access import READ_ONLY

router = APIRouter(prefix="/runs", route_class=MlflowRoute)


# The ingest routes first: the router tries routes in order, and these come most often.
@router.post("/log-metric", response_model=wire.Empty)
async def log_metric(request: wire.LogMetric, service: MlflowLoggingServiceDep) -> wire.Empty:
    """Log one metric point."""
    await service.log_metric(request)
    return wire.Empty()


@router.post("/log-batch", response_model=wire.Empty)
async def log_batch(request: wire.LogBatch, service: MlflowLoggingServiceDep) -> wire.Empty:
    """Log metrics, params and tags together, all or nothing."""
    await service.log_batch(request)
    return wire.Empty()


@router.post("/create", response_model=wire.RunResponse)
async def create_run(request: wire.CreateRun, service: MlflowRunServiceDep) -> wire.RunResponse:
    """Start a run (experiment "0" when none is given)."""
    return wire.RunResponse(run=await service.create(request))


@router.get("/get", response_model=wire.RunResponse)
async def get_run(
    query: Annotated[wire.RunRef, Query()], service: MlflowRunServiceDep
) -> wire.RunResponse:
    """A run with its params, tags and latest metrics; deleted runs included."""
    return wire.RunResponse(run=await service.get(query))


@router.post("/update", response_model=wire.UpdateRunResponse)
async def update_run(
    request: wire.UpdateRun, service: MlflowRunServiceDep
) -> wire.UpdateRunResponse:
    """Change a run's status, end time or name."""
    return wire.UpdateRunResponse(run_info=await service.update(request))


@router.post("/delete", response_model=wire.Empty)
async def delete_run(request: wire.RunRef, service: MlflowRunServiceDep) -> wire.Empty:
    """Soft-delete a run."""
    await service.delete(request)
    return wire.Empty()


@router.post("/restore", response_model=wire.Empty)
async def restore_run(request: wire.RunRef, service: MlflowRunServiceDep) -> wire.Empty:
    """Bring back a soft-deleted run."""
    await service.restore(request)
    return wire.Empty()


@router.post("/search", response_model=wire.SearchRunsResponse, openapi_extra=READ_ONLY)
async def search_runs(request: wire.SearchRuns, service: MlflowRunServiceDep) -> Response:
    """Runs of some experiments matching a filter, in order, a page at a time (MLflow's
    filter language, plus OR and parentheses)."""
    return orjson_response(await service.search(request))


@router.post("/log-parameter", response_model=wire.Empty)
async def log_param(request: wire.LogParam, service: MlflowLoggingServiceDep) -> wire.Empty:
    """Log a param; a different value for a logged key is a 400."""
    await service.log_param(request)
    return wire.Empty()


@router.post("/set-tag", response_model=wire.Empty)
async def set_tag(request: wire.SetTag, service: MlflowLoggingServiceDep) -> wire.Empty:
    """Set or overwrite a run tag."""
    await service.set_tag(request)
    return wire.Empty()


@router.post("/delete-tag", response_model=wire.Empty)
async def delete_tag(request: wire.DeleteTag, service: MlflowLoggingServiceDep) -> wire.Empty:
    """Remove a run tag; 404 if the run has no such tag."""
    await service.delete_tag(request)
    return wire.Empty()


@router.post("/log-inputs", response_model=wire.Empty)
async def log_inputs(request: wire.LogInputs, service: MlflowLoggingServiceDep) -> wire.Empty:
    """Record the datasets and models a run used."""
    await service.log_inputs(request)
    return wire.Empty()


@router.post("/outputs", response_model=wire.Empty)
async def log_outputs(request: wire.LogOutputs, service: MlflowLoggingServiceDep) -> wire.Empty:
    """Record the models a run produced."""
    await service.log_outputs(request)
    return wire.Empty()


@router.post("/log-model", response_model=wire.Empty)
async def log_model(request: wire.LogModel, service: MlflowLoggingServiceDep) -> wire.Empty:
    """Record a model's metadata on its run (the 2.x client's `log_model`)."""
    await service.log_model(request)
    return wire.Empty()
