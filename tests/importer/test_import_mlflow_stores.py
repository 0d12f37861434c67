"""`mltrail import mlflow` from the stores MLflow writes without a server: a database
(`sqlite:///...`) and an `mlruns` folder, each filled through the official client; and what
the import says when it cannot read or cannot match its source."""

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from tests.importer.conftest import ROOT, client_environment, run_import
from tests.importer.mlflow_store import START, fill
from tests.importer.test_import_mlflow_server import assert_same
from tests.sdk.live_server import LiveServer


class TestLocalStores:
    def test_a_sqlite_database(self, tmp_path: Path, ours: LiveServer) -> None:
        source = f"sqlite:///{tmp_path / 'mlflow.db'}"
        filled = fill(source, self._files(tmp_path), artifact_root=tmp_path / "artifacts")
        done = run_import("mlflow", "--from", source, "--to", ours.url)
        assert done.returncode == 0, done.stderr + done.stdout
        assert_same(source, ours.url, filled)

    def test_an_mlruns_folder(
        self, tmp_path: Path, ours: LiveServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3 writes one only so
        folder = tmp_path / "mlruns"
        filled = fill(str(folder), self._files(tmp_path))
        done = run_import("mlflow", "--from", str(folder), "--to", ours.url)
        assert done.returncode == 0, done.stderr + done.stdout
        assert_same(folder.as_uri(), ours.url, filled)

    @staticmethod
    def _files(tmp_path: Path) -> Path:
        files = tmp_path / "files"
        files.mkdir()
        return files


class TestTheDefaultExperiment:
    def test_its_runs_arrive_in_ours(self, tmp_path: Path, ours: LiveServer) -> None:
        """MLflow's default experiment is "0", which /api/v1 spells as the nil UUID: its
        runs were refused (422) and the import exited 1."""
        source = f"sqlite:///{tmp_path / 'mlflow.db'}"
        client = MlflowClient(tracking_uri=source)
        run = client.create_run("0", start_time=START, run_name="in-default")
        client.log_metric(run.info.run_id, "loss", 0.5, timestamp=START, step=0)
        done = run_import("mlflow", "--from", source, "--to", ours.url)
        assert done.returncode == 0, done.stderr + done.stdout
        got = MlflowClient(tracking_uri=ours.url).get_run(run.info.run_id)
        assert (got.info.experiment_id, got.info.run_name) == ("0", "in-default")
        assert got.data.metrics == {"loss": 0.5}


class TestVerification:
    def test_a_run_that_does_not_match_is_named_with_exit_code_1(
        self, tmp_path: Path, ours: LiveServer
    ) -> None:
        """MLflow keeps two values at one (step, timestamp); we keep one point there, so the
        checksums differ, and the import says so instead of claiming success."""
        source = f"sqlite:///{tmp_path / 'mlflow.db'}"
        client = MlflowClient(tracking_uri=source)
        experiment = client.create_experiment("clash", artifact_location=(tmp_path / "a").as_uri())
        good = client.create_run(experiment, start_time=START)
        client.log_metric(good.info.run_id, "loss", 1.0, timestamp=START, step=0)
        bad = client.create_run(experiment, start_time=START + 1)
        client.log_batch(
            bad.info.run_id,
            metrics=[Metric("loss", 1.0, START, 0), Metric("loss", 2.0, START, 0)],
        )
        done = run_import("mlflow", "--from", source, "--to", ours.url)
        assert done.returncode == 1, done.stdout
        assert bad.info.run_id in done.stderr
        assert good.info.run_id not in done.stderr
        assert "✗" in done.stdout  # the closing table marks the metric points


class TestWithoutTheMlflowClient:
    def test_the_error_names_the_extra_to_install(self, tmp_path: Path) -> None:
        script = (
            "import sys; sys.modules['mlflow'] = None; sys.argv = ['mltrail', 'import', "
            f"'mlflow', '--from', {str(tmp_path)!r}]; from mltrail._entry import main; main()"
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=client_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1
        assert "pip install 'mltrail[import]'" in done.stderr
