"""/api/v1/.../metrics/...: reading metric series back, raw or downsampled."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response

from mltrail_server.dependencies import MetricHistoryServiceDep
from mltrail_server.models.metric_history import (
    DownsampledHistory,
    DownsampleQuery,
    HistoryQuery,
    MetricHistory,
    RunsHistory,
    RunsHistoryRequest,
)
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import NOT_FOUND, json_response
from mltrail_server.services.access import READ_ONLY

router = APIRouter(tags=["metric history"], route_class=AccessRoute)


@router.get("/runs/{run_id}/metrics/history", response_model=MetricHistory, responses=NOT_FOUND)
async def get_metric_history(
    run_id: UUID, query: Annotated[HistoryQuery, Query()], service: MetricHistoryServiceDep
) -> Response:
    """Every point of one metric of a run, in (step, timestamp) order, a page at a time.

    Follow `next_cursor` until it is null. `start_step` and `end_step` (inclusive) narrow the
    range. A key the run never logged gives no points; a missing run is a 404."""
    body = await service.history_json(run_id, query)
    return Response(content=body, media_type="application/json")


@router.get(
    "/runs/{run_id}/metrics/downsampled", response_model=DownsampledHistory, responses=NOT_FOUND
)
async def get_downsampled_metric(
    run_id: UUID, query: Annotated[DownsampleQuery, Query()], service: MetricHistoryServiceDep
) -> Response:
    """One metric of a run reduced to at most `points` points, for a chart.

    The steps are split into buckets of equal width; each bucket gives its last point and
    the smallest and largest value in it (NaN excluded), so spikes and dips stay visible.
    When the range holds no more than `points` points they come back as they are."""
    return json_response(await service.downsampled(run_id, query))


@router.post("/metrics/history", response_model=RunsHistory, openapi_extra=READ_ONLY)
async def compare_metric_histories(
    request: RunsHistoryRequest, service: MetricHistoryServiceDep
) -> RunsHistory:
    """One metric of up to 100 runs, each downsampled as by `.../metrics/downsampled`.

    All runs share the same buckets of steps, so their points line up. A run that is missing
    or deleted is left out of `series`; a run that never logged the key has no points."""
    return await service.compare(request)
