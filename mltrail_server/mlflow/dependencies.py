"""The MLflow wire's services, as `Annotated` dependencies of its routes."""

from typing import Annotated

from fastapi import Depends

from mltrail_server.dependencies import CacheDep, SessionDep, SettingsDep
from mltrail_server.mlflow.services.experiments import MlflowExperimentService
from mltrail_server.mlflow.services.logged_models import LoggedModelService
from mltrail_server.mlflow.services.logging import MlflowLoggingService
from mltrail_server.mlflow.services.runs import MlflowRunService


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
