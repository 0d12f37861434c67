"""Our rows and v1 models rendered as MLflow's entities."""

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mltrail_server.db.repositories.tracking import RunData
from mltrail_server.db.tables import Experiment as ExperimentRow
from mltrail_server.db.tables import LoggedModel as LoggedModelRow
from mltrail_server.db.tables import LoggedModelMetric, RunLink
from mltrail_server.db.tables import Run as RunRow
from mltrail_server.mlflow import wire
from mltrail_server.mlflow.translate import (
    RUN_NAME_TAG,
    TO_MLFLOW_STATUS,
    experiment_artifact_location,
    experiment_id_out,
    run_artifact_uri,
    run_id_out,
    to_ms,
)
from mltrail_server.models.run import RunStatus
from mltrail_server.services.run_records import RunRecord, metric_json

INPUT = "input"
OUTPUT = "output"
DATASET = "dataset"
MODEL = "model"

# Logged-model statuses: stored short, sent as the proto's enum names.
MODEL_STATUS_OUT = {
    "UNSPECIFIED": wire.LoggedModelStatus.LOGGED_MODEL_STATUS_UNSPECIFIED,
    "PENDING": wire.LoggedModelStatus.LOGGED_MODEL_PENDING,
    "READY": wire.LoggedModelStatus.LOGGED_MODEL_READY,
    "FAILED": wire.LoggedModelStatus.LOGGED_MODEL_UPLOAD_FAILED,
}
MODEL_STATUS_IN = {name: short for short, name in MODEL_STATUS_OUT.items()}


def key_values(pairs: Mapping[str, str]) -> list[wire.KeyValue]:
    return [wire.KeyValue(key=key, value=value) for key, value in pairs.items()]


def experiment(row: ExperimentRow, tags: Mapping[str, str]) -> wire.Experiment:
    return wire.Experiment(
        experiment_id=experiment_id_out(row.id),
        name=row.name,
        artifact_location=experiment_artifact_location(row.id, row.artifact_location),
        lifecycle_stage=row.lifecycle,
        last_update_time=to_ms(row.updated_at),
        creation_time=to_ms(row.created_at),
        tags=key_values(tags),
    )


def run_info(row: RunRow) -> wire.RunInfo:
    run_id = run_id_out(row.id)
    return wire.RunInfo(
        run_uuid=run_id,
        run_id=run_id,
        experiment_id=experiment_id_out(row.experiment_id),
        run_name=row.name,
        user_id=row.user or "",
        status=wire.MlflowRunStatus(TO_MLFLOW_STATUS[RunStatus(row.status)]),
        start_time=to_ms(row.started_at),
        end_time=None if row.ended_at is None else to_ms(row.ended_at),
        artifact_uri=run_artifact_uri(row.experiment_id, row.id, row.artifact_uri),
        lifecycle_stage=row.lifecycle,
    )


def run(record: RunRecord) -> wire.Run:
    # The name is the run's; a v1 rename leaves an older mlflow.runName tag behind.
    tags = {**record.tags, RUN_NAME_TAG: record.row.name}
    return wire.Run(
        info=run_info(record.row),
        data=wire.RunData(
            metrics=[
                wire.Metric(
                    key=key, value=latest.value, timestamp=latest.timestamp, step=latest.step
                )
                for key, latest in record.metrics.items()
            ],
            params=key_values(record.params),
            tags=key_values(tags),
        ),
        **_inputs_and_outputs(record.links),
    )


def run_json(row: Any, data: RunData, links: Sequence[RunLink]) -> dict[str, Any]:
    """`run`, as the JSON the route sends (fields that are unset left out), built straight
    from a `run` row and its data: a search page renders up to 1,000 of them."""
    run_id = run_id_out(row.id)
    info: dict[str, Any] = {
        "run_uuid": run_id,
        "run_id": run_id,
        "experiment_id": experiment_id_out(row.experiment_id),
        "run_name": row.name,
        "user_id": row.user or "",
        "status": TO_MLFLOW_STATUS[row.status],
        "start_time": to_ms(row.started_at),
        "artifact_uri": run_artifact_uri(row.experiment_id, row.id, row.artifact_uri),
        "lifecycle_stage": row.lifecycle,
    }
    if row.ended_at is not None:
        info["end_time"] = to_ms(row.ended_at)
    tags = {**data.tags, RUN_NAME_TAG: row.name}
    lists: dict[str, list[dict[str, Any]]] = {
        "metrics": [
            {
                "key": key,
                "value": metric_json(metric),
                "timestamp": metric.timestamp,
                "step": metric.step,
            }
            for key, metric in data.metrics.items()
        ],
        "params": [{"key": key, "value": value} for key, value in data.params.items()],
        "tags": [{"key": key, "value": value} for key, value in tags.items()],
    }
    body: dict[str, Any] = {
        "info": info,
        "data": wire.present(lists),
        "inputs": {},
        "outputs": {},
    }
    if links:
        for field, message in _inputs_and_outputs(links).items():
            assert isinstance(message, wire.Message)
            body[field] = message.model_dump(mode="json", exclude_none=True, by_alias=True)
    return body


def _inputs_and_outputs(links: Iterable[RunLink]) -> dict[str, object]:
    datasets: list[wire.DatasetInputOut] = []
    model_inputs: list[wire.ModelInput] = []
    model_outputs: list[wire.ModelOutput] = []
    for link in links:
        if link.direction == OUTPUT:
            model_outputs.append(wire.ModelOutput(model_id=link.key, step=link.step or 0))
        elif link.kind == MODEL:
            model_inputs.append(wire.ModelInput(model_id=link.key))
        else:
            payload = json.loads(link.payload or "{}")
            datasets.append(
                wire.DatasetInputOut(
                    tags=[wire.KeyValue(**tag) for tag in payload.get("tags", [])],
                    dataset=wire.DatasetOut.model_validate(payload.get("dataset", {})),
                )
            )
    return {
        "inputs": wire.RunInputs(dataset_inputs=datasets, model_inputs=model_inputs),
        "outputs": wire.RunOutputs(model_outputs=model_outputs),
    }


def logged_model_metric(point: LoggedModelMetric) -> wire.Metric:
    return wire.Metric(
        key=point.key,
        value=math.nan if point.is_nan else point.value,
        timestamp=point.timestamp,
        step=point.step,
        dataset_name=point.dataset_name,
        dataset_digest=point.dataset_digest,
        model_id=point.model_id,
        run_id=run_id_out(point.run_id),
    )


def logged_model(
    row: LoggedModelRow, metrics: Iterable[LoggedModelMetric] = ()
) -> wire.LoggedModel:
    tags: dict[str, str] = json.loads(row.tags)
    params: dict[str, str] = json.loads(row.params)
    return wire.LoggedModel(
        info=wire.LoggedModelInfo(
            model_id=row.id,
            experiment_id=experiment_id_out(row.experiment_id),
            name=row.name,
            creation_timestamp_ms=to_ms(row.created_at),
            last_updated_timestamp_ms=to_ms(row.updated_at),
            artifact_uri=row.artifact_location,
            status=MODEL_STATUS_OUT.get(row.status, wire.LoggedModelStatus.LOGGED_MODEL_PENDING),
            model_type=row.model_type or "",
            source_run_id=None if row.source_run_id is None else row.source_run_id.hex,
            status_message=row.status_message,
            tags=key_values(tags),
        ),
        data=wire.LoggedModelData(
            params=key_values(params),
            metrics=[logged_model_metric(point) for point in metrics],
        ),
    )
