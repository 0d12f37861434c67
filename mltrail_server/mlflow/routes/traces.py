"""MLflow's trace routes (`.../mlflow/traces...` under `/api/2.0`, `/api/3.0`, `/api/4.0` and
`/ajax-api`, and OTLP's `/v1/traces`): traces are not supported yet. Each answers 404
`ENDPOINT_NOT_FOUND` in MLflow's shape, saying so, rather than the plain unknown-endpoint
message, so a client's error tells the user what is missing."""

from fastapi import APIRouter, Request, Response

from mltrail_server.mlflow.errors import MlflowRoute, mlflow_error

TRACE_PREFIXES = (
    "/api/2.0/mlflow/traces",
    "/api/3.0/mlflow/traces",
    "/api/4.0/mlflow/traces",
    "/ajax-api/2.0/mlflow/traces",
    "/ajax-api/3.0/mlflow/traces",
    "/v1/traces",
)
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
NOT_SUPPORTED = (
    "Traces are not supported by this server yet: {method} {path} has no endpoint here. "
    "Experiments, runs, metrics, params, tags, datasets, logged models and artifacts are."
)

router = APIRouter(route_class=MlflowRoute)


async def traces_not_supported(request: Request) -> Response:
    message = NOT_SUPPORTED.format(method=request.method, path=request.url.path)
    return mlflow_error("ENDPOINT_NOT_FOUND", message, 404)


for prefix in TRACE_PREFIXES:
    for path in (prefix, f"{prefix}/{{rest:path}}"):
        router.add_api_route(path, traces_not_supported, methods=_METHODS, include_in_schema=False)
