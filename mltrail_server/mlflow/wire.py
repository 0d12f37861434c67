"""MLflow's wire schemas (the JSON of its protobuf messages, as the 3.x client sends and
parses them). Requests ignore unknown fields, take int64 values as numbers or numeric
strings, and enums as names or numbers. Responses leave out fields that are unset."""

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from mltrail_server.mlflow.translate import experiment_id_or_none, run_id_in
from mltrail_server.models.tracking import MetricValue
from mltrail_server.services.access import Targets

INT64 = Field(ge=-(2**63), lt=2**63)


def _empty(value: Any) -> bool:
    return not value


def repeated() -> Any:
    """A repeated field of a response: left out when empty, as protobuf's JSON writes it."""
    return Field(default_factory=list, exclude_if=_empty)


def present(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The repeated fields of a response built as plain JSON, with the empty ones left out:
    the rule `repeated()` gives the wire models, for the responses rendered without them."""
    return {name: value for name, value in fields.items() if not _empty(value)}


Int64 = Annotated[int, INT64]

_NON_FINITE = {
    "nan": math.nan,
    "infinity": math.inf,
    "+infinity": math.inf,
    "inf": math.inf,
    "-infinity": -math.inf,
    "-inf": -math.inf,
}


def _metric_value(value: Any) -> Any:
    """A JSON number, a numeric string, or "NaN"/"Infinity"/"-Infinity" (any case)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        special = _NON_FINITE.get(value.strip().lower())
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            # A type error, worded as MLflow's type errors are (mlflow/errors.py).
            raise PydanticCustomError("float_parsing", "must be a number") from None
    return value


def _enum_by_number(names: dict[int, str]) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return names.get(value, value)
        if isinstance(value, str) and value.isdigit():
            return names.get(int(value), value)
        return value

    return BeforeValidator(convert)


MetricValueIn = Annotated[float, BeforeValidator(_metric_value)]


class MlflowRunStatus(StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class ViewType(StrEnum):
    ACTIVE_ONLY = "ACTIVE_ONLY"
    DELETED_ONLY = "DELETED_ONLY"
    ALL = "ALL"


class LoggedModelStatus(StrEnum):
    LOGGED_MODEL_STATUS_UNSPECIFIED = "LOGGED_MODEL_STATUS_UNSPECIFIED"
    LOGGED_MODEL_PENDING = "LOGGED_MODEL_PENDING"
    LOGGED_MODEL_READY = "LOGGED_MODEL_READY"
    LOGGED_MODEL_UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"


RunStatusIn = Annotated[
    MlflowRunStatus,
    _enum_by_number({1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}),
]
ViewTypeIn = Annotated[ViewType, _enum_by_number({1: "ACTIVE_ONLY", 2: "DELETED_ONLY", 3: "ALL"})]
LoggedModelStatusIn = Annotated[
    LoggedModelStatus,
    _enum_by_number(
        {
            0: "LOGGED_MODEL_STATUS_UNSPECIFIED",
            1: "LOGGED_MODEL_PENDING",
            2: "LOGGED_MODEL_READY",
            3: "LOGGED_MODEL_UPLOAD_FAILED",
        }
    ),
]


class Message(BaseModel):
    """A protobuf message: unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    def access_targets(self) -> Targets:
        """The resources a request body names, read as the MLflow services read them (the
        permission rule checks these: mltrail_server/services/access.py)."""
        targets = Targets()
        fields = type(self).model_fields
        for name in ("run_id", "run_uuid"):
            text = getattr(self, name, None) if name in fields else None
            # An id that names no run is the handler's 404; it cannot reach anyone's run.
            if isinstance(text, str) and (run_id := run_id_in(text)) is not None:
                targets.runs.add(run_id)
        if "experiment_id" in fields:
            # runs/create without an experiment creates in the default experiment "0"; an id
            # that names no experiment is the handler's 404.
            text = getattr(self, "experiment_id", None) or "0"
            if (experiment_id := experiment_id_or_none(text)) is not None:
                targets.experiments.add(experiment_id)
        if "model_id" in fields and isinstance(model_id := getattr(self, "model_id", None), str):
            targets.models.add(model_id)
        return targets


class KeyValue(Message):
    key: str
    value: str = ""


class Empty(Message):
    """The `{}` of endpoints without output."""


# -- experiments -------------------------------------------------------------------------------


class CreateExperiment(Message):
    name: str
    artifact_location: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class ExperimentIdBody(Message):
    experiment_id: str


class ExperimentIdQuery(Message):
    experiment_id: str


class ExperimentNameQuery(Message):
    experiment_name: str


class UpdateExperiment(Message):
    experiment_id: str
    new_name: str


class SetExperimentTag(Message):
    experiment_id: str
    key: str
    value: str = ""


class DeleteExperimentTag(Message):
    experiment_id: str
    key: str


class SearchExperiments(Message):
    max_results: Int64 | None = None
    page_token: str | None = None
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    view_type: ViewTypeIn = ViewType.ACTIVE_ONLY


class Experiment(Message):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str
    last_update_time: int
    creation_time: int
    tags: list[KeyValue] = repeated()
    # MLflow 3.17 names the workspace of each experiment; without workspaces it is this one.
    workspace: str = "default"


class CreateExperimentResponse(Message):
    experiment_id: str


class ExperimentResponse(Message):
    experiment: Experiment


class SearchExperimentsResponse(Message):
    experiments: list[Experiment] = repeated()
    next_page_token: str | None = None


# -- runs --------------------------------------------------------------------------------------


class RunRef(Message):
    """Requests that name a run send `run_id`, older clients `run_uuid`, 3.x both."""

    run_id: str | None = None
    run_uuid: str | None = None


class CreateRun(Message):
    experiment_id: str | None = None
    user_id: str | None = None
    run_name: str | None = None
    start_time: Int64 | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class UpdateRun(RunRef):
    status: RunStatusIn | None = None
    end_time: Int64 | None = None
    run_name: str | None = None


class MetricIn(Message):
    key: str
    value: MetricValueIn
    timestamp: Int64
    step: Int64 = 0
    # A metric of a logged model (MLflow 3), maybe measured on a dataset.
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LogMetric(RunRef, MetricIn):
    pass


class LogParam(RunRef):
    key: str
    value: str = ""


class SetTag(RunRef):
    key: str
    value: str = ""


class DeleteTag(RunRef):
    key: str


class LogBatch(RunRef):
    metrics: list[MetricIn] = Field(default_factory=list)
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)

    def access_targets(self) -> Targets:
        """The run, and the logged models its metrics are logged to."""
        targets = super().access_targets()
        targets.models |= {m.model_id for m in self.metrics if m.model_id}
        return targets


# Items per log-inputs and outputs request. MLflow sets no count, but each item is a row
# written in one statement: 1000 datasets and 1000 models (6 columns each) stay far under
# the 32,766 bind parameters SQLite and PostgreSQL allow in one statement.
MAX_DATASETS_PER_REQUEST = 1000
MAX_MODELS_PER_REQUEST = 1000
MAX_TAGS_PER_DATASET_INPUT = 100


def _at_most(limit: int, what: str) -> Any:
    """A list field's bound, checked before its items are validated one by one."""

    def check(value: Any) -> Any:
        if isinstance(value, list) and len(value) > limit:
            raise ValueError(
                f"at most {limit} {what} per request, got {len(value)}; split them across requests"
            )
        return value

    return BeforeValidator(check)


class DatasetIn(Message):
    name: str
    digest: str
    source_type: str
    source: str
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None


class DatasetInput(Message):
    tags: Annotated[
        list[KeyValue], _at_most(MAX_TAGS_PER_DATASET_INPUT, "tags per dataset input")
    ] = Field(default_factory=list)
    dataset: DatasetIn


class ModelInput(Message):
    model_id: str


class ModelOutput(Message):
    model_id: str
    step: Int64 = 0


class LogInputs(RunRef):
    datasets: Annotated[list[DatasetInput], _at_most(MAX_DATASETS_PER_REQUEST, "datasets")] = Field(
        default_factory=list
    )
    models: Annotated[list[ModelInput], _at_most(MAX_MODELS_PER_REQUEST, "models")] = Field(
        default_factory=list
    )


class LogOutputs(RunRef):
    models: Annotated[list[ModelOutput], _at_most(MAX_MODELS_PER_REQUEST, "models")] = Field(
        default_factory=list
    )


class LogModel(RunRef):
    model_json: str = ""


class SearchRuns(Message):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    run_view_type: ViewTypeIn = ViewType.ACTIVE_ONLY
    max_results: Int64 = 1000
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


class RunInfo(Message):
    run_uuid: str
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: MlflowRunStatus
    start_time: int
    end_time: int | None = None
    artifact_uri: str
    lifecycle_stage: str


class Metric(Message):
    key: str
    value: MetricValue
    timestamp: int
    step: int
    # Set on a logged model's metrics.
    dataset_name: str | None = None
    dataset_digest: str | None = None
    model_id: str | None = None
    run_id: str | None = None


class RunData(Message):
    metrics: list[Metric] = repeated()
    params: list[KeyValue] = repeated()
    tags: list[KeyValue] = repeated()


class DatasetOut(Message):
    model_config = ConfigDict(serialize_by_alias=True)

    name: str
    digest: str
    source_type: str
    source: str
    schema_: str | None = Field(default=None, alias="schema")
    profile: str | None = None


class DatasetInputOut(Message):
    tags: list[KeyValue]
    dataset: DatasetOut


class RunInputs(Message):
    dataset_inputs: list[DatasetInputOut] = repeated()
    model_inputs: list[ModelInput] = repeated()


class RunOutputs(Message):
    model_outputs: list[ModelOutput] = repeated()


class Run(Message):
    info: RunInfo
    data: RunData
    inputs: RunInputs = Field(default_factory=RunInputs)
    outputs: RunOutputs | None = Field(default_factory=RunOutputs)


class RunResponse(Message):
    run: Run


class UpdateRunResponse(Message):
    run_info: RunInfo


class SearchRunsResponse(Message):
    runs: list[Run] = repeated()
    next_page_token: str | None = None


# -- metrics -----------------------------------------------------------------------------------


class GetMetricHistory(RunRef):
    metric_key: str
    page_token: str | None = None
    max_results: Int64 | None = None


class MetricHistoryResponse(Message):
    metrics: list[Metric] = repeated()
    next_page_token: str | None = None


class GetMetricHistoryBulkInterval(Message):
    run_ids: list[str] = Field(default_factory=list)
    metric_key: str
    start_step: Int64 | None = None
    end_step: Int64 | None = None
    max_results: Int64 | None = None


class GetMetricHistoryBulk(Message):
    """The UI's older bulk read: `run_id` repeated in the query string."""

    run_id: list[str] = Field(default_factory=list)
    metric_key: str | None = None
    max_results: Int64 | None = None


class MetricWithRunId(Metric):
    run_id: str


class MetricHistoryBulkResponse(Message):
    metrics: list[MetricWithRunId] = repeated()


class SearchDatasets(Message):
    experiment_ids: list[str] = Field(default_factory=list)


class DatasetSummary(Message):
    experiment_id: str
    name: str
    digest: str
    context: str | None = None


class SearchDatasetsResponse(Message):
    dataset_summaries: list[DatasetSummary] = repeated()


class GetArtifactQuery(RunRef):
    path: str | None = None


# -- logged models -----------------------------------------------------------------------------


class CreateLoggedModel(Message):
    experiment_id: str
    name: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class FinalizeLoggedModel(Message):
    model_id: str | None = None
    status: LoggedModelStatusIn


class LoggedModelParams(Message):
    params: list[KeyValue] = Field(default_factory=list)


class LoggedModelTags(Message):
    tags: list[KeyValue] = Field(default_factory=list)


class LoggedModelOrderBy(Message):
    field_name: str
    ascending: bool = True


class LoggedModelDatasetFilter(Message):
    dataset_name: str | None = None
    dataset_digest: str | None = None


class SearchLoggedModels(Message):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str | None = None
    datasets: list[LoggedModelDatasetFilter] = Field(default_factory=list)
    max_results: Int64 | None = None
    order_by: list[LoggedModelOrderBy] = Field(default_factory=list)
    page_token: str | None = None


class LoggedModelInfo(Message):
    model_id: str
    experiment_id: str
    name: str
    creation_timestamp_ms: int
    last_updated_timestamp_ms: int
    artifact_uri: str
    status: LoggedModelStatus
    model_type: str | None = None
    source_run_id: str | None = None
    status_message: str | None = None
    tags: list[KeyValue] = repeated()


class LoggedModelData(Message):
    params: list[KeyValue] = repeated()
    metrics: list[Metric] = repeated()


class LoggedModel(Message):
    info: LoggedModelInfo
    data: LoggedModelData


class LoggedModelResponse(Message):
    model: LoggedModel


class SearchLoggedModelsResponse(Message):
    models: list[LoggedModel] = repeated()
    next_page_token: str | None = None


# -- artifacts and server ----------------------------------------------------------------------


class ArtifactListQuery(Message):
    path: str = ""


class FileInfo(Message):
    path: str
    is_dir: bool
    file_size: int | None = None


class ListArtifactsResponse(Message):
    files: list[FileInfo] = repeated()


class ListRunArtifacts(RunRef):
    path: str | None = None
    page_token: str | None = None


class ListRunArtifactsResponse(Message):
    root_uri: str
    files: list[FileInfo] = repeated()


class ServerInfo(Message):
    store_type: str = "SqlStore"
    workspaces_enabled: bool = False
    trace_archival_enabled: bool = False
    multipart_uploads_enabled: bool = False
    multipart_downloads_enabled: bool = False
    presigned_upload_run_id_supported: bool = False
    presigned_upload_model_id_supported: bool = False
    features_enabled: dict[str, bool] = Field(default_factory=dict)
