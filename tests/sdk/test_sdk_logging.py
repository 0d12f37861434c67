"""The SDK against a live server: a training loop's points all arrive, runs end with the
right status, params and tags are stored, and `run.log` costs microseconds."""

import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import mltrail
from mltrail.config import Settings
from tests.sdk.live_server import LiveServer


class TestTrainingLoop:
    def test_100k_points_are_all_stored_exactly(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        steps = 50_000
        with mltrail.start_run(
            experiment="sdk-loop", params={"lr": 0.01, "layers": 4, "amp": True}
        ) as run:
            for step in range(steps):
                run.log({"loss": 1.0 / (step + 1), "acc": step / steps}, step=step)

        stored = client.runs.get(run.id)
        assert stored.status == "completed"
        assert stored.ended_at is not None
        assert stored.params == {"lr": "0.01", "layers": "4", "amp": "true"}
        assert stored.metrics["loss"].step == steps - 1
        assert stored.metrics["loss"].min == 1.0 / steps
        assert stored.metrics["loss"].max == 1.0
        for key, value in (("loss", lambda s: 1.0 / (s + 1)), ("acc", lambda s: s / steps)):
            history = client.metric_history(run.id, key)
            assert len(history) == steps
            assert [p.step for p in history.points] == list(range(steps))
            assert all(p.value == value(p.step) for p in history.points)


class TestRunEnd:
    def test_an_exception_in_the_block_marks_the_run_failed(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        with pytest.raises(RuntimeError), mltrail.start_run(experiment="sdk-end") as run:
            run.log({"loss": 1.0}, step=0)
            raise RuntimeError("diverged")
        stored = client.runs.get(run.id)
        assert stored.status == "failed"
        assert stored.metrics["loss"].value == 1.0

    def test_finish_without_a_block_marks_it_completed(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        run = mltrail.start_run(experiment="sdk-end", name="plain")
        run.log({"loss": 2.0})
        run.finish()
        stored = client.runs.get(run.id)
        assert (stored.status, stored.name) == ("completed", "plain")

    @pytest.mark.parametrize(
        ("ending", "status"), [("pass", "completed"), ("raise SystemError('boom')", "failed")]
    )
    def test_a_run_never_finished_is_finished_at_exit(
        self, server: LiveServer, tmp_path: Path, ending: str, status: str
    ) -> None:
        code = (
            "import mltrail;"
            f"mltrail.init(url={server.url!r}, spool_dir={str(tmp_path)!r});"
            "run = mltrail.start_run(experiment='sdk-exit');"
            "print(run.id, flush=True);"
            "[run.log({'x': float(i)}, step=i) for i in range(1000)];"
            f"{ending}"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        run_id = done.stdout.strip()
        with mltrail.Client(server.url) as client:
            assert client.runs.get(run_id).status == status
            assert len(client.metric_history(run_id, "x")) == 1000

    def test_logging_to_a_finished_run_raises(self, sdk: Settings) -> None:
        with mltrail.start_run(experiment="sdk-end") as run:
            pass
        with pytest.raises(mltrail.MltrailError, match="finished"):
            run.log({"loss": 1.0})


class TestResume:
    def test_resumed_run_is_running_again_and_keeps_its_points(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        with mltrail.start_run(experiment="sdk-resume", params={"lr": 0.1}) as first:
            for step in range(10):
                first.log({"loss": float(step)}, step=step)
        resumed = mltrail.start_run(run_id=first.id, params={"lr": 0.1})
        assert client.runs.get(first.id).status == "running"
        for step in range(10, 20):
            resumed.log({"loss": float(step)}, step=step)
        resumed.finish()
        history = client.metric_history(first.id, "loss")
        assert [p.step for p in history.points] == list(range(20))
        assert client.runs.get(first.id).status == "completed"

    def test_a_changed_param_on_resume_is_refused_at_once(self, sdk: Settings) -> None:
        with mltrail.start_run(experiment="sdk-resume", params={"lr": 0.1}) as run:
            pass
        with pytest.raises(mltrail.Conflict, match="lr"):
            mltrail.start_run(run_id=run.id, params={"lr": 0.2})


class TestExperimentByName:
    def test_the_experiment_is_created_once_and_found_after(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        with mltrail.start_run(experiment="SDK-Named") as one:
            pass
        with mltrail.start_run(experiment="sdk-named") as two:
            pass
        assert one.experiment_id == two.experiment_id
        experiment = client.experiments.get("sdk-named")
        assert experiment.owner == "sdk-tester"  # MLTRAIL_USER
        assert experiment.run_count == 2


class TestParamsAndTags:
    def test_logged_during_the_run(self, sdk: Settings, client: mltrail.Client) -> None:
        with mltrail.start_run(experiment="sdk-meta", tags={"team": "nlp"}) as run:
            run.log_params({"batch_size": 32, "optimizer": "adam"})
            run.set_tags({"stage": "eval", "team": "vision"})
            run.log({"loss": 0.1})
        stored = client.runs.get(run.id)
        assert stored.params == {"batch_size": "32", "optimizer": "adam"}
        own = {k: v for k, v in stored.tags.items() if not k.startswith(("mlflow.", "mltrail."))}
        assert own == {"team": "vision", "stage": "eval"}


class TestValues:
    def test_non_finite_values_round_trip(self, sdk: Settings, client: mltrail.Client) -> None:
        with mltrail.start_run(experiment="sdk-values") as run:
            for step, value in enumerate([math.nan, math.inf, -math.inf, 1e-300, -0.0]):
                run.log({"v": value}, step=step)
        values = [p.value for p in client.metric_history(run.id, "v").points]
        assert math.isnan(values[0])
        assert values[1:] == [math.inf, -math.inf, 1e-300, -0.0]

    @pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "bad?key", "x" * 251])
    def test_a_bad_key_raises_where_it_is_logged(self, sdk: Settings, key: str) -> None:
        with mltrail.start_run(experiment="sdk-values") as run:
            with pytest.raises(ValueError, match="key"):
                run.log({key: 1.0})
            run.log({"good/key-1.0: ok": 1.0})  # the run goes on

    def test_a_value_that_is_not_a_number_raises(self, sdk: Settings) -> None:
        with mltrail.start_run(experiment="sdk-values") as run, pytest.raises(ValueError):
            run.log({"loss": "low"})  # type: ignore[dict-item]


class TestQuiet:
    def test_the_senders_requests_stay_out_of_an_info_log(
        self, sdk: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        # httpx's own logger at INFO too: other test modules may have quietened it.
        with (
            caplog.at_level(logging.INFO),
            caplog.at_level(logging.INFO, logger="httpx"),
            mltrail.start_run(experiment="sdk-quiet") as run,
        ):
            for step in range(3000):
                run.log({"x": 1.0}, step=step)
        assert not [r for r in caplog.records if "/batch" in r.getMessage()]
        assert any("/experiments" in r.getMessage() for r in caplog.records)  # start_run's


class TestRefusedData:
    def test_points_of_a_deleted_run_are_kept_aside_not_dropped(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        run = mltrail.start_run(experiment="sdk-refused")
        client.runs.delete(run.id)
        for step in range(10):
            run.log({"loss": float(step)}, step=step)
        assert run.flush(timeout=10)
        run.finish()
        [kept] = (sdk.spool_dir / "rejected").glob(f"{run.id}.jsonl")
        records = [json.loads(line) for line in kept.read_text().splitlines()]
        assert sum(r["points"] for r in records) == 10
        assert all("404" in r["error"] for r in records)


class TestImports:
    def test_the_sdk_imports_no_server_and_no_cli_code(self) -> None:
        code = (
            "import sys, mltrail, mltrail.cli.output;"
            "import mltrail.cli;"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'mltrail_server', 'fastapi', 'sqlalchemy', 'uvicorn', 'pydantic'}))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr

    def test_the_sdk_imports_no_training_framework(self) -> None:
        # Each integration module imports its framework; the SDK and the package do not.
        code = (
            "import sys, mltrail, mltrail.run, mltrail.integrations;"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'torch', 'lightning', 'pytorch_lightning', 'transformers', 'keras', 'tensorflow'}))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr

    def test_the_sdk_works_without_the_cli_extra(self, server: LiveServer, tmp_path: Path) -> None:
        # typer and rich made unimportable: logging, finishing and progress still work.
        code = (
            "import sys; sys.modules.update(typer=None, rich=None);"
            "import mltrail;"
            f"mltrail.init(url={server.url!r}, spool_dir={str(tmp_path)!r});"
            "run = mltrail.start_run(experiment='sdk-no-cli');"
            "[run.log({'x': float(i)}, step=i) for i in range(20000)];"
            "run.finish(); print(run.id)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        with mltrail.Client(server.url) as client:
            assert len(client.metric_history(done.stdout.strip(), "x")) == 20_000


class TestHttpxLogLines:
    def test_a_run_hides_only_its_own_batch_requests_from_httpx_logs(
        self, sdk: Settings, server: LiveServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A training script logging at INFO sees its own httpx requests, not one line per
        batch the sender thread posts; httpx's logger keeps the level the script gave it."""
        caplog.set_level(logging.INFO, logger="httpx")
        with mltrail.start_run(experiment="sdk-httpx-logs") as run:
            for step in range(20):
                run.log({"loss": 1.0 / (step + 1)}, step=step)
        assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200
        lines = [record.getMessage() for record in caplog.records if record.name == "httpx"]
        assert any("/health" in line for line in lines), lines
        assert not any("/batch" in line for line in lines), lines
        assert logging.getLogger("httpx").level == logging.INFO
