"""`mltrail import tensorboard LOGDIR`: event files written by a real writer (tensorboardX)
arrive as runs whose histories equal what TensorBoard's own reader (event_accumulator) reads."""

import json
import math
from pathlib import Path
from typing import Any

import httpx

from tests.importer.conftest import run_import
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

tensorboardX: Any = require_module("tensorboardX", "the import tests write real event files")
require_module("tbparse", "mltrail import tensorboard reads event files with it")
require_module("tensorboard", "the import tests read the files back with TensorBoard's reader")
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402

from mltrail.imports.tensorboard import run_id_of  # noqa: E402


def write_logs(logdir: Path) -> None:
    first = tensorboardX.SummaryWriter(str(logdir / "run-a"))
    for step in range(300):
        value = [math.nan, math.inf][step % 2] if step in (10, 11) else 1.0 / (step + 1)
        first.add_scalar("train/loss", value, step)
        first.add_scalar("acc", step / 300, step)
    first.add_hparams({"lr": 0.01, "optimizer": "adam", "layers": 3}, {"hparam/acc": 0.9})
    first.close()
    second = tensorboardX.SummaryWriter(str(logdir / "group" / "run-b"))
    for step in range(0, 50, 5):
        second.add_scalar("train/loss", step * 0.5, step)
    second.close()


def read_back(folder: Path) -> dict[str, list[tuple[int, int, str]]]:
    """What TensorBoard itself reads from a folder and the sub-folders add_hparams made."""
    series: dict[str, list[tuple[int, int, str]]] = {}
    for directory in [folder, *(p for p in folder.iterdir() if p.is_dir())]:
        accumulator = event_accumulator.EventAccumulator(str(directory))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            series.setdefault(tag, []).extend(
                (e.step, int(round(e.wall_time * 1000)), repr(float(e.value)))
                for e in accumulator.Scalars(tag)
            )
    return {tag: sorted(points) for tag, points in series.items()}


def stored(server: LiveServer, run_id: str) -> tuple[dict[str, str], dict[str, list]]:
    run = httpx.get(f"{server.url}/api/v1/runs/{run_id}").json()
    histories = {}
    for key in run["metrics"]:
        page = httpx.get(
            f"{server.url}/api/v1/runs/{run_id}/metrics/history",
            params={"key": key, "limit": 25000},
        ).json()
        histories[key] = sorted(
            (p["step"], p["timestamp"], repr(float(str(p["value"]).replace("Infinity", "inf"))))
            for p in page["points"]
        )
    return run["params"], histories


class TestTensorboard:
    def test_runs_scalars_and_hparams(self, tmp_path: Path, ours: LiveServer) -> None:
        logdir = tmp_path / "logs"
        write_logs(logdir)
        for _ in range(2):  # the second pass stores nothing twice
            done = run_import("tensorboard", str(logdir), "--to", ours.url, "--json")
            assert done.returncode == 0, done.stderr + done.stdout
        report = json.loads(done.stdout)
        assert sorted(run["name"] for run in report["runs"]) == ["group/run-b", "run-a"]
        params, histories = stored(ours, run_id_of("logs", "run-a"))
        assert params == {"lr": "0.01", "optimizer": "adam", "layers": "3"}
        assert histories == read_back(logdir / "run-a")
        assert len(histories["train/loss"]) == 300
        _, histories = stored(ours, run_id_of("logs", "group/run-b"))
        assert histories == read_back(logdir / "group" / "run-b")
        listed = httpx.get(
            f"{ours.url}/api/2.0/mlflow/experiments/get-by-name",
            params={"experiment_name": "logs"},
        )
        assert listed.status_code == 200

    def test_a_folder_without_event_files_is_refused(
        self, tmp_path: Path, ours: LiveServer
    ) -> None:
        done = run_import("tensorboard", str(tmp_path), "--to", ours.url)
        assert done.returncode == 1
        assert "no TensorBoard scalars or hparams" in done.stderr
