"""`/ajax-api/2.0/mlflow/...` and `/ajax-api/3.0/mlflow/...`: the paths MLflow's own UI calls.

MLflow serves each REST route under `/ajax-api` too. These aliases are the tracking reads
and writes its UI's pages call (../shared/reference/mlflow-ui-routes.md), built from the same route
objects as the `/api` ones: same handler, same response model, same `openapi_extra`, so the
same authorization (a read-only POST stays read-only). Anything else under the prefixes is a
404 ENDPOINT_NOT_FOUND, as under `/api`.
"""

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from mltrail_server.mlflow.errors import MlflowRoute, mlflow_error
from mltrail_server.mlflow.routes import (
    experiments,
    logged_models,
    metrics,
    registry,
    run_artifacts,
    runs,
    server,
    ui,
)

AJAX_PREFIX = "/ajax-api/2.0/mlflow"
AJAX_V3_PREFIX = "/ajax-api/3.0/mlflow"
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

# (method, path below the version prefix) of the routes aliased, by version.
UI_ROUTES: dict[str, frozenset[tuple[str, str]]] = {
    "2.0": frozenset(
        {
            ("POST", "/runs/search"),
            ("GET", "/runs/get"),
            ("POST", "/experiments/search"),
            ("GET", "/experiments/search"),
            ("GET", "/experiments/get"),
            ("GET", "/experiments/get-by-name"),
            ("GET", "/metrics/get-history"),
            ("GET", "/metrics/get-history-bulk-interval"),
            ("GET", "/artifacts/list"),
            ("POST", "/logged-models/search"),
            ("GET", "/logged-models/{model_id}"),
            ("GET", "/logged-models/{model_id}/artifacts/directories"),
            # The registry columns and the model pages.
            ("GET", "/registered-models/search"),
            ("GET", "/model-versions/search"),
            # The writes of its experiment list and run pages (create, rename, delete,
            # restore, tags, notes, and the runs, metrics and params its forms create): the
            # same rules as under /api.
            ("POST", "/experiments/create"),
            ("POST", "/experiments/update"),
            ("POST", "/experiments/delete"),
            ("POST", "/experiments/restore"),
            ("POST", "/experiments/set-experiment-tag"),
            ("POST", "/experiments/delete-experiment-tag"),
            ("POST", "/runs/create"),
            ("POST", "/runs/log-metric"),
            ("POST", "/runs/log-parameter"),
            ("POST", "/runs/update"),
            ("POST", "/runs/delete"),
            ("POST", "/runs/restore"),
            ("POST", "/runs/set-tag"),
            ("POST", "/runs/delete-tag"),
        }
    ),
    "3.0": frozenset({("GET", "/server-info")}),
}
# The routers (their paths below the version prefix) the aliases are taken from.
SOURCES: dict[str, tuple[APIRouter, ...]] = {
    "2.0": (
        experiments.router,
        runs.router,
        metrics.router,
        logged_models.router,
        run_artifacts.router,
        registry.router,
    ),
    "3.0": (server.router,),
}


def _alias(route: APIRoute, method: str, path: str) -> APIRoute:
    return MlflowRoute(
        path,
        route.endpoint,
        methods=[method],
        response_model=route.response_model,
        response_class=route.response_class,
        openapi_extra=route.openapi_extra,
        summary=route.summary,
        description=route.description,
        name=f"ajax_{route.name}",
        tags=route.tags,
    )


async def _unknown_endpoint(request: Request) -> Response:
    message = f"No MLflow endpoint {request.method} {request.url.path} on this server"
    return mlflow_error("ENDPOINT_NOT_FOUND", message, 404)


def ajax_router() -> APIRouter:
    """The `/ajax-api` aliases of the routes in UI_ROUTES, the routes only the UI calls, and
    the not-found answer for the rest of both prefixes."""
    router = APIRouter(route_class=MlflowRoute, tags=["mlflow-ui"])
    for version, wanted in UI_ROUTES.items():
        for source in SOURCES[version]:
            for route in source.routes:
                if not isinstance(route, APIRoute):
                    continue
                for method in sorted(route.methods or ()):
                    if (method, route.path) in wanted:
                        path = f"/ajax-api/{version}/mlflow{route.path}"
                        router.routes.append(_alias(route, method, path))
    router.include_router(ui.router, prefix=AJAX_PREFIX)
    router.include_router(ui.artifact_router)
    for prefix in (AJAX_PREFIX, AJAX_V3_PREFIX):
        router.add_api_route(
            f"{prefix}/{{rest:path}}", _unknown_endpoint, methods=_METHODS, include_in_schema=False
        )
    return router


router = ajax_router()
