"""The application factory; `app` is what `uvicorn mltrail_server.main:app` serves."""

import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute

from mltrail_server import __version__
from mltrail_server.config import Settings, get_settings
from mltrail_server.logs import configure_logging
from mltrail_server.middleware.read_your_writes import ReadYourWritesMiddleware
from mltrail_server.middleware.request_context import RequestContextMiddleware
from mltrail_server.middleware.security import SecurityMiddleware
from mltrail_server.mlflow.router import router as mlflow_router
from mltrail_server.routes import (
    admin,
    artifact_previews,
    artifacts,
    docs,
    experiments,
    health,
    imports,
    live,
    metric_history,
    observability,
    registry,
    run_search,
    runs,
    tracking,
    ui,
    ui_session,
)
from mltrail_server.routes.errors import install_error_handlers
from mltrail_server.routes.prefixed import PrefixedRouter
from mltrail_server.routes.responses import REQUEST_ERRORS
from mltrail_server.runtime import Runtime
from mltrail_server.services.live import LiveHub

logger = logging.getLogger(__name__)


@functools.cache
def _routes() -> tuple[BaseRoute, ...]:
    """Every route of both APIs and the UI, built once per process and shared by every app
    made in it. Including a router makes FastAPI analyse each of its routes' signatures and
    models (about half a second for ours): a process that makes many apps, as the test suite
    does (one per test), paid that for each."""
    routes = APIRouter()
    routes.include_router(health.router)
    routes.include_router(observability.router)
    # Every route of both APIs is an AccessRoute: it checks the caller's key, and for a write
    # the caller's permission on the very arguments its handler gets (routes/access.py).
    # Grouped under one router that other paths skip at once (routes/prefixed.py).
    v1 = PrefixedRouter("/api/v1/")
    for router in (
        # First, the ingest routes: tried first, and overlapping no other route's path.
        tracking.router,
        experiments.router,
        run_search.router,  # before runs: /runs/search must not match /runs/{run_id}
        runs.router,
        metric_history.router,
        live.router,
        admin.router,
        imports.router,
        artifacts.router,
        artifact_previews.router,
        registry.router,
    ):
        v1.include_router(router, prefix="/api/v1", responses=REQUEST_ERRORS)
    routes.include_router(v1)
    # MLflow's wire API renders its own errors (mltrail_server.mlflow.errors.MlflowRoute).
    routes.include_router(mlflow_router)
    routes.include_router(ui_session.router)
    routes.include_router(docs.router)
    routes.include_router(ui.router)
    return tuple(routes.routes)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # Everything allocated so far lives as long as the process: keep it out of the
        # collector's full passes, which otherwise stall requests for tens of milliseconds.
        gc.collect()
        gc.freeze()
        logger.info(
            "started",
            extra={"version": __version__, "cache": settings.redis_url and "redis" or "memory"},
        )
        yield
        await runtime.stop()

    app = FastAPI(
        title=settings.app_name,
        version=__version__,
        debug=settings.debug,
        lifespan=lifespan,
        description="Track machine-learning experiments: runs, params, metrics, artifacts.",
        # Our own /docs and /redoc (routes/docs.py): FastAPI's load their scripts from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.live_hub = LiveHub(runtime)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "X-Process-Time"],
    )
    if settings.database_read_url:
        app.add_middleware(ReadYourWritesMiddleware, routing=runtime.read_routing)
    app.add_middleware(SecurityMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    ui.install_page_errors(app)
    app.router.routes.extend(_routes())
    app.mount(docs.ASSETS, docs.assets, name="api-docs")  # before /static, which it is under
    app.mount("/static", ui.static_files, name="static")
    return app


app = create_app()
