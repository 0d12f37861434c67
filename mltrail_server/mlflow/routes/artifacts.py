"""/api/2.0/mlflow-artifacts/artifacts/...: MLflow's proxied artifact access. Paths are
`<experiment>/<run>/artifacts/...` (or `<experiment>/models/<model>/artifacts/...`), as the
server put them in `artifact_uri`; writes go only there (400 for any other place, 404 for a
run or model the experiment does not hold). Every path is canonical before the route, its
permission check and the store see it. Bodies stream to and from storage in chunks."""

import posixpath
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from mltrail_server.dependencies import ArtifactLocationDep, ArtifactPathDep, ArtifactServiceDep
from mltrail_server.mlflow import wire
from mltrail_server.mlflow.errors import MlflowRoute
from mltrail_server.routes.artifact_response import declared_length, file_response
from mltrail_server.services.artifact_paths import canonical_path

router = APIRouter(prefix="/artifacts", route_class=MlflowRoute)


@router.get("", response_model=wire.ListArtifactsResponse)
async def list_artifacts(
    query: Annotated[wire.ArtifactListQuery, Query()], service: ArtifactServiceDep
) -> wire.ListArtifactsResponse:
    """The entries directly under a directory, by name; `{}` for a file or a missing path."""
    entries = await service.list(canonical_path(query.path or ""))
    files = [
        wire.FileInfo(path=posixpath.basename(e.path), is_dir=e.is_dir, file_size=e.size)
        for e in entries
    ]
    return wire.ListArtifactsResponse(files=files)


@router.put("/{path:path}", response_model=wire.Empty)
async def upload_artifact(
    location: ArtifactLocationDep, request: Request, service: ArtifactServiceDep
) -> wire.Empty:
    """Store the request body as the file at `path`, replacing it (retries are harmless)."""
    await service.upload(location, request.stream(), declared_length(request))
    return wire.Empty()


@router.get("/{path:path}")
async def download_artifact(path: ArtifactPathDep, service: ArtifactServiceDep) -> Response:
    """The file at `path`, streamed."""
    return file_response(await service.download(path), path)


@router.delete("/{path:path}", response_model=wire.Empty)
async def delete_artifact(location: ArtifactLocationDep, service: ArtifactServiceDep) -> wire.Empty:
    """Remove the file or directory at `path`; nothing there is fine too."""
    await service.delete(location)
    return wire.Empty()
