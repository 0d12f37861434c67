"""MLflow's wire protocol (`/api/2.0/mlflow/...`, `/api/2.0/mlflow-artifacts/...`,
`/api/3.0/mlflow/server-info` and `/graphql`), as thin translations over the same services
as /api/v1.

Anything else under those prefixes is a 404 `ENDPOINT_NOT_FOUND` in MLflow's shape, which the
client reports as such instead of as an internal error.
"""

from fastapi import APIRouter, Request, Response

from mltrail_server.mlflow.errors import MlflowRoute, mlflow_error
from mltrail_server.mlflow.routes import (
    ajax,
    artifact_presigned,
    artifact_uploads,
    artifacts,
    experiments,
    graphql,
    logged_models,
    metrics,
    registry,
    run_artifacts,
    runs,
    server,
    traces,
)

TRACKING_PREFIX = "/api/2.0/mlflow"
ARTIFACTS_PREFIX = "/api/2.0/mlflow-artifacts"
V3_PREFIX = "/api/3.0/mlflow"
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

router = APIRouter(route_class=MlflowRoute, include_in_schema=True, tags=["mlflow"])
# Runs first: their log-metric and log-batch are the requests that come by the thousand.
for module in (runs, experiments, metrics, logged_models, run_artifacts, registry):
    router.include_router(module.router, prefix=TRACKING_PREFIX)
router.include_router(artifacts.router, prefix=ARTIFACTS_PREFIX)
router.include_router(artifact_uploads.router, prefix=ARTIFACTS_PREFIX)
router.include_router(artifact_uploads.part_router, prefix=ARTIFACTS_PREFIX)
router.include_router(artifact_presigned.router, prefix=ARTIFACTS_PREFIX)
router.include_router(server.router, prefix=V3_PREFIX)
router.include_router(server.version_router)
router.include_router(traces.router)  # not supported yet: before the unknown endpoints
# MLflow's UI's GraphQL endpoint, at the root as MLflow serves it.
router.include_router(graphql.router)


async def unknown_endpoint(request: Request) -> Response:
    message = f"No MLflow endpoint {request.method} {request.url.path} on this server"
    return mlflow_error("ENDPOINT_NOT_FOUND", message, 404)


for prefix in (TRACKING_PREFIX, ARTIFACTS_PREFIX, V3_PREFIX):
    router.add_api_route(
        f"{prefix}/{{rest:path}}", unknown_endpoint, methods=_METHODS, include_in_schema=False
    )
# MLflow's UI paths (`/ajax-api/...`): aliases of some routes above, in their own module.
router.include_router(ajax.router)

__all__ = ["router"]
