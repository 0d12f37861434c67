"""/api/v1/runs/{run_id}: one run."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from mltrail_server.dependencies import ArtifactPurgesDep, ArtifactServiceDep, RunServiceDep
from mltrail_server.models.run import Run, RunUpdate
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import NOT_FOUND

router = APIRouter(prefix="/runs", tags=["runs"], route_class=AccessRoute)


@router.get("/{run_id}", response_model=Run, responses=NOT_FOUND)
async def get_run(run_id: UUID, service: RunServiceDep) -> Run:
    """Get a run."""
    return await service.get_run(run_id)


@router.patch("/{run_id}", response_model=Run, responses=NOT_FOUND)
async def update_run(run_id: UUID, data: RunUpdate, service: RunServiceDep) -> Run:
    """Change the fields sent. A final status (`completed`, `failed`, `killed`) sets the end
    time; `running` clears it."""
    return await service.update_run(run_id, data)


@router.delete("/{run_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_run(
    run_id: UUID,
    service: RunServiceDep,
    artifacts: ArtifactServiceDep,
    purges: ArtifactPurgesDep,
    purge: Annotated[bool, Query(description="Remove it and all it logged for good")] = False,
) -> Response:
    """Delete a run: soft by default (restore with `POST .../restore`), or for good; its
    artifact files are then deleted in the background, retried until done."""
    prefix = await artifacts.purge_prefix_of_run(run_id) if purge else None
    await service.delete_run(run_id, purge=purge)
    if prefix is not None:
        await purges.queue(prefix)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{run_id}/restore", response_model=Run, responses=NOT_FOUND)
async def restore_run(run_id: UUID, service: RunServiceDep) -> Run:
    """Bring back a soft-deleted run."""
    return await service.restore_run(run_id)
