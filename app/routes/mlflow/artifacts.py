"""/api/2.0/mlflow-artifacts/artifacts/...: MLflow's proxied artifact access. Paths are
`<experiment>/<run>/artifacts/...` (or `<experiment>/models/<model>/artifacts/...`), as the
server put them in `artifact_uri`. Bodies stream to and from storage in chunks."""

import contextlib
import mimetypes
import posixpath
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from app.dependencies import ArtifactServiceDep
from app.errors import NotFound
from app.models import mlflow as wire
from app.routes.mlflow.errors import MlflowRoute
from app.storage import ArtifactDownload

router = APIRouter(prefix="/artifacts", route_class=MlflowRoute)


def declared_length(request: Request) -> int | None:
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else None


def file_response(download: ArtifactDownload, path: str) -> Response:
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if download.local_path is not None:
        return FileResponse(download.local_path, media_type=media_type)
    assert download.chunks is not None
    headers = {"Content-Length": str(download.size)}
    return StreamingResponse(download.chunks, media_type=media_type, headers=headers)


@router.get("", response_model=wire.ListArtifactsResponse)
async def list_artifacts(
    query: Annotated[wire.ArtifactListQuery, Query()], service: ArtifactServiceDep
) -> wire.ListArtifactsResponse:
    """The entries directly under a directory, by name; `{}` for a file or a missing path."""
    entries = await service.list(query.path)
    files = [
        wire.FileInfo(path=posixpath.basename(e.path), is_dir=e.is_dir, file_size=e.size)
        for e in entries
    ]
    return wire.ListArtifactsResponse(files=files or None)


@router.put("/{path:path}", response_model=wire.Empty)
async def upload_artifact(path: str, request: Request, service: ArtifactServiceDep) -> wire.Empty:
    """Store the request body as the file at `path`, replacing it (retries are harmless)."""
    await service.upload(path, request.stream(), declared_length(request))
    return wire.Empty()


@router.get("/{path:path}")
async def download_artifact(path: str, service: ArtifactServiceDep) -> Response:
    """The file at `path`, streamed."""
    return file_response(await service.download(path), path)


@router.delete("/{path:path}", response_model=wire.Empty)
async def delete_artifact(path: str, service: ArtifactServiceDep) -> wire.Empty:
    """Remove the file or directory at `path`; nothing there is fine too."""
    with contextlib.suppress(NotFound):
        await service.delete(path)
    return wire.Empty()
