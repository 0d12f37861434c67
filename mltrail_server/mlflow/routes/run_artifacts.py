"""/api/2.0/mlflow/artifacts/list: a run's artifacts by run id (MLflow's UI and older
clients list them this way; the 3.x client lists through `mlflow-artifacts`)."""

from typing import Annotated

from fastapi import APIRouter, Query

from mltrail_server.mlflow import wire
from mltrail_server.mlflow.dependencies import MlflowRunArtifactServiceDep
from mltrail_server.mlflow.errors import MlflowRoute

router = APIRouter(prefix="/artifacts", route_class=MlflowRoute)


@router.get("/list", response_model=wire.ListRunArtifactsResponse)
async def list_run_artifacts(
    query: Annotated[wire.ListRunArtifacts, Query()], service: MlflowRunArtifactServiceDep
) -> wire.ListRunArtifactsResponse:
    """The entries directly under `path` of a run's artifacts, with the run's `root_uri`;
    a `..` segment in `path` is a 400 INVALID_PARAMETER_VALUE."""
    return await service.list(query)
