"""The GraphQL schema of MLflow's `/graphql`, as its own UI queries it: the run page's
`mlflowGetRun` (with the run's experiment and registered versions), the experiment page's
`mlflowGetExperiment`, `mlflowGetMetricHistoryBulkInterval` and `mlflowSearchModelVersions`.

Type, field, enum and directive names are MLflow's (camelCase fields, int64 values as the
`LongString` scalar, a decimal string), so a query written for MLflow's server, `__typename`
included, reads the same here. The schema is written as SDL (ariadne); field names map to the
snake_case attributes of the wire models the REST routes' services return, so each field is
answered from the same read model as the REST reads. Like MLflow, the run's experiment and
its model versions are read only when a query selects them.
"""

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ariadne import ObjectType, QueryType, ScalarType, make_executable_schema
from graphql import (
    GraphQLFieldResolver,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    IntValueNode,
    ValueNode,
    default_field_resolver,
)

from mltrail_server.errors import InvalidInput
from mltrail_server.mlflow import render_registry, wire
from mltrail_server.mlflow import wire_registry as rw
from mltrail_server.mlflow.errors import missing_value
from mltrail_server.mlflow.services.experiments import MlflowExperimentService
from mltrail_server.mlflow.services.logging import MlflowLoggingService
from mltrail_server.mlflow.services.runs import MlflowRunService
from mltrail_server.mlflow.translate import run_id_in
from mltrail_server.services.registry import RegistryService

__all__ = ["GraphQLContext", "schema"]

TYPE_DEFS = """
"Names the UI component a query comes from (MLflow's UI marks each of its queries)."
directive @component(name: String!) on QUERY | MUTATION

"Long converted to string to prevent truncation to max integer in JavaScript"
scalar LongString

enum MlflowRunStatus { RUNNING SCHEDULED FINISHED FAILED KILLED }
enum MlflowModelVersionStatus { PENDING_REGISTRATION FAILED_REGISTRATION READY }

type ErrorDetail { field: String message: String }

"In every response, as in MLflow's schema; errors come in the answer's `errors` instead."
type ApiError {
  code: String
  message: String
  helpUrl: String
  traceId: String
  errorDetails: [ErrorDetail]
}

type MlflowExperimentTag { key: String value: String }

type MlflowExperiment {
  experimentId: String
  name: String
  artifactLocation: String
  lifecycleStage: String
  lastUpdateTime: LongString
  creationTime: LongString
  tags: [MlflowExperimentTag!]
  effectiveTraceArchivalRetention: String
  workspace: String
}

type MlflowGetExperimentResponse { experiment: MlflowExperiment apiError: ApiError }

input MlflowGetExperimentInput { experimentId: String }

type MlflowModelVersionTag { key: String value: String }

type MlflowModelVersion {
  name: String
  version: String
  creationTimestamp: LongString
  lastUpdatedTimestamp: LongString
  userId: String
  currentStage: String
  description: String
  source: String
  runId: String
  status: MlflowModelVersionStatus
  statusMessage: String
  tags: [MlflowModelVersionTag!]
  runLink: String
  aliases: [String]
  modelId: String
}

type MlflowSearchModelVersionsResponse {
  modelVersions: [MlflowModelVersion!]
  nextPageToken: String
  apiError: ApiError
}

input MlflowSearchModelVersionsInput {
  filter: String
  maxResults: LongString
  orderBy: [String]
  pageToken: String
}

type MlflowRunInfo {
  runId: String
  runUuid: String
  runName: String
  experimentId: String
  userId: String
  status: MlflowRunStatus
  startTime: LongString
  endTime: LongString
  artifactUri: String
  lifecycleStage: String
}

type MlflowMetricExtension {
  key: String
  value: Float
  timestamp: LongString
  step: LongString
  datasetName: String
  datasetDigest: String
  modelId: String
  runId: String
}

type MlflowParam { key: String value: String }
type MlflowRunTag { key: String value: String }

type MlflowRunData {
  metrics: [MlflowMetricExtension!]
  params: [MlflowParam!]
  tags: [MlflowRunTag!]
}

type MlflowDataset {
  name: String
  digest: String
  sourceType: String
  source: String
  schema: String
  profile: String
}

type MlflowInputTag { key: String value: String }
type MlflowDatasetInput { tags: [MlflowInputTag!] dataset: MlflowDataset }
type MlflowModelInput { modelId: String }

type MlflowRunInputs {
  datasetInputs: [MlflowDatasetInput!]
  modelInputs: [MlflowModelInput!]
}

type MlflowModelOutput { modelId: String step: LongString }
type MlflowRunOutputs { modelOutputs: [MlflowModelOutput!] }

type MlflowRunExtension {
  info: MlflowRunInfo
  data: MlflowRunData
  inputs: MlflowRunInputs
  outputs: MlflowRunOutputs
  experiment: MlflowExperiment
  modelVersions: [MlflowModelVersion!]
}

type MlflowGetRunResponse { run: MlflowRunExtension apiError: ApiError }

input MlflowGetRunInput { runId: String runUuid: String }

type MlflowMetricWithRunId {
  key: String
  value: Float
  timestamp: LongString
  step: LongString
  runId: String
}

type MlflowGetMetricHistoryBulkIntervalResponse {
  metrics: [MlflowMetricWithRunId!]
  apiError: ApiError
}

input MlflowGetMetricHistoryBulkIntervalInput {
  runIds: [String]
  metricKey: String
  startStep: Int
  endStep: Int
  maxResults: Int
}

type Query {
  mlflowGetExperiment(input: MlflowGetExperimentInput): MlflowGetExperimentResponse
  mlflowGetMetricHistoryBulkInterval(
    input: MlflowGetMetricHistoryBulkIntervalInput
  ): MlflowGetMetricHistoryBulkIntervalResponse
  mlflowGetRun(input: MlflowGetRunInput): MlflowGetRunResponse
  mlflowSearchModelVersions(
    input: MlflowSearchModelVersionsInput
  ): MlflowSearchModelVersionsResponse
}
"""


@dataclass
class GraphQLContext:
    """The services one `/graphql` request reads through: the REST routes' own."""

    runs: MlflowRunService
    experiments: MlflowExperimentService
    logging: MlflowLoggingService
    registry: RegistryService


def _context(info: GraphQLResolveInfo) -> GraphQLContext:
    context: GraphQLContext = info.context
    return context


def _input(given: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return given or {}


long_string = ScalarType("LongString")


@long_string.serializer
def _serialize_long(value: int) -> str:
    return str(value)


@long_string.value_parser
def _parse_long(value: Any) -> int:
    return int(value)


@long_string.literal_parser
def _parse_long_literal(node: ValueNode, variables: Mapping[str, Any] | None = None) -> int:
    if isinstance(node, IntValueNode):
        return int(node.value)
    raise ValueError("LongString takes an integer")


query = QueryType()


@query.field("mlflowGetRun")
async def resolve_get_run(
    _: None, info: GraphQLResolveInfo, input: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A run with its params, tags, latest metrics, inputs and outputs (as runs/get)."""
    given = _input(input)
    ref = wire.RunRef(run_id=given.get("run_id"), run_uuid=given.get("run_uuid"))
    return {"run": await _context(info).runs.get(ref)}


@query.field("mlflowGetExperiment")
async def resolve_get_experiment(
    _: None, info: GraphQLResolveInfo, input: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """An experiment by id, deleted ones included (as experiments/get)."""
    experiment_id = _input(input).get("experiment_id")
    if not experiment_id:
        raise InvalidInput(missing_value("experiment_id"))
    return {"experiment": await _context(info).experiments.get(experiment_id)}


@query.field("mlflowGetMetricHistoryBulkInterval")
async def resolve_metric_history_bulk_interval(
    _: None, info: GraphQLResolveInfo, input: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One metric of up to 100 runs, each reduced to at most `maxResults` points (as
    metrics/get-history-bulk-interval)."""
    given = _input(input)
    request = wire.GetMetricHistoryBulkInterval(
        run_ids=[run_id for run_id in given.get("run_ids") or () if run_id is not None],
        metric_key=given.get("metric_key") or "",
        start_step=given.get("start_step"),
        end_step=given.get("end_step"),
        max_results=given.get("max_results"),
    )
    answer = await _context(info).logging.metric_history_bulk(request)
    return {"metrics": answer.metrics}


@query.field("mlflowSearchModelVersions")
async def resolve_search_model_versions(
    _: None, info: GraphQLResolveInfo, input: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Registered model versions matching a filter, a page at a time (as
    model-versions/search)."""
    given = _input(input)
    size = rw.page_size(given.get("max_results"), rw.DEFAULT_VERSIONS_PAGE, rw.MAX_VERSIONS_PAGE)
    order_by = [text for text in given.get("order_by") or () if text is not None]
    records, token = await _context(info).registry.search_versions(
        given.get("filter"), order_by, size, given.get("page_token")
    )
    versions = [render_registry.model_version(record) for record in records]
    return {"model_versions": versions, "next_page_token": token}


run = ObjectType("MlflowRunExtension")


@run.field("experiment")
async def resolve_run_experiment(parent: wire.Run, info: GraphQLResolveInfo) -> wire.Experiment:
    return await _context(info).experiments.get(parent.info.experiment_id)


@run.field("modelVersions")
async def resolve_run_model_versions(parent: wire.Run, info: GraphQLResolveInfo) -> list[Any]:
    run_id = run_id_in(parent.info.run_id)
    if run_id is None:
        return []
    records = await _context(info).registry.versions_of_run(run_id)
    return [render_registry.model_version(record) for record in records]


def _finite_value(parent: wire.Metric, _: GraphQLResolveInfo) -> float | None:
    """GraphQL's Float has no NaN: a NaN value is `null`, as in MLflow's answer."""
    return None if math.isnan(parent.value) else parent.value


metric = ObjectType("MlflowMetricExtension")
metric.set_field("value", _finite_value)
metric_with_run_id = ObjectType("MlflowMetricWithRunId")
metric_with_run_id.set_field("value", _finite_value)

dataset = ObjectType("MlflowDataset")


@dataset.field("schema")
def resolve_dataset_schema(parent: wire.DatasetOut, _: GraphQLResolveInfo) -> str | None:
    return parent.schema_


def _unset(field_type: GraphQLOutputType) -> Any:
    """What MLflow's answer holds for a field its message leaves unset (protobuf's
    defaults): an empty string, 0, an empty list; `null` for a message or a float."""
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    if isinstance(field_type, GraphQLList):
        return []
    if isinstance(field_type, GraphQLScalarType):
        return {"String": "", "LongString": 0, "Int": 0, "Boolean": False}.get(field_type.name)
    return None


def _defaulting(resolve: GraphQLFieldResolver | None, unset: Any) -> GraphQLFieldResolver:
    def resolver(parent: Any, info: GraphQLResolveInfo, **arguments: Any) -> Any:
        value = (resolve or default_field_resolver)(parent, info, **arguments)
        return unset if value is None else value

    return resolver


def _with_unset_defaults(built: GraphQLSchema) -> GraphQLSchema:
    """Every field of the answers that reads an attribute of a wire model answers MLflow's
    default where the model holds `None` (async resolvers give their own answer)."""
    for type_ in built.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        if type_ is built.query_type:
            continue
        for field in type_.fields.values():
            unset = _unset(field.type)
            if unset is None or inspect.iscoroutinefunction(field.resolve):
                continue
            field.resolve = _defaulting(field.resolve, unset)
    return built


schema: GraphQLSchema = _with_unset_defaults(
    make_executable_schema(
        TYPE_DEFS,
        long_string,
        query,
        run,
        metric,
        metric_with_run_id,
        dataset,
        convert_names_case=True,
    )
)
