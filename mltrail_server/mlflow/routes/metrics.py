"""/api/2.0/mlflow/metrics/...: reading metric series back."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from mltrail_server.mlflow import wire
from mltrail_server.mlflow.dependencies import MlflowLoggingServiceDep
from mltrail_server.mlflow.errors import MlflowRoute

router = APIRouter(prefix="/metrics", route_class=MlflowRoute)


@router.get("/get-history", response_model=wire.MetricHistoryResponse)
async def get_metric_history(
    query: Annotated[wire.GetMetricHistory, Query()], service: MlflowLoggingServiceDep
) -> Response:
    """Every point of a metric, in (step, timestamp) order; pages of at most 25,000 when
    `max_results` is given (follow `next_page_token`), everything otherwise."""
    body = await service.metric_history(query)
    return Response(content=body, media_type="application/json")


@router.get("/get-history-bulk-interval", response_model=wire.MetricHistoryBulkResponse)
async def get_metric_history_bulk_interval(
    query: Annotated[wire.GetMetricHistoryBulkInterval, Query()],
    service: MlflowLoggingServiceDep,
) -> wire.MetricHistoryBulkResponse:
    """One metric of up to 100 runs, each reduced to at most `max_results` points (2,500)."""
    return await service.metric_history_bulk(query)
