"""/api/3.0/mlflow/server-info: what this server supports, as the 3.x client probes it."""

from fastapi import APIRouter

from mltrail_server.mlflow import wire
from mltrail_server.mlflow.errors import MlflowRoute

router = APIRouter(route_class=MlflowRoute)


@router.get("/server-info", response_model=wire.ServerInfo)
async def server_info() -> wire.ServerInfo:
    """A SQL store with proxied artifacts; no multipart uploads, no workspaces."""
    return wire.ServerInfo()
