"""`mltrail import mlflow --from http://...`: a real `mlflow server` filled through the
official client is copied into ours; then the mlflow client reads the same from both."""

import json

import httpx

from tests.importer.conftest import run_import
from tests.importer.mlflow_store import Filled, snapshot
from tests.sdk.live_server import LiveServer


def assert_same(source: str, ours: str, filled: Filled) -> None:
    expected = snapshot(source, filled.experiments)
    got = snapshot(ours, filled.experiments)
    assert set(got["runs"]) == set(expected["runs"]) == set(filled.runs)
    assert got["experiments"] == expected["experiments"]
    for run_id, run in expected["runs"].items():
        assert got["runs"][run_id] == run, f"run {run_id} ({run['info'][0]}) differs"


class TestImportFromAnMlflowServer:
    def test_everything_arrives_equal_and_a_second_pass_copies_nothing(
        self, mlflow_source: tuple[str, Filled], ours: LiveServer
    ) -> None:
        source, filled = mlflow_source
        done = run_import("mlflow", "--from", source, "--to", ours.url)
        assert done.returncode == 0, done.stderr + done.stdout
        assert "metric points" in done.stdout
        assert_same(source, ours.url, filled)
        long_run = httpx.get(f"{ours.url}/api/v1/runs/{filled.long_run}").json()
        assert long_run["status"] == "failed"

        again = run_import("mlflow", "--from", source, "--to", ours.url, "--json")
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert sum(run["points_sent"] for run in report["runs"]) == 0
        assert sum(run["files_sent"] for run in report["runs"]) == 0
        assert report["mismatched"] == []
        assert report["counts"]["runs"] == {"source": len(filled.runs), "target": len(filled.runs)}
        assert_same(source, ours.url, filled)

    def test_an_import_killed_half_way_and_run_again_ends_equal(
        self, mlflow_source: tuple[str, Filled], ours: LiveServer
    ) -> None:
        source, filled = mlflow_source
        half = len(filled.runs) // 2
        killed = run_import(
            "mlflow",
            "--from",
            source,
            "--to",
            ours.url,
            "--workers",
            "1",
            env={"MLTRAIL_IMPORT_STOP_AFTER_RUNS": str(half)},
        )
        assert killed.returncode == -9, killed.stderr
        resumed = run_import("mlflow", "--from", source, "--to", ours.url, "--json")
        assert resumed.returncode == 0, resumed.stderr
        report = json.loads(resumed.stdout)
        copied_again = [run for run in report["runs"] if run["points_sent"] or run["files_sent"]]
        assert 0 < len(copied_again) < len(filled.runs)
        assert_same(source, ours.url, filled)

    def test_dry_run_writes_nothing(
        self, mlflow_source: tuple[str, Filled], ours: LiveServer
    ) -> None:
        source, filled = mlflow_source
        done = run_import(
            "mlflow",
            "--from",
            source,
            "--to",
            ours.url,
            "--dry-run",
            "--json",
            "--experiments",
            "second-exp",
        )
        assert done.returncode == 0, done.stderr
        planned = json.loads(done.stdout)["source"]
        assert (planned["experiments"], planned["runs"]) == (1, 5)
        listed = httpx.get(f"{ours.url}/api/v1/experiments").json()
        assert listed["total"] == 0

    def test_only_the_experiments_named_and_runs_since_a_date(
        self, mlflow_source: tuple[str, Filled], ours: LiveServer
    ) -> None:
        source, _ = mlflow_source
        done = run_import(
            "mlflow",
            "--from",
            source,
            "--to",
            ours.url,
            "--json",
            "--experiments",
            "second-exp",
            "--since",
            "2020-09-13T12:26:43",
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        names = sorted(run["name"] for run in report["runs"])
        assert names == ["small-0", "small-1", "small-2", "small-3"]


class TestSourceErrors:
    def test_an_unreachable_server_is_named(self, ours: LiveServer) -> None:
        from tests.sdk.live_server import free_port

        url = f"http://127.0.0.1:{free_port()}"
        done = run_import("mlflow", "--from", url, "--to", ours.url)
        assert done.returncode == 1
        assert f"cannot reach the MLflow server at {url}" in done.stderr

    def test_a_missing_folder_is_named(self, ours: LiveServer, tmp_path) -> None:
        done = run_import("mlflow", "--from", str(tmp_path / "nope"), "--to", ours.url)
        assert done.returncode == 1
        assert "no such folder" in done.stderr
