"""/api/2.0/mlflow-artifacts/mpu/...: MLflow's multipart upload of a large artifact file.

`create`, `complete` and `abort` name the directory in the route (as the client sends it) and
the local file in the body; they are checked like every artifact write. With an `s3://` root
(and ARTIFACT_PRESIGNED_UPLOADS on) each credential the client gets back is a presigned URL of
the part in the bucket, as MLflow's server hands out on S3. Otherwise it is a URL of
`mpu/part/...` on this server, carrying the upload's random id: the client PUTs a part there
without its API key (as it does to a presigned URL), and any host behind the same artifact
store can take it.
"""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.routing import APIRoute

from mltrail_server.dependencies import (
    ArtifactLocationDep,
    ArtifactServiceDep,
    SettingsDep,
    get_artifact_location,
)
from mltrail_server.mlflow import wire, wire_uploads
from mltrail_server.mlflow.errors import MlflowRoute, with_mlflow_errors
from mltrail_server.routes.artifact_response import declared_length
from mltrail_server.services.artifact_paths import ArtifactLocation
from mltrail_server.services.artifact_uploads import ArtifactUploads, RequestedPart

__all__ = ["part_router", "router"]

router = APIRouter(prefix="/mpu", route_class=MlflowRoute)
PART_PATH = "/mpu/part"


class PartRoute(APIRoute):
    """A part's PUT: no API key (the upload id is the capability), MLflow-shaped errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return with_mlflow_errors(super().get_route_handler())


part_router = APIRouter(route_class=PartRoute)


def get_uploads(service: ArtifactServiceDep, settings: SettingsDep) -> ArtifactUploads:
    return ArtifactUploads(service, presigned=settings.artifact_presigned_uploads)


UploadsDep = Annotated[ArtifactUploads, Depends(get_uploads)]


def _part_url(request: Request, upload_id: str, number: int, owner_prefix: str) -> str:
    base = str(request.base_url).rstrip("/")
    prefix = request.scope["path"].split("/mpu/create/", 1)[0]
    return f"{base}{prefix}{PART_PATH}/{upload_id}/{number}/{quote(owner_prefix)}"


@router.post("/create/{path:path}", response_model=wire_uploads.CreateMultipartUploadResponse)
async def create_multipart_upload(
    location: ArtifactLocationDep,
    body: wire_uploads.CreateMultipartUpload,
    request: Request,
    uploads: UploadsDep,
) -> wire_uploads.CreateMultipartUploadResponse:
    """Start uploading `body.path`'s file into the directory `path` in `num_parts` parts;
    the URL each part is to be PUT to (in the bucket, presigned, where the store allows)."""
    started = await uploads.create(location, body.path, body.num_parts)
    urls = started.part_urls or [
        _part_url(request, started.upload_id, number, started.owner_prefix)
        for number in range(1, started.num_parts + 1)
    ]
    credentials = [
        wire_uploads.MultipartUploadCredential(url=url, part_number=number)
        for number, url in enumerate(urls, start=1)
    ]
    return wire_uploads.CreateMultipartUploadResponse(
        upload_id=started.upload_id, credentials=credentials
    )


@router.post("/complete/{path:path}", response_model=wire.Empty)
async def complete_multipart_upload(
    location: ArtifactLocationDep,
    body: wire_uploads.CompleteMultipartUpload,
    uploads: UploadsDep,
) -> wire.Empty:
    """Join the uploaded parts, in order, into the file; only now does it appear."""
    parts = [RequestedPart(part.part_number, part.etag) for part in body.parts]
    await uploads.complete(location, body.path, body.upload_id, parts)
    return wire.Empty()


@router.post("/abort/{path:path}", response_model=wire.Empty)
async def abort_multipart_upload(
    location: ArtifactLocationDep,
    body: wire_uploads.AbortMultipartUpload,
    uploads: UploadsDep,
) -> wire.Empty:
    """Drop the parts uploaded so far; nothing of the file stays."""
    await uploads.abort(location, body.path, body.upload_id)
    return wire.Empty()


@part_router.put(PART_PATH + "/{upload_id}/{part_number}/{path:path}", response_model=wire.Empty)
async def upload_part(
    upload_id: Annotated[str, Path(max_length=64)],
    part_number: Annotated[int, Path(ge=1, le=wire_uploads.MAX_PARTS)],
    location: Annotated[ArtifactLocation, Depends(get_artifact_location)],
    request: Request,
    service: ArtifactServiceDep,
    response: Response,
) -> wire.Empty:
    """One part of a multipart upload started by `mpu/create`; re-sending it replaces it."""
    size = await ArtifactUploads(service).put_part(
        location.prefix, upload_id, part_number, request.stream(), declared_length(request)
    )
    response.headers["ETag"] = f'"{part_number}-{size}"'
    return wire.Empty()
