"""Routes only MLflow's own UI calls: `/ajax-api/2.0/mlflow/metrics/get-history-bulk`,
`experiments/search-datasets`, `upload-artifact` and `logged-models/{id}/artifacts/files`
(MLflow serves them under `/ajax-api` only), and `/get-artifact` (a run's file by run id and
path, for the artifact viewer)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from mltrail_server.mlflow import wire
from mltrail_server.mlflow.dependencies import (
    MlflowModelArtifactServiceDep,
    MlflowRunArtifactServiceDep,
    MlflowUiReadServiceDep,
)
from mltrail_server.mlflow.errors import MlflowRoute
from mltrail_server.mlflow.wire_artifacts import GetLoggedModelArtifact, UploadArtifactQuery
from mltrail_server.routes.artifact_response import declared_length, file_response
from mltrail_server.services.access import READ_ONLY

router = APIRouter(route_class=MlflowRoute)  # under /ajax-api/2.0/mlflow
artifact_router = APIRouter(route_class=MlflowRoute)  # at the root, as MLflow's


@router.get("/metrics/get-history-bulk", response_model=wire.MetricHistoryBulkResponse)
async def get_metric_history_bulk(
    query: Annotated[wire.GetMetricHistoryBulk, Query()], service: MlflowUiReadServiceDep
) -> wire.MetricHistoryBulkResponse:
    """One metric of up to 100 runs (`run_id` repeated), every point up to 25,000 a run."""
    return await service.metric_history_bulk(query)


@router.post(
    "/experiments/search-datasets",
    response_model=wire.SearchDatasetsResponse,
    openapi_extra=READ_ONLY,
)
async def search_datasets(
    request: wire.SearchDatasets, service: MlflowUiReadServiceDep
) -> wire.SearchDatasetsResponse:
    """The datasets (name, digest, context) the runs of up to 20 experiments used."""
    return await service.search_datasets(request)


@router.post(
    "/upload-artifact",
    response_class=Response,
    responses={200: {"description": "An empty body, as MLflow's server answers"}},
)
async def upload_artifact(
    query: Annotated[UploadArtifactQuery, Query()],
    request: Request,
    service: MlflowRunArtifactServiceDep,
) -> Response:
    """Store the raw body (at most 10 MB) as the file at `path` of the run `run_uuid`,
    replacing it; writing needs the run's owner, a grantee or an admin."""
    await service.upload(query, request.stream(), declared_length(request))
    return Response(media_type="application/json")


@router.get("/logged-models/{model_id}/artifacts/files")
async def get_logged_model_artifact(
    model_id: str,
    query: Annotated[GetLoggedModelArtifact, Query()],
    service: MlflowModelArtifactServiceDep,
) -> Response:
    """The file at `artifact_file_path` of a logged model's files, streamed; a `..` segment
    is a 400."""
    download, path = await service.download(model_id, query)
    return file_response(download, path)


@artifact_router.get("/get-artifact")
async def get_artifact(
    query: Annotated[wire.GetArtifactQuery, Query()], service: MlflowRunArtifactServiceDep
) -> Response:
    """The file at `path` of a run's artifacts (`run_id` or `run_uuid`), streamed; a `..`
    segment in `path` is a 400."""
    download, path = await service.download(query)
    return file_response(download, path)
