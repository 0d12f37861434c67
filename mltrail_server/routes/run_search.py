"""/api/v1/runs/search: find runs across experiments."""

from fastapi import APIRouter, Response

from mltrail_server.dependencies import RunSearchServiceDep
from mltrail_server.models.run_search import RunSearch, RunSearchResult
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import RequestError, orjson_response
from mltrail_server.services.access import READ_ONLY

router = APIRouter(prefix="/runs", tags=["runs"], route_class=AccessRoute)


@router.post(
    "/search",
    response_model=RunSearchResult,
    openapi_extra=READ_ONLY,
    responses={
        422: {
            "model": RequestError,
            "description": "A malformed filter or order_by (the detail gives the position), "
            "a page token from another search, or an invalid field",
        }
    },
)
async def search_runs(search: RunSearch, service: RunSearchServiceDep) -> Response:
    """Search the runs of one or more experiments.

    `filter` is MLflow's search language with OR and parentheses (AND binds tighter), e.g.
    `metrics.acc > 0.9 AND (params.lr = '0.01' OR tags.team ILIKE 'nlp%')`. A metric clause
    compares the run's latest value (a NaN never matches; a run without the metric neither);
    `!=` and `NOT IN` on a param or tag match only runs that have the key; LIKE is
    case-sensitive, ILIKE is not. `status` takes MLflow's names (`FINISHED`...) or ours
    (`completed`...); `start_time` and `end_time` are milliseconds since the epoch.

    Runs come in `order_by` order (missing values last; for metrics NaN after numbers), then
    most recently started first, then by id. Send `next_page_token` back, with the same
    search, for the next page; it is null on the last one."""
    return orjson_response(await service.search_runs(search))
