"""/api/v1/runs/{run_id}/...: what a run logs (metric points, params, tags)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Response, status

from mltrail_server.dependencies import TrackingServiceDep
from mltrail_server.models.tracking import (
    BatchLog,
    BatchResult,
    Key,
    MetricPoint,
    ParamWrite,
    TagWrite,
)
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import CONFLICT, NOT_FOUND

router = APIRouter(prefix="/runs/{run_id}", tags=["tracking"], route_class=AccessRoute)

TagKey = Annotated[Key, Path(description="The tag's key (may contain '/')")]


@router.post("/batch", response_model=BatchResult, responses={**NOT_FOUND, **CONFLICT})
async def log_batch(run_id: UUID, batch: BatchLog, service: TrackingServiceDep) -> BatchResult:
    """Log metric points, params and tags together, all or nothing.

    Up to 10,000 points, 1,000 params and 1,000 tags a request; more is a 413 naming the
    field, the limit and the count. A point is
    identified by (key, step, timestamp): sending the same batch again stores nothing twice.
    A param that already has a different value is a 409 and nothing is stored."""
    return await service.log_batch(run_id, batch)


@router.post("/metrics", response_model=BatchResult, responses=NOT_FOUND)
async def log_metric(run_id: UUID, point: MetricPoint, service: TrackingServiceDep) -> BatchResult:
    """Log one metric point (`step` defaults to 0, `timestamp` to now)."""
    return await service.log_batch(run_id, BatchLog(metrics=[point]))


@router.post("/params", response_model=BatchResult, responses={**NOT_FOUND, **CONFLICT})
async def log_param(run_id: UUID, param: ParamWrite, service: TrackingServiceDep) -> BatchResult:
    """Set a param. Params are write-once: the same value again is fine, another is a 409."""
    return await service.log_batch(run_id, BatchLog(params={param.key: param.value}))


@router.put("/tags/{key:path}", response_model=BatchResult, responses=NOT_FOUND)
async def set_tag(
    run_id: UUID, key: TagKey, tag: TagWrite, service: TrackingServiceDep
) -> BatchResult:
    """Set or overwrite a tag."""
    return await service.log_batch(run_id, BatchLog(tags={key: tag.value}))


@router.delete("/tags/{key:path}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_tag(run_id: UUID, key: TagKey, service: TrackingServiceDep) -> Response:
    """Remove a tag (404 if the run has no such tag)."""
    await service.delete_tag(run_id, key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
