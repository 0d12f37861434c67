"""FastAPI dependencies, as `Annotated` aliases."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.config import Settings
from mltrail_server.errors import Forbidden, InvalidPath, TooManyRequests, Unauthorized
from mltrail_server.runtime import Runtime
from mltrail_server.services.access import Access, request_writes
from mltrail_server.services.artifact_paths import ArtifactLocation, canonical_path, locate
from mltrail_server.services.artifact_previews import ArtifactPreviews
from mltrail_server.services.artifact_purge import ArtifactPurges
from mltrail_server.services.artifacts import ArtifactService
from mltrail_server.services.auth import (
    CSRF_HEADER,
    OPEN,
    SESSION_COOKIE,
    AuthService,
    Principal,
    auth_required,
    known_principal,
    presented_key,
)
from mltrail_server.services.cache import Cache
from mltrail_server.services.experiments import ExperimentService
from mltrail_server.services.exposure import listening_hosts
from mltrail_server.services.live import LiveHub
from mltrail_server.services.metric_history import MetricHistoryService
from mltrail_server.services.point_writer import PointWriter, point_writer
from mltrail_server.services.run_search import RunSearchService
from mltrail_server.services.runs import RunService
from mltrail_server.services.tracking import TrackingService
from mltrail_server.storage import ArtifactStore


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_app_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


# The dependencies every API request resolves (session, cache, principal) take the runtime
# from the request itself: each dependency in the tree is work FastAPI does per request.


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_cache(request: Request) -> Cache:
    _, cache = await _runtime(request).resources()
    return cache


CacheDep = Annotated[Cache, Depends(get_cache)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, a read session where the route only reads. Services only
    flush; the route class commits a write once its handler returned (routes/access.py), and
    anything uncommitted is rolled back here."""
    runtime = _runtime(request)
    database, _ = await runtime.resources()
    writes = request_writes(request.scope)
    principal = getattr(request.state, "principal", None)
    async with database.session() if writes else await runtime.read_session(principal) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_experiment_service(
    session: SessionDep, cache: CacheDep, settings: SettingsDep
) -> ExperimentService:
    return ExperimentService(session, cache, settings.cache_ttl_seconds)


async def get_run_service(session: SessionDep, cache: CacheDep) -> RunService:
    return RunService(session, cache)


ExperimentServiceDep = Annotated[ExperimentService, Depends(get_experiment_service)]
RunServiceDep = Annotated[RunService, Depends(get_run_service)]


async def get_point_writer(request: Request) -> PointWriter:
    """The group-commit writer of the request's database (services/point_writer.py)."""
    database, _ = await _runtime(request).resources()
    return point_writer(database)


PointWriterDep = Annotated[PointWriter, Depends(get_point_writer)]


async def get_tracking_service(session: SessionDep, writer: PointWriterDep) -> TrackingService:
    return TrackingService(session, writer)


TrackingServiceDep = Annotated[TrackingService, Depends(get_tracking_service)]


async def get_metric_history_service(session: SessionDep) -> MetricHistoryService:
    return MetricHistoryService(session)


MetricHistoryServiceDep = Annotated[MetricHistoryService, Depends(get_metric_history_service)]


async def get_run_search_service(session: SessionDep) -> RunSearchService:
    return RunSearchService(session)


RunSearchServiceDep = Annotated[RunSearchService, Depends(get_run_search_service)]


async def get_principal(request: Request) -> Principal:
    """Who is calling: the owner of the presented API key, or, where auth is off, the open
    local principal. Also applies the per-key rate limit."""
    runtime = _runtime(request)
    settings = runtime.settings
    if settings.auth_enabled is None:
        server = request.scope.get("server")
        hosts = (settings.host, server[0] if server else None, *listening_hosts())
    else:
        hosts = ()
    if not auth_required(settings.auth_enabled, hosts):
        request.state.principal = OPEN.name
        return OPEN
    raw = presented_key(request.headers, settings.api_key_header)
    if raw is None:
        raw = request.cookies.get(SESSION_COOKIE)
        if raw and request_writes(request.scope) and CSRF_HEADER not in request.headers:
            raise Forbidden(
                "A write signed in by the UI's cookie must carry the X-Requested-With header"
            )
    if raw is None:
        raise Unauthorized(
            f"An API key is required: send it as {settings.api_key_header}, "
            "Authorization: Bearer <key>, or as the password of Basic credentials"
        )
    database, cache = await runtime.resources()
    principal = await known_principal(raw, cache)
    if principal is None:
        async with database.read_session() as session:
            principal = await AuthService(session, cache).authenticate(raw)
    request.state.principal = principal.name
    wait = await runtime.rate_limiter.retry_after(f"key:{principal.name}")
    if wait:
        raise TooManyRequests(f"Rate limit exceeded for {principal.name}; retry in {wait}s", wait)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_access(
    request: Request, principal: PrincipalDep, session: SessionDep, cache: CacheDep
) -> Access:
    """The caller and what the matched route does; every API route's handler is checked with
    it on its own parsed arguments (mltrail_server/routes/access.py)."""
    return Access(principal, request_writes(request.scope), AuthService(session, cache))


AccessDep = Annotated[Access, Depends(get_access)]


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden(f"{principal.name} is not an admin")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


async def get_auth_service(session: SessionDep, cache: CacheDep) -> AuthService:
    return AuthService(session, cache)


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def get_live_hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live_hub
    return hub


LiveHubDep = Annotated[LiveHub, Depends(get_live_hub)]


# -- artifacts ------------------------------------------------------------------------------------


async def get_artifact_store(runtime: RuntimeDep) -> ArtifactStore:
    return runtime.artifact_store


ArtifactStoreDep = Annotated[ArtifactStore, Depends(get_artifact_store)]


async def get_artifact_purges(session: SessionDep, runtime: RuntimeDep) -> ArtifactPurges:
    return ArtifactPurges(session, runtime.purge_drainer)


ArtifactPurgesDep = Annotated[ArtifactPurges, Depends(get_artifact_purges)]


async def get_artifact_service(
    session: SessionDep, store: ArtifactStoreDep, settings: SettingsDep
) -> ArtifactService:
    return ArtifactService(session, store, settings.artifact_max_bytes)


ArtifactServiceDep = Annotated[ArtifactService, Depends(get_artifact_service)]


async def get_artifact_previews(artifacts: ArtifactServiceDep) -> ArtifactPreviews:
    return ArtifactPreviews(artifacts)


ArtifactPreviewsDep = Annotated[ArtifactPreviews, Depends(get_artifact_previews)]


def _canonical_route_path(request: Request, path: str) -> str:
    """The route's `{path}` (percent-decoded once by the server) in canonical form; the
    request's own path, so rewritten, is what the audit log records."""
    canonical = canonical_path(path)
    full = request.scope["path"]
    if path and full.endswith(path):
        request.state.audit_path = full[: len(full) - len(path)] + canonical
    return canonical


async def get_artifact_path(request: Request, path: str) -> str:
    return _canonical_route_path(request, path)


async def get_artifact_location(request: Request, path: str) -> ArtifactLocation:
    """The run's or logged model's folder an MLflow artifact write names (400 otherwise)."""
    location = locate(_canonical_route_path(request, path))
    if location is None:
        raise InvalidPath(
            f"path: {path!r} is inside no run or logged model; write below "
            "<experiment>/<run>/artifacts/ or <experiment>/models/<model>/artifacts/"
        )
    return location


ArtifactPathDep = Annotated[str, Depends(get_artifact_path)]
ArtifactLocationDep = Annotated[ArtifactLocation, Depends(get_artifact_location)]
