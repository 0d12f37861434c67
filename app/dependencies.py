"""FastAPI dependencies, as `Annotated` aliases."""

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.errors import Forbidden, TooManyRequests, Unauthorized
from app.runtime import Runtime
from app.services.artifacts import ArtifactService
from app.services.audit import is_write
from app.services.auth import (
    CSRF_HEADER,
    OPEN,
    SESSION_COOKIE,
    AuthService,
    Principal,
    auth_required,
    presented_key,
)
from app.services.cache import Cache
from app.services.experiments import ExperimentService
from app.services.live import LiveHub
from app.services.metric_history import MetricHistoryService
from app.services.mlflow_experiments import MlflowExperimentService
from app.services.mlflow_logged_models import LoggedModelService
from app.services.mlflow_logging import MlflowLoggingService
from app.services.mlflow_runs import MlflowRunService
from app.services.run_search import RunSearchService
from app.services.runs import RunService
from app.services.tracking import TrackingService
from app.storage import ArtifactStore, LocalArtifactStore


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_app_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def get_cache(runtime: RuntimeDep) -> Cache:
    _, cache = await runtime.resources()
    return cache


CacheDep = Annotated[Cache, Depends(get_cache)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One session per request. Services commit their own writes, before they invalidate
    the cache and before the response is sent; anything uncommitted is rolled back here."""
    database, _ = await runtime.resources()
    async with database.session() as session:
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


async def get_tracking_service(session: SessionDep) -> TrackingService:
    return TrackingService(session)


TrackingServiceDep = Annotated[TrackingService, Depends(get_tracking_service)]


async def get_metric_history_service(session: SessionDep) -> MetricHistoryService:
    return MetricHistoryService(session)


MetricHistoryServiceDep = Annotated[MetricHistoryService, Depends(get_metric_history_service)]


async def get_run_search_service(session: SessionDep) -> RunSearchService:
    return RunSearchService(session)


RunSearchServiceDep = Annotated[RunSearchService, Depends(get_run_search_service)]


async def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    """Who is calling: the owner of the presented API key, or, where auth is off, the open
    local principal. Also applies the per-key rate limit."""
    settings = runtime.settings
    server = request.scope.get("server")
    if not auth_required(settings.auth_enabled, settings.host, server[0] if server else None):
        request.state.principal = OPEN.name
        return OPEN
    raw = presented_key(request.headers, settings.api_key_header)
    if raw is None:
        raw = request.cookies.get(SESSION_COOKIE)
        unsafe = is_write(request.method, request.url.path)
        if raw and unsafe and CSRF_HEADER not in request.headers:
            raise Forbidden(
                "A write signed in by the UI's cookie must carry the X-Requested-With header"
            )
    if raw is None:
        raise Unauthorized(
            f"An API key is required: send it as {settings.api_key_header}, "
            "Authorization: Bearer <key>, or as the password of Basic credentials"
        )
    database, _ = await runtime.resources()
    async with database.session() as session:
        principal = await AuthService(session).authenticate(raw)
    request.state.principal = principal.name
    wait = await runtime.rate_limiter.retry_after(f"key:{principal.name}")
    if wait:
        raise TooManyRequests(f"Rate limit exceeded for {principal.name}; retry in {wait}s", wait)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def authorize(request: Request, principal: PrincipalDep, runtime: RuntimeDep) -> Principal:
    """The v1 permission rule, from the method and the path's ids: anyone signed in reads;
    viewers write nothing; members write to experiments (and their runs) they own or were
    granted; admins write everything."""
    if not is_write(request.method, request.url.path) or principal.is_admin:
        return principal
    database, _ = await runtime.resources()
    async with database.session() as session:
        service = AuthService(session)
        run_id = _uuid_param(request, "run_id")
        experiment_id = _uuid_param(request, "experiment_id")
        if run_id is not None:
            await service.check_write_run(principal, run_id)
        elif experiment_id is not None:
            await service.check_write_experiment(principal, experiment_id)
        else:
            service.check_create(principal)
    return principal


def _uuid_param(request: Request, name: str) -> uuid.UUID | None:
    """A path id, if present and well formed (a malformed one is the route's 422)."""
    value = request.path_params.get(name)
    try:
        return None if value is None else uuid.UUID(str(value))
    except ValueError:
        return None


async def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden(f"{principal.name} is not an admin")
    return principal


AuthorizedDep = Annotated[Principal, Depends(authorize)]
AdminDep = Annotated[Principal, Depends(require_admin)]


async def get_auth_service(session: SessionDep) -> AuthService:
    return AuthService(session)


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]


async def get_live_hub(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live_hub
    return hub


LiveHubDep = Annotated[LiveHub, Depends(get_live_hub)]


# -- the MLflow wire API and artifacts ------------------------------------------------------------


async def get_mlflow_experiment_service(
    session: SessionDep, cache: CacheDep, settings: SettingsDep
) -> MlflowExperimentService:
    return MlflowExperimentService(session, cache, settings.cache_ttl_seconds)


async def get_mlflow_run_service(
    session: SessionDep, cache: CacheDep, settings: SettingsDep
) -> MlflowRunService:
    return MlflowRunService(session, cache, settings.cache_ttl_seconds)


async def get_mlflow_logging_service(session: SessionDep, cache: CacheDep) -> MlflowLoggingService:
    return MlflowLoggingService(session, cache)


async def get_logged_model_service(
    session: SessionDep, cache: CacheDep, settings: SettingsDep
) -> LoggedModelService:
    return LoggedModelService(session, cache, settings.cache_ttl_seconds)


MlflowExperimentServiceDep = Annotated[
    MlflowExperimentService, Depends(get_mlflow_experiment_service)
]
MlflowRunServiceDep = Annotated[MlflowRunService, Depends(get_mlflow_run_service)]
MlflowLoggingServiceDep = Annotated[MlflowLoggingService, Depends(get_mlflow_logging_service)]
LoggedModelServiceDep = Annotated[LoggedModelService, Depends(get_logged_model_service)]


async def get_artifact_store(settings: SettingsDep) -> ArtifactStore:
    return LocalArtifactStore(settings.resolved_artifact_root)


ArtifactStoreDep = Annotated[ArtifactStore, Depends(get_artifact_store)]


async def get_artifact_service(
    session: SessionDep, store: ArtifactStoreDep, settings: SettingsDep
) -> ArtifactService:
    return ArtifactService(session, store, settings.artifact_max_bytes)


ArtifactServiceDep = Annotated[ArtifactService, Depends(get_artifact_service)]


_MLFLOW_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts/"
_MLFLOW_MODELS = "/api/2.0/mlflow/logged-models/"


def _mlflow_uuid(value: object) -> uuid.UUID | None:
    """An MLflow id (32 hex digits, a UUID, or the default experiment "0") as our UUID."""
    if value == "0":
        return uuid.UUID(int=0)
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def authorize_mlflow(
    request: Request, principal: PrincipalDep, runtime: RuntimeDep
) -> Principal:
    """The same permission rule as `authorize`, for the MLflow wire API, whose ids travel in
    request bodies (and in artifact paths) instead of in route parameters."""
    path = request.url.path
    if not is_write(request.method, path) or principal.is_admin:
        return principal
    body: dict[str, object] = {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(await request.body() or b"{}")
            body = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            body = {}  # the route answers the malformed body
    database, _ = await runtime.resources()
    async with database.session() as session:
        service = AuthService(session)
        run_id = _mlflow_uuid(body.get("run_id") or body.get("run_uuid") or "")
        experiment_id = _mlflow_uuid(body.get("experiment_id", ""))
        if path.startswith(_MLFLOW_ARTIFACTS):
            # <experiment>/<run>/artifacts/... or <experiment>/models/<id>/...
            parts = path.removeprefix(_MLFLOW_ARTIFACTS).split("/")
            experiment_id = _mlflow_uuid(parts[0])
            run_id = _mlflow_uuid(parts[1]) if len(parts) > 1 else None
        if path.startswith(_MLFLOW_MODELS) and path != _MLFLOW_MODELS + "search":
            model_id = path.removeprefix(_MLFLOW_MODELS).split("/")[0]
            await service.check_write_logged_model(principal, model_id)
        elif run_id is not None:
            await service.check_write_run(principal, run_id)
        elif experiment_id is not None:
            await service.check_write_experiment(principal, experiment_id)
        else:
            service.check_create(principal)
    return principal
