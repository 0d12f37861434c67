"""FastAPI dependencies, as `Annotated` aliases."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.runtime import Runtime
from app.services.cache import Cache
from app.services.experiments import ExperimentService
from app.services.metric_history import MetricHistoryService
from app.services.run_search import RunSearchService
from app.services.runs import RunService
from app.services.tracking import TrackingService


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
