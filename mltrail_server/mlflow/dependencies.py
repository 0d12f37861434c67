"""The MLflow wire's services, as `Annotated` dependencies of its routes."""

from typing import Annotated

from fastapi import Depends, Request

from mltrail_server.dependencies import (
    ArtifactServiceDep,
    CacheDep,
    PointWriterDep,
    RuntimeDep,
    SessionDep,
    SettingsDep,
)
from mltrail_server.mlflow.graphql_schema import GraphQLContext
from mltrail_server.mlflow.services.experiments import MlflowExperimentService
from mltrail_server.mlflow.services.graphql import GraphQLService
from mltrail_server.mlflow.services.logged_models import LoggedModelService
from mltrail_server.mlflow.services.logging import MlflowLoggingService
from mltrail_server.mlflow.services.model_artifacts import MlflowModelArtifactService
from mltrail_server.mlflow.services.model_sources import MlflowModelSources
from mltrail_server.mlflow.services.run_artifacts import MlflowRunArtifactService
from mltrail_server.mlflow.services.runs import MlflowRunService
from mltrail_server.mlflow.services.ui_reads import MlflowUiReadService
from mltrail_server.services.access import request_writes
from mltrail_server.services.registry import RegistryService


async def get_mlflow_experiment_service(
    request: Request, runtime: RuntimeDep, session: SessionDep, cache: CacheDep
) -> MlflowExperimentService:
    database, _ = await runtime.resources()
    writer = None if request_writes(request.scope) else database.session
    return MlflowExperimentService(session, cache, runtime.settings.cache_ttl_seconds, writer)


async def get_mlflow_run_service(
    session: SessionDep, cache: CacheDep, settings: SettingsDep
) -> MlflowRunService:
    return MlflowRunService(session, cache, settings.cache_ttl_seconds)


async def get_mlflow_logging_service(
    session: SessionDep, cache: CacheDep, writer: PointWriterDep
) -> MlflowLoggingService:
    return MlflowLoggingService(session, cache, writer)


async def get_logged_model_service(
    session: SessionDep, cache: CacheDep, settings: SettingsDep
) -> LoggedModelService:
    return LoggedModelService(session, cache, settings.cache_ttl_seconds)


async def get_mlflow_run_artifact_service(
    session: SessionDep, artifacts: ArtifactServiceDep
) -> MlflowRunArtifactService:
    return MlflowRunArtifactService(session, artifacts)


async def get_mlflow_model_artifact_service(
    session: SessionDep, artifacts: ArtifactServiceDep
) -> MlflowModelArtifactService:
    return MlflowModelArtifactService(session, artifacts)


async def get_registry_service(session: SessionDep) -> RegistryService:
    return RegistryService(session, MlflowModelSources(session))


MlflowExperimentServiceDep = Annotated[
    MlflowExperimentService, Depends(get_mlflow_experiment_service)
]
MlflowRunServiceDep = Annotated[MlflowRunService, Depends(get_mlflow_run_service)]
MlflowLoggingServiceDep = Annotated[MlflowLoggingService, Depends(get_mlflow_logging_service)]
LoggedModelServiceDep = Annotated[LoggedModelService, Depends(get_logged_model_service)]
MlflowRunArtifactServiceDep = Annotated[
    MlflowRunArtifactService, Depends(get_mlflow_run_artifact_service)
]
MlflowModelArtifactServiceDep = Annotated[
    MlflowModelArtifactService, Depends(get_mlflow_model_artifact_service)
]


async def get_mlflow_ui_read_service(session: SessionDep, cache: CacheDep) -> MlflowUiReadService:
    return MlflowUiReadService(session, cache)


MlflowUiReadServiceDep = Annotated[MlflowUiReadService, Depends(get_mlflow_ui_read_service)]
RegistryServiceDep = Annotated[RegistryService, Depends(get_registry_service)]


async def get_graphql_service(
    runs: MlflowRunServiceDep,
    experiments: MlflowExperimentServiceDep,
    logging: MlflowLoggingServiceDep,
    registry: RegistryServiceDep,
) -> GraphQLService:
    return GraphQLService(GraphQLContext(runs, experiments, logging, registry))


GraphQLServiceDep = Annotated[GraphQLService, Depends(get_graphql_service)]
