"""The mlflow fluent API (`mlflow.start_run`, `mlflow.log_*`...) against a live server."""

import json
import math
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pytest
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

from tests.mlflow.conftest import unique


def v1_run(v1: httpx.Client, run_id: str) -> dict[str, Any]:
    response = v1.get(f"/api/v1/runs/{run_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


class TestRunLifecycle:
    def test_a_logged_run_reads_back_identically_in_both_apis(
        self, client: MlflowClient, v1: httpx.Client
    ) -> None:
        experiment = mlflow.set_experiment(unique("Fluent Run"))
        with mlflow.start_run(run_name="first try", description="a note") as run:
            mlflow.log_param("lr", 0.01)
            mlflow.log_params({"layers": 3, "optimizer": "adam"})
            mlflow.log_metric("loss", 2.0, step=0)
            mlflow.log_metric("loss", 0.5, step=1)
            mlflow.log_metrics({"acc": 0.9, "val/acc": 0.85}, step=1)
            mlflow.set_tag("team", "nlp")
            mlflow.set_tags({"stage": "dev", "seed": 7})
            run_id = run.info.run_id

        stored = client.get_run(run_id)
        assert stored.info.status == "FINISHED"
        assert stored.info.experiment_id == experiment.experiment_id
        assert stored.info.run_name == "first try"
        assert stored.info.end_time >= stored.info.start_time
        assert stored.info.artifact_uri == (
            f"mlflow-artifacts:/{experiment.experiment_id}/{run_id}/artifacts"
        )
        assert stored.data.params == {"lr": "0.01", "layers": "3", "optimizer": "adam"}
        assert stored.data.metrics == {"loss": 0.5, "acc": 0.9, "val/acc": 0.85}
        assert stored.data.tags["team"] == "nlp"
        assert stored.data.tags["seed"] == "7"
        assert stored.data.tags["mlflow.runName"] == "first try"
        assert stored.data.tags["mlflow.note.content"] == "a note"

        same = v1_run(v1, run_id)
        assert same["id"].replace("-", "") == run_id
        assert same["experiment_id"].replace("-", "") == experiment.experiment_id
        assert same["status"] == "completed"
        assert same["name"] == "first try"
        assert same["description"] == "a note"
        assert same["params"] == stored.data.params
        assert same["tags"] == stored.data.tags
        assert {key: m["value"] for key, m in same["metrics"].items()} == stored.data.metrics
        assert same["metrics"]["loss"]["min"] == 0.5 and same["metrics"]["loss"]["max"] == 2.0

    def test_a_run_without_an_experiment_goes_to_default(self, client: MlflowClient) -> None:
        with mlflow.start_run() as run:
            mlflow.log_metric("m", 1.0)
        assert run.info.experiment_id == "0"
        default = client.get_experiment("0")
        assert default.name == "Default"
        assert default.artifact_location == "mlflow-artifacts:/0"
        assert client.get_experiment_by_name("Default").experiment_id == "0"
        stored = client.get_run(run.info.run_id)
        assert stored.data.metrics == {"m": 1.0}
        # The server generated MLflow-style name.
        assert stored.info.run_name.count("-") == 2

    def test_nested_runs_record_their_parent(self, client: MlflowClient, v1: httpx.Client) -> None:
        mlflow.set_experiment(unique("Nested"))
        with (
            mlflow.start_run(run_name="parent") as parent,
            mlflow.start_run(run_name="child", nested=True) as child,
        ):
            mlflow.log_param("fold", 1)
        stored = client.get_run(child.info.run_id)
        assert stored.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert v1_run(v1, child.info.run_id)["parent_run_id"].replace("-", "") == (
            parent.info.run_id
        )
        children = client.search_runs(
            [parent.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        )
        assert [run.info.run_id for run in children] == [child.info.run_id]

    def test_an_exception_in_the_with_block_fails_the_run(self, client: MlflowClient) -> None:
        mlflow.set_experiment(unique("Failing"))
        with pytest.raises(RuntimeError), mlflow.start_run() as run:
            mlflow.log_metric("before", 1.0)
            raise RuntimeError("training diverged")
        assert client.get_run(run.info.run_id).info.status == "FAILED"

    def test_end_run_with_a_status_and_resume(self, client: MlflowClient) -> None:
        mlflow.set_experiment(unique("Resume"))
        run = mlflow.start_run()
        mlflow.end_run(status=RunStatus.to_string(RunStatus.KILLED))
        assert client.get_run(run.info.run_id).info.status == "KILLED"
        with mlflow.start_run(run_id=run.info.run_id):
            mlflow.log_metric("after_resume", 3.0)
        resumed = client.get_run(run.info.run_id)
        assert resumed.info.status == "FINISHED"
        assert resumed.data.metrics["after_resume"] == 3.0

    def test_async_logging_arrives_whole(self, client: MlflowClient) -> None:
        mlflow.set_experiment(unique("Async"))
        with mlflow.start_run() as run:
            for step in range(50):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step, synchronous=False)
            mlflow.log_param("batch", 32, synchronous=False)
            mlflow.set_tag("mode", "async", synchronous=False)
            mlflow.log_metrics({"a": 1.0, "b": 2.0}, step=3, synchronous=False)
        history = client.get_metric_history(run.info.run_id, "loss")
        assert sorted(point.step for point in history) == list(range(50))
        stored = client.get_run(run.info.run_id)
        assert stored.data.params == {"batch": "32"}
        assert stored.data.tags["mode"] == "async"
        assert stored.data.metrics["loss"] == pytest.approx(1.0 / 50)
        assert stored.data.metrics["b"] == 2.0

    def test_non_finite_metric_values(self, client: MlflowClient) -> None:
        mlflow.set_experiment(unique("Non-finite"))
        with mlflow.start_run() as run:
            mlflow.log_metric("nan", math.nan)
            mlflow.log_metric("inf", math.inf)
            mlflow.log_metric("neg", -math.inf)
        metrics = client.get_run(run.info.run_id).data.metrics
        assert math.isnan(metrics["nan"])
        assert metrics["inf"] == math.inf and metrics["neg"] == -math.inf
        assert math.isnan(client.get_metric_history(run.info.run_id, "nan")[0].value)


class TestArtifacts:
    def test_log_and_read_back_artifacts(
        self, client: MlflowClient, v1: httpx.Client, tmp_path: Path
    ) -> None:
        mlflow.set_experiment(unique("Artifacts"))
        single = tmp_path / "model.bin"
        single.write_bytes(bytes(range(256)) * 1000)
        folder = tmp_path / "plots"
        (folder / "deep").mkdir(parents=True)
        (folder / "a.txt").write_text("alpha")
        (folder / "deep" / "b.csv").write_text("x,y\n1,2\n")
        with mlflow.start_run() as run:
            mlflow.log_artifact(str(single))
            mlflow.log_artifacts(str(folder), artifact_path="plots")
            mlflow.log_dict({"lr": 0.1, "layers": [1, 2]}, "config/params.json")
            mlflow.log_text("hello world", "notes.txt")
        run_id = run.info.run_id

        root = {(f.path, f.is_dir) for f in client.list_artifacts(run_id)}
        assert root == {
            ("config", True),
            ("model.bin", False),
            ("notes.txt", False),
            ("plots", True),
        }
        plots = client.list_artifacts(run_id, "plots")
        assert [(f.path, f.is_dir, f.file_size) for f in plots] == [
            ("plots/a.txt", False, 5),
            ("plots/deep", True, None),
        ]
        target = tmp_path / "download"
        target.mkdir()
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="plots", dst_path=str(target)
        )
        assert (Path(local) / "deep" / "b.csv").read_text() == "x,y\n1,2\n"
        local_file = client.download_artifacts(run_id, "model.bin", str(target))
        assert Path(local_file).read_bytes() == single.read_bytes()
        assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config/params.json") == {
            "lr": 0.1,
            "layers": [1, 2],
        }
        assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes.txt") == "hello world"

        # The same files through /api/v1.
        listing = v1.get(f"/api/v1/runs/{run_id}/artifacts", params={"path": "plots"}).json()
        assert listing == {
            "path": "plots",
            "files": [
                {"path": "plots/a.txt", "is_dir": False, "size": 5},
                {"path": "plots/deep", "is_dir": True, "size": None},
            ],
        }
        download = v1.get(f"/api/v1/runs/{run_id}/artifacts/config/params.json")
        assert download.status_code == 200
        assert json.loads(download.content) == {"lr": 0.1, "layers": [1, 2]}

    def test_files_uploaded_through_v1_are_seen_by_mlflow(
        self, client: MlflowClient, v1: httpx.Client, tmp_path: Path
    ) -> None:
        mlflow.set_experiment(unique("V1 upload"))
        with mlflow.start_run() as run:
            pass
        response = v1.put(
            f"/api/v1/runs/{run.info.run_id}/artifacts/reports/summary.md", content=b"# done\n"
        )
        assert response.status_code == 201, response.text
        assert response.json() == {"path": "reports/summary.md", "is_dir": False, "size": 7}
        assert [f.path for f in client.list_artifacts(run.info.run_id, "reports")] == [
            "reports/summary.md"
        ]
        assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/reports/summary.md") == (
            "# done\n"
        )
