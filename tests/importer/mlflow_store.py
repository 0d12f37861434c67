"""An MLflow store filled through the official client, and what the client reads back from
a store, so two stores (MLflow's and ours after an import) can be compared as a user of the
mlflow client would see them."""

import hashlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.tracking import MlflowClient

CLIENT_ENVIRONMENT = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}
LONG_SERIES = int(os.environ.get("MLTRAIL_TEST_IMPORT_POINTS", "20000"))
START = 1_600_000_000_000  # ms


@dataclass
class Filled:
    experiments: list[str]  # names
    runs: list[str]  # ids, parents first
    long_run: str


def _client(uri: str) -> MlflowClient:
    for name, value in CLIENT_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    return MlflowClient(tracking_uri=uri)


def fill(uri: str, files: Path, *, artifact_root: Path | None = None) -> Filled:
    """Two experiments: a parent with two nested children, NaN and ±inf, a long series,
    params, tags, a note, a dataset, artifacts, a failed run and a deleted one."""
    client = _client(uri)

    def location(name: str) -> str | None:
        return None if artifact_root is None else (artifact_root / name).as_uri()

    first = client.create_experiment(
        "Import Source", artifact_location=location("one"), tags={"team": "vision", "k": "v"}
    )
    second = client.create_experiment("second-exp", artifact_location=location("two"))
    runs: list[str] = []

    parent = client.create_run(
        first, start_time=START, run_name="parent", tags={"mlflow.user": "ana", "kind": "sweep"}
    )
    runs.append(parent.info.run_id)
    client.log_batch(
        parent.info.run_id,
        metrics=[
            Metric("loss", 1.5, START + 1, 0),
            Metric("loss", math.nan, START + 2, 1),
            Metric("loss", math.inf, START + 3, 2),
            Metric("loss", -math.inf, START + 4, 3),
            Metric("loss", 0.25, START + 5, 3),  # same step, another timestamp
            Metric("acc", 0.5, START + 6, -1),
        ],
        params=[Param("lr", "0.01"), Param("layers", "3")],
    )
    client.set_tag(parent.info.run_id, "mlflow.note.content", "the best sweep so far")
    dataset = Dataset(
        name="mnist",
        digest="abc123",
        source_type="local",
        source='{"uri": "/data/mnist"}',
        schema='{"mlflow_colspec": []}',
        profile='{"num_rows": 10}',
    )
    client.log_inputs(
        parent.info.run_id,
        datasets=[DatasetInput(dataset, [InputTag("mlflow.data.context", "train")])],
    )
    (files / "report.txt").write_text("all good\n")
    (files / "plots").mkdir()
    (files / "plots" / "curve.bin").write_bytes(os.urandom(300_000))
    client.log_artifact(parent.info.run_id, str(files / "report.txt"))
    client.log_artifacts(parent.info.run_id, str(files / "plots"), artifact_path="figures/plots")
    client.set_terminated(parent.info.run_id, "FINISHED", end_time=START + 60_000)

    for index in range(2):
        child = client.create_run(
            first,
            start_time=START + 1000 + index,
            run_name=f"child-{index}",
            tags={"mlflow.parentRunId": parent.info.run_id},
        )
        runs.append(child.info.run_id)
        client.log_batch(
            child.info.run_id,
            metrics=[Metric("loss", 1.0 / (step + 1), START + step, step) for step in range(50)],
            params=[Param("fold", str(index))],
        )
        client.set_terminated(child.info.run_id, "FINISHED", end_time=START + 5000)

    long_run = client.create_run(second, start_time=START + 2000, run_name="long")
    runs.append(long_run.info.run_id)
    for begin in range(0, LONG_SERIES, 1000):
        client.log_batch(
            long_run.info.run_id,
            metrics=[
                Metric("train/loss", (step % 97) / 7.0, START + step, step)
                for step in range(begin, min(begin + 1000, LONG_SERIES))
            ],
        )
    client.set_terminated(long_run.info.run_id, "FAILED", end_time=START + 9000)

    for index in range(4):
        extra = client.create_run(
            second, start_time=START + 3000 + index, run_name=f"small-{index}"
        )
        runs.append(extra.info.run_id)
        client.log_metric(extra.info.run_id, "score", index * 1.5, timestamp=START, step=index)
        client.log_param(extra.info.run_id, "seed", str(index))
        (files / f"small-{index}.txt").write_text(f"run {index}\n")
        client.log_artifact(extra.info.run_id, str(files / f"small-{index}.txt"), "notes")
        if index == 3:
            client.delete_run(extra.info.run_id)
        elif index < 2:
            client.set_terminated(extra.info.run_id, "KILLED", end_time=START + 4000)
    return Filled(["Import Source", "second-exp"], runs, long_run.info.run_id)


def _value(value: float) -> str:
    return repr(float(value))


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            found.update(_artifacts(client, run_id, info.path))
        else:
            with tempfile.TemporaryDirectory() as folder:
                local = client.download_artifacts(run_id, info.path, folder)
                digest = hashlib.sha256(Path(local).read_bytes()).hexdigest()
            found[info.path] = (info.file_size, digest)
    return found


def snapshot(uri: str, experiment_names: list[str]) -> dict[str, Any]:
    """What the mlflow client reads from a store: experiments by name, and their runs by id
    (ids of experiments themselves may differ between stores)."""
    client = _client(uri)
    view = __import__("mlflow.entities", fromlist=["ViewType"]).ViewType
    seen: dict[str, Any] = {"experiments": {}, "runs": {}}
    for name in experiment_names:
        experiment = client.get_experiment_by_name(name)
        assert experiment is not None, f"no experiment {name!r} at {uri}"
        seen["experiments"][name] = (experiment.lifecycle_stage, dict(experiment.tags))
        runs = client.search_runs([experiment.experiment_id], run_view_type=view.ALL)
        for run in runs:
            info, data = run.info, run.data
            histories = {
                key: sorted(
                    (m.step, m.timestamp, _value(m.value))
                    for m in client.get_metric_history(info.run_id, key)
                )
                for key in data.metrics
            }
            seen["runs"][info.run_id] = {
                "experiment": name,
                "info": (
                    info.run_name,
                    info.status,
                    info.start_time,
                    info.end_time,
                    info.lifecycle_stage,
                    info.user_id,
                ),
                "params": dict(data.params),
                "tags": dict(data.tags),
                "latest": {key: _value(value) for key, value in data.metrics.items()},
                "histories": histories,
                "datasets": sorted(
                    (
                        d.dataset.name,
                        d.dataset.digest,
                        d.dataset.source_type,
                        d.dataset.source,
                        d.dataset.schema,
                        d.dataset.profile,
                        tuple(sorted((t.key, t.value) for t in d.tags)),
                    )
                    for d in (run.inputs.dataset_inputs if run.inputs else [])
                ),
                "artifacts": _artifacts(client, info.run_id),
            }
    return seen
