"""The application factory; `app` is what `uvicorn app.main:app` serves."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.config import Settings, get_settings
from app.logs import configure_logging
from app.middleware.request_context import RequestContextMiddleware
from app.routes import experiments, health, metric_history, run_search, runs, tracking
from app.routes.errors import install_error_handlers
from app.runtime import Runtime

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
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
    )
    app.state.runtime = runtime
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "X-Process-Time"],
    )
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(experiments.router, prefix="/api/v1")
    app.include_router(run_search.router, prefix="/api/v1")  # before /runs/{run_id}
    app.include_router(runs.router, prefix="/api/v1")
    app.include_router(tracking.router, prefix="/api/v1")
    app.include_router(metric_history.router, prefix="/api/v1")
    return app


app = create_app()
