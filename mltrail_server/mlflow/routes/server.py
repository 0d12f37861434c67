"""/api/3.0/mlflow/server-info: what this server supports, as the 3.x client probes it; and
`/version`: the MLflow version whose wire this server speaks, as plain text."""

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from mltrail_server.dependencies import ArtifactStoreDep, SettingsDep
from mltrail_server.mlflow import wire
from mltrail_server.mlflow.errors import MlflowRoute
from mltrail_server.mlflow.translate import MLFLOW_VERSION
from mltrail_server.storage import ObjectArtifactStore

router = APIRouter(route_class=MlflowRoute)
# No sign-in, as `/health`: MLflow's server answers both to anyone, and the client asks for
# the version (without retrying) before it uses a version-gated feature.
version_router = APIRouter()


@version_router.get("/version", response_class=PlainTextResponse)
async def mlflow_version() -> PlainTextResponse:
    """The MLflow version this server answers as (the pinned client's), e.g. `3.17.2`."""
    return PlainTextResponse(MLFLOW_VERSION)


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
