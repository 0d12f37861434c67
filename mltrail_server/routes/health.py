"""Liveness and readiness."""

import logging
import os

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mltrail_server import __version__
from mltrail_server.dependencies import RuntimeDep
from mltrail_server.services.read_routing import ReplicaState

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


class Health(BaseModel):
    status: str
    version: str
    # Which process answered: with several workers, each has its own.
    worker_pid: int


class Readiness(BaseModel):
    status: str
    database: str
    cache: str
    cache_backend: str
    # The read replica (DATABASE_READ_URL): "ok", "unavailable" (reads go to the primary
    # meanwhile) or "none" when there is no replica.
    replica: str


@router.get("/health", response_model=Health)
async def health_check() -> Health:
    """Liveness for load balancers: the process answers (`worker_pid` says which, when the
    server runs several workers). Touches neither database nor cache."""
    return Health(status="healthy", version=__version__, worker_pid=os.getpid())


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "The database is unreachable"}},
)
async def readiness(runtime: RuntimeDep) -> JSONResponse:
    """Readiness: the database answers (else 503), the cache and the read replica answer
    (else `degraded`: requests still succeed, uncached, or read from the primary)."""
    database_ok = cache_ok = False
    backend = "unknown"
    replica = ReplicaState.UNAVAILABLE if runtime.settings.database_read_url else ReplicaState.NONE
    try:
        database, cache = await runtime.resources()
        backend = cache.backend
        await database.ping()
        database_ok = True
        cache_ok = await cache.ping()
        replica = await runtime.replica_state()
    except Exception as exc:  # any failure to reach the database means "not ready"
        logger.warning("readiness check failed: %s", exc)
    healthy = database_ok and cache_ok and replica != ReplicaState.UNAVAILABLE
    body = Readiness(
        status="ready" if healthy else "degraded" if database_ok else "unavailable",
        database="ok" if database_ok else "unavailable",
        cache="ok" if cache_ok else "unavailable",
        cache_backend=backend,
        replica=replica,
    )
    headers = {} if database_ok else {"Retry-After": "2"}
    return JSONResponse(body.model_dump(), status_code=200 if database_ok else 503, headers=headers)
