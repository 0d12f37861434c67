"""MLflow's model registry messages (model_registry.proto), as the 3.x client sends and
parses them. Every request names its registered model by `name`: that is what the
permission rule checks (a version's `run_id` is where it came from, not something written)."""

from pydantic import Field

from mltrail_server.errors import InvalidInput
from mltrail_server.mlflow.wire import Int64, KeyValue, Message, repeated
from mltrail_server.services.access import Targets


class RegistryRequest(Message):
    name: str = ""

    def access_targets(self) -> Targets:
        return Targets(registered_models={self.name})


class CreateRegisteredModel(RegistryRequest):
    tags: list[KeyValue] = Field(default_factory=list)
    description: str | None = None


class RenameRegisteredModel(RegistryRequest):
    new_name: str | None = None


class UpdateRegisteredModel(RegistryRequest):
    description: str | None = None


class SetRegisteredModelTag(RegistryRequest):
    key: str
    value: str = ""


class DeleteRegisteredModelTag(RegistryRequest):
    key: str


MAX_MODELS_PAGE = 1000
DEFAULT_MODELS_PAGE = 100
MAX_VERSIONS_PAGE = 200_000
DEFAULT_VERSIONS_PAGE = 10_000


def page_size(given: int | None, default: int, most: int) -> int:
    """A search's `max_results`: `default` when not given, else 1 to `most`."""
    size = default if given is None else given
    if not 0 < size <= most:
        raise InvalidInput(
            "Invalid value for request parameter max_results. It must be at most "
            f"{most}, but got value {size}"
        )
    return size


class SearchRegistry(Message):
    filter: str | None = None
    max_results: Int64 | None = None
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class GetLatestVersions(RegistryRequest):
    stages: list[str] = Field(default_factory=list)


class CreateModelVersion(RegistryRequest):
    source: str = ""
    run_id: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)
    run_link: str | None = None
    description: str | None = None
    model_id: str | None = None


class VersionRequest(RegistryRequest):
    version: str = ""


class UpdateModelVersion(VersionRequest):
    description: str | None = None


class TransitionModelVersionStage(VersionRequest):
    stage: str = ""
    archive_existing_versions: bool = False


class SetModelVersionTag(VersionRequest):
    key: str
    value: str = ""


class DeleteModelVersionTag(VersionRequest):
    key: str


class SetAlias(RegistryRequest):
    alias: str = ""
    version: str = ""


class AliasRequest(RegistryRequest):
    alias: str = ""


# -- responses ---------------------------------------------------------------------------------


class Alias(Message):
    alias: str
    version: str


class ModelVersion(Message):
    name: str
    version: str
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str
    source: str
    status: str
    user_id: str | None = None
    description: str | None = None
    run_id: str | None = None
    run_link: str | None = None
    model_id: str | None = None
    tags: list[KeyValue] = repeated()
    aliases: list[str] = repeated()


class RegisteredModel(Message):
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    user_id: str | None = None
    description: str | None = None
    latest_versions: list[ModelVersion] = repeated()
    tags: list[KeyValue] = repeated()
    aliases: list[Alias] = repeated()


class RegisteredModelResponse(Message):
    registered_model: RegisteredModel


class SearchRegisteredModelsResponse(Message):
    registered_models: list[RegisteredModel]
    next_page_token: str | None = None


class ModelVersionResponse(Message):
    model_version: ModelVersion


class ModelVersionsResponse(Message):
    model_versions: list[ModelVersion]


class SearchModelVersionsResponse(Message):
    model_versions: list[ModelVersion]
    next_page_token: str | None = None


class DownloadUriResponse(Message):
    artifact_uri: str
