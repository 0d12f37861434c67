"""/api/v1/runs/{run_id}/artifacts: a run's files, the same ones the MLflow client logs.

Uploads and downloads stream in chunks; paths are relative to the run's artifact root and
canonical before anything sees them (400 for a NUL or a `..` above the root)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status

from mltrail_server.dependencies import ArtifactPathDep, ArtifactServiceDep
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.artifact_response import declared_length, file_response
from mltrail_server.routes.responses import NOT_FOUND, ErrorBody
from mltrail_server.services.artifact_paths import canonical_path
from mltrail_server.services.artifacts import ArtifactFile, ArtifactListing

router = APIRouter(prefix="/runs/{run_id}/artifacts", tags=["artifacts"], route_class=AccessRoute)

ArtifactPath = Annotated[str, Query(description="A directory, relative to the run's root")]
TOO_LARGE: dict[int | str, dict[str, object]] = {
    413: {"model": ErrorBody, "description": "Larger than ARTIFACT_MAX_BYTES"}
}


@router.get("", response_model=ArtifactListing, responses=NOT_FOUND)
async def list_artifacts(
    run_id: UUID, service: ArtifactServiceDep, path: ArtifactPath = ""
) -> ArtifactListing:
    """The files and directories directly under `path` (the run's root by default)."""
    return await service.list_run(run_id, canonical_path(path))


@router.put(
    "/{path:path}",
    response_model=ArtifactFile,
    status_code=status.HTTP_201_CREATED,
    responses={**NOT_FOUND, **TOO_LARGE},
)
async def upload_artifact(
    run_id: UUID, path: ArtifactPathDep, request: Request, service: ArtifactServiceDep
) -> ArtifactFile:
    """Store the raw request body as the file at `path`, replacing any file there."""
    return await service.upload_to_run(run_id, path, request.stream(), declared_length(request))


@router.get("/{path:path}", responses=NOT_FOUND, response_class=Response)
async def download_artifact(
    run_id: UUID, path: ArtifactPathDep, service: ArtifactServiceDep
) -> Response:
    """The file at `path`, streamed."""
    return file_response(await service.download_from_run(run_id, path), path)


@router.delete("/{path:path}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_artifact(
    run_id: UUID, path: ArtifactPathDep, service: ArtifactServiceDep
) -> Response:
    """Remove the file, or the directory with everything in it, at `path`."""
    await service.delete_from_run(run_id, path)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
