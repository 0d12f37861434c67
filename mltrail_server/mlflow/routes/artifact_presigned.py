"""/api/2.0/mlflow-artifacts/presigned/...: a URL to download an artifact straight from the
object store, which the mlflow client reads in parallel ranges (its multipart download), when
ARTIFACT_PRESIGNED_DOWNLOADS is on and artifacts live in a bucket."""

from fastapi import APIRouter

from mltrail_server.dependencies import ArtifactPathDep, ArtifactServiceDep, SettingsDep
from mltrail_server.mlflow import wire_uploads
from mltrail_server.mlflow.errors import MlflowRoute

router = APIRouter(prefix="/presigned", route_class=MlflowRoute)


@router.get("/{path:path}", response_model=wire_uploads.PresignedDownload)
async def presigned_download(
    path: ArtifactPathDep, service: ArtifactServiceDep, settings: SettingsDep
) -> wire_uploads.PresignedDownload:
    """A presigned URL of the file at `path` (valid 15 minutes), and the file's size."""
    url, size = await service.presigned_download(
        path, enabled=settings.artifact_presigned_downloads
    )
    return wire_uploads.PresignedDownload(url=url, file_size=size)
