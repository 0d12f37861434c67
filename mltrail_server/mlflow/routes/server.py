"""/api/3.0/mlflow/server-info: what this server supports, as the 3.x client probes it."""

from fastapi import APIRouter

from mltrail_server.dependencies import ArtifactStoreDep, SettingsDep
from mltrail_server.mlflow import wire
from mltrail_server.mlflow.errors import MlflowRoute
from mltrail_server.storage import ObjectArtifactStore

router = APIRouter(route_class=MlflowRoute)


@router.get("/server-info", response_model=wire.ServerInfo)
async def server_info(store: ArtifactStoreDep, settings: SettingsDep) -> wire.ServerInfo:
    """A SQL store with proxied artifacts, no workspaces; multipart uploads (through
    `mlflow-artifacts/mpu`) where artifacts live in object storage, as MLflow's server
    offers them for its cloud stores (the parts straight to an S3 bucket through presigned
    URLs where ARTIFACT_PRESIGNED_UPLOADS allows, through this server otherwise: the same
    protocol to the client), and multipart downloads from presigned URLs where
    ARTIFACT_PRESIGNED_DOWNLOADS allows them."""
    in_bucket = isinstance(store, ObjectArtifactStore)
    return wire.ServerInfo(
        multipart_uploads_enabled=in_bucket,
        multipart_downloads_enabled=in_bucket and settings.artifact_presigned_downloads,
    )
