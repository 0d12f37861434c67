"""Routes only MLflow's own UI calls: `/ajax-api/2.0/mlflow/metrics/get-history-bulk` and
`experiments/search-datasets` (MLflow serves them under `/ajax-api` only), and
`/get-artifact` (a run's file by run id and path, for the artifact viewer)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from mltrail_server.mlflow import wire
from mltrail_server.mlflow.dependencies import (
    MlflowRunArtifactServiceDep,
    MlflowUiReadServiceDep,
)
from mltrail_server.mlflow.errors import MlflowRoute
from mltrail_server.routes.artifact_response import file_response
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


@artifact_router.get("/get-artifact")
async def get_artifact(
    query: Annotated[wire.GetArtifactQuery, Query()], service: MlflowRunArtifactServiceDep
) -> Response:
    """The file at `path` of a run's artifacts (`run_id` or `run_uuid`), streamed; a `..`
    segment in `path` is a 400."""
    download, path = await service.download(query)
    return file_response(download, path)
