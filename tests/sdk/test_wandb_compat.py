"""`import mltrail.wandb as wandb`: a W&B training script, unchanged but for its import, logs to
the live server; W&B's step rules hold; what is not supported says so by name."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import pytest

import mltrail
import mltrail.wandb as wandb
from mltrail.config import Settings
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

# Written as W&B's quickstart shows; only the import differs.
TRAINING_SCRIPT = """
import mltrail.wandb as wandb

run = wandb.init(
    project="wandb-script",
    name="baseline",
    config={
        "learning_rate": 0.02,
        "architecture": "CNN",
        "optimizer": {"name": "adam", "beta1": 0.9},
    },
    tags=["baseline", "cnn"],
    notes="first try with the small CNN",
    group="exp-1",
    job_type="train",
)
wandb.define_metric("val/*", step_metric="epoch")
wandb.config.update({"epochs": 3})

for epoch in range(wandb.config.epochs):
    for batch in range(4):
        loss = 1.0 / (epoch * 4 + batch + 1)
        wandb.log({"loss": loss, "epoch": epoch})
    wandb.log({"val/acc": 0.5 + epoch / 10, "epoch": epoch})

wandb.summary["best_acc"] = 0.7
run.summary.update({"final_loss": loss})
print(run.id, run.url, flush=True)
wandb.finish()
"""


@pytest.fixture(autouse=True)
def _no_run_left() -> Iterator[None]:
    yield
    if wandb.run is not None:
        wandb.finish()


def _history(client: mltrail.Client, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(p.step, p.value) for p in client.metric_history(run_id, key).points]


class TestTrainingScript:
    def test_everything_a_wandb_script_logs_arrives(
        self, server: LiveServer, client: mltrail.Client, tmp_path: Path
    ) -> None:
        script = tmp_path / "train.py"
        script.write_text(TRAINING_SCRIPT)
        env = {**os.environ, "MLTRAIL_URL": server.url, "MLTRAIL_SPOOL_DIR": str(tmp_path)}
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 0, done.stderr
        run_id, url = done.stdout.split()

        stored = client.runs.get(run_id)
        assert (stored.name, stored.status) == ("baseline", "completed")
        assert stored.description == "first try with the small CNN"
        assert client.experiments.get(stored.experiment_id).name == "wandb-script"
        assert stored.params == {
            "learning_rate": "0.02",
            "architecture": "CNN",
            "optimizer.name": "adam",
            "optimizer.beta1": "0.9",
            "epochs": "3",
        }
        assert stored.tags["mltrail.tags"] == "baseline,cnn"
        assert stored.tags["mltrail.group"] == "exp-1"
        assert stored.tags["mltrail.job_type"] == "train"
        assert stored.tags["summary.best_acc"] == "0.7"
        assert stored.tags["summary.final_loss"] == str(1.0 / 12)
        # Each log call is a step; the val/acc calls are steps 4, 9 and 14.
        train_steps = [s for s in range(15) if s not in (4, 9, 14)]
        assert _history(client, run_id, "loss") == [
            (step, 1.0 / (n + 1)) for n, step in enumerate(train_steps)
        ]
        # define_metric: val/acc is charted against epoch.
        assert _history(client, run_id, "val/acc") == [(0, 0.5), (1, 0.6), (2, 0.7)]
        assert url == f"{server.url}/runs/{run_id}"
        assert httpx.get(url).status_code == 200

    def test_the_group_is_searchable(self, sdk: Settings, client: mltrail.Client) -> None:
        with wandb.init(project="wandb-group", group="sweep-7") as run:
            wandb.log({"loss": 1.0})
        experiment = client.experiments.get("wandb-group").id
        found = client.search("tags.`mltrail.group` = 'sweep-7'", experiment_ids=[experiment])
        assert [r.id for r in found] == [run.id]


class TestSteps:
    def test_commit_false_adds_to_the_current_step(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        run = wandb.init(project="wandb-steps")
        wandb.log({"a": 1.0}, commit=False)
        wandb.log({"b": 2.0})
        wandb.log({"a": 3.0})
        wandb.finish()
        assert _history(client, run.id, "a") == [(0, 1.0), (1, 3.0)]
        assert _history(client, run.id, "b") == [(0, 2.0)]

    def test_explicit_steps_wait_for_a_later_step_and_a_lower_one_is_dropped(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        run = wandb.init(project="wandb-steps")
        wandb.log({"x": 1.0}, step=5)
        wandb.log({"y": 1.5}, step=5)
        with pytest.warns(UserWarning, match=r"step 3 is lower than the current step 5"):
            wandb.log({"x": 2.0}, step=3)
        wandb.log({"x": 4.0}, step=6)
        wandb.log({"x": 5.0})
        wandb.finish()
        # the un-stepped call joined step 6 (its x replacing 4.0) and committed it
        assert _history(client, run.id, "x") == [(5, 1.0), (6, 5.0)]
        assert _history(client, run.id, "y") == [(5, 1.5)]

    def test_numpy_scalars_and_nested_dicts_are_logged(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        numpy: Any = require_module("numpy", "W&B scripts log numpy values")
        run = wandb.init(project="wandb-steps")
        wandb.log({"train": {"loss": numpy.float32(0.5), "n": numpy.int64(3)}})
        wandb.finish()
        assert _history(client, run.id, "train.loss") == [(0, 0.5)]
        assert _history(client, run.id, "train.n") == [(0, 3.0)]


class TestConfig:
    def test_attribute_and_item_access_and_update(self, sdk: Settings) -> None:
        wandb.init(project="wandb-config", config={"lr": 0.1, "opt": {"name": "sgd"}})
        wandb.config.batch = 32
        wandb.config["seed"] = 7
        wandb.config.update({"lr": 0.1})  # the same value again is fine
        assert (wandb.config.lr, wandb.config["opt"], wandb.config.batch) == (
            0.1,
            {"name": "sgd"},
            32,
        )
        assert "seed" in wandb.run.config  # type: ignore[union-attr]

    def test_changing_a_value_raises_naming_the_key(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        run = wandb.init(project="wandb-config", config={"lr": 0.1})
        with pytest.raises(ValueError, match=r"config key 'lr' is already '0.1'.*cannot change"):
            wandb.config.update({"lr": 0.2}, allow_val_change=True)
        wandb.finish()
        assert client.runs.get(run.id).params == {"lr": "0.1"}

    def test_resume_logs_into_the_same_run(self, sdk: Settings, client: mltrail.Client) -> None:
        first = wandb.init(project="wandb-resume", config={"lr": 0.1})
        wandb.log({"loss": 1.0})
        wandb.finish()
        again = wandb.init(id=first.id, resume="must", notes="resumed")
        assert again.id == first.id
        with pytest.raises(ValueError, match="config key 'lr'"):
            wandb.config.update({"lr": 0.5})
        wandb.log({"loss": 0.5})  # goes on after the last step
        wandb.finish()
        stored = client.runs.get(first.id)
        assert (stored.status, stored.description) == ("completed", "resumed")
        assert _history(client, first.id, "loss") == [(0, 1.0), (1, 0.5)]


class TestSummary:
    def test_define_metric_summary_replaces_the_last_value_here_and_on_the_server(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        run = wandb.init(project="wandb-summary")
        wandb.define_metric("loss", summary="min")
        wandb.define_metric("acc", summary="max,mean")
        wandb.define_metric("val/*", summary="best", goal="minimize")
        wandb.define_metric("lr", summary="none")
        wandb.define_metric("epoch", summary="first,last")
        losses = [0.9, 0.3, 0.6]
        accs = [0.5, 0.8, 0.7]
        val = [0.4, 0.2, 0.35]
        for epoch, (loss, acc, v) in enumerate(zip(losses, accs, val, strict=True)):
            wandb.log({"loss": loss, "acc": acc, "val/loss": v, "lr": 0.1 / (epoch + 1)})
            wandb.log({"epoch": epoch + 1, "steps": 10 * (epoch + 1)})
        summary = run.summary
        assert summary["loss"] == {"min": min(losses)}
        assert summary["acc"] == {"max": max(accs), "mean": pytest.approx(sum(accs) / 3)}
        assert summary["val/loss"] == {"best": min(val)}
        assert summary["epoch"] == {"first": 1, "last": 3}
        assert summary["steps"] == 30  # no summary defined: the last value
        assert "lr" not in summary
        with pytest.raises(KeyError):
            summary["lr"]
        assert set(summary) == {"loss", "acc", "val/loss", "epoch", "steps"}
        wandb.finish()

        tags = client.runs.get(run.id).tags
        stored = {key: value for key, value in tags.items() if key.startswith("summary.")}
        assert {key: float(value) for key, value in stored.items()} == {
            "summary.loss.min": min(losses),
            "summary.acc.max": max(accs),
            "summary.acc.mean": pytest.approx(sum(accs) / 3),
            "summary.val/loss.best": min(val),
            "summary.epoch.first": 1.0,
            "summary.epoch.last": 3.0,
        }
        # The history keeps every point, whatever the summary shows.
        assert [value for _, value in _history(client, run.id, "loss")] == losses
        assert len(_history(client, run.id, "lr")) == 3

    def test_calls_add_kinds_overwrite_replaces_and_a_set_value_shows_until_logged(
        self, sdk: Settings
    ) -> None:
        run = wandb.init(project="wandb-summary")
        wandb.log({"loss": 0.5})  # before any define_metric: the last value
        assert run.summary["loss"] == 0.5
        wandb.define_metric("loss", summary="min")
        wandb.define_metric("loss", summary="max")
        wandb.log({"loss": 0.25})
        wandb.log({"loss": 0.75})
        assert run.summary["loss"] == {"min": 0.25, "max": 0.75}
        wandb.define_metric("loss", summary="last", overwrite=True)
        assert run.summary["loss"] == {"last": 0.75}
        run.summary["loss"] = 0.1
        assert run.summary["loss"] == 0.1
        wandb.log({"loss": 0.6})
        assert run.summary["loss"] == {"last": 0.6}
        wandb.define_metric("loss", summary="none")
        assert "loss" not in run.summary
        wandb.define_metric("loss", summary="copy")
        assert run.summary["loss"] == 0.6

    def test_a_resumed_run_s_min_and_max_cover_its_earlier_points(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        first = wandb.init(project="wandb-summary")
        wandb.define_metric("loss", summary="min,max")
        for loss in (0.2, 0.9, 0.5):
            wandb.log({"loss": loss})
        wandb.finish()
        again = wandb.init(id=first.id, resume="must")
        wandb.define_metric("loss", summary="min,max")
        wandb.log({"loss": 0.4})
        assert again.summary["loss"] == {"min": 0.2, "max": 0.9}
        wandb.finish()
        tags = client.runs.get(first.id).tags
        assert (tags["summary.loss.min"], tags["summary.loss.max"]) == ("0.2", "0.9")

    def test_bad_summaries_say_what_is_allowed(self, sdk: Settings) -> None:
        wandb.init(project="wandb-summary")
        with pytest.raises(ValueError, match=r"summary 'best' needs goal='minimize' or 'maximize'"):
            wandb.define_metric("loss", summary="best")
        with pytest.raises(ValueError, match=r"goal 'lower' is not one of minimize, maximize"):
            wandb.define_metric("loss", summary="best", goal="lower")
        with pytest.raises(ValueError, match=r"summary 'none' cannot be joined with others"):
            wandb.define_metric("loss", summary="min,none")
        with pytest.raises(ValueError, match=r"summary 'p95' is not one of min, max"):
            wandb.define_metric("loss", summary="min,p95")


class TestModes:
    def test_disabled_logs_nothing_and_creates_nothing(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        run = wandb.init(project="wandb-disabled-only", mode="disabled", config={"lr": 1})
        wandb.log({"loss": 1.0})
        wandb.summary["acc"] = 1.0
        assert (run.url, wandb.config.lr, wandb.summary["loss"]) == (None, 1, 1.0)
        wandb.finish()
        assert client.experiments.find("wandb-disabled-only") is None

    def test_a_second_init_returns_the_running_run_unless_reinit(self, sdk: Settings) -> None:
        first = wandb.init(project="wandb-modes")
        assert wandb.init(project="wandb-modes") is first
        second = wandb.init(project="wandb-modes", reinit="finish_previous")
        assert second.id != first.id
        assert wandb.run is second

    def test_the_context_manager_marks_a_crash_failed(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        with pytest.raises(RuntimeError), wandb.init(project="wandb-modes") as run:
            wandb.log({"loss": 1.0})
            raise RuntimeError("diverged")
        assert client.runs.get(run.id).status == "failed"
        assert wandb.run is None


class TestMedia:
    def test_table_and_histogram_are_stored_as_the_sdk_stores_them(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        require_module("pyarrow", "wandb.Table is stored as Parquet")
        import pyarrow.parquet as pq

        run = wandb.init(project="wandb-media")
        table = wandb.Table(columns=["id", "pred"], data=[[1, "cat"]])
        table.add_data(2, "dog")
        wandb.log({"preds": table, "weights": wandb.Histogram([0, 1, 1, 2, 3], num_bins=3)})
        wandb.log({"weights": wandb.Histogram(np_histogram=([1, 2], [0.0, 0.5, 1.0]))})
        wandb.finish()
        got = client.download_artifact(run.id, "media", tmp_path / "got")
        assert pq.read_table(got / "tables/preds/step-0.parquet").to_pylist() == [
            {"id": 1, "pred": "cat"},
            {"id": 2, "pred": "dog"},
        ]
        assert json.loads((got / "histograms/weights/step-0.json").read_text()) == {
            "key": "weights",
            "step": 0,
            "edges": [0.0, 1.0, 2.0, 3.0],
            "counts": [1, 2, 2],
        }
        assert json.loads((got / "histograms/weights/step-1.json").read_text()) == {
            "key": "weights",
            "step": 1,
            "edges": [0.0, 0.5, 1.0],
            "counts": [1, 2],
        }
        index = json.loads((got / "index.json").read_text())["items"]
        assert [(i["kind"], i["key"], i["step"]) for i in index] == [
            ("histogram", "weights", 0),
            ("histogram", "weights", 1),
            ("table", "preds", 0),
        ]

    def test_an_image_array_is_stored_as_png_with_its_caption(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        numpy: Any = require_module("numpy", "W&B scripts log numpy values")
        require_module("PIL", "wandb.Image of an array writes a PNG with pillow")
        from PIL import Image as pil

        run = wandb.init(project="wandb-media")
        pixels = numpy.zeros((4, 6, 3), dtype=numpy.uint8)
        pixels[0, 0] = [255, 0, 0]
        wandb.log({"sample": wandb.Image(pixels, caption="a red corner")}, step=2)
        wandb.finish()
        got = client.download_artifact(run.id, "media", tmp_path / "got")
        with pil.open(got / "images/sample/step-2.png") as image:
            assert image.size == (6, 4)
            assert image.getpixel((0, 0)) == (255, 0, 0)
        assert json.loads((got / "index.json").read_text())["items"] == [
            {
                "key": "sample",
                "kind": "image",
                "step": 2,
                "path": "media/images/sample/step-2.png",
                "caption": "a red corner",
            }
        ]

    def test_an_image_file_keeps_its_bytes(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        (tmp_path / "plot.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
        run = wandb.init(project="wandb-media")
        wandb.log({"plot": wandb.Image(str(tmp_path / "plot.jpg"))})
        wandb.finish()
        where = "media/images/plot/step-0.jpg"
        got = client.download_artifact(run.id, where, tmp_path / "back.jpg")
        assert got.read_bytes() == b"\xff\xd8 not really a jpeg"
        assert [f.path for f in client.list_artifacts(run.id, "media/images/plot")] == [where]

    def test_save_uploads_the_file(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        (tmp_path / "model.ckpt").write_bytes(b"weights")
        run = wandb.init(project="wandb-media")
        assert wandb.save(str(tmp_path / "*.ckpt")) == ["model.ckpt"]
        wandb.finish()
        restored = client.download_artifact(run.id, "model.ckpt", tmp_path / "back.ckpt")
        assert restored.read_bytes() == b"weights"


class TestRunAttributes:
    def test_name_notes_and_tags_set_on_the_run_are_stored(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        run = wandb.init(project="wandb-attrs", name="first", tags=["a"])
        run.name = "renamed"
        run.notes = "later notes"
        run.tags += ("best",)
        wandb.finish()
        stored = client.runs.get(run.id)
        assert (stored.name, stored.description) == ("renamed", "later notes")
        assert stored.tags["mltrail.tags"] == "a,best"

    def test_files_written_to_run_dir_are_uploaded_at_finish(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        run = wandb.init(project="wandb-attrs")
        (Path(run.dir) / "model.pt").write_bytes(b"w")
        wandb.finish()
        paths = [f.path for f in client.list_artifacts(run.id)]
        # beside the run's recorded context (`context/requirements.txt`)
        assert [p for p in paths if not p.startswith("context")] == ["model.pt"]


class TestErrors:
    @pytest.mark.parametrize("call", ["watch", "Artifact", "sweep", "agent", "alert"])
    def test_unsupported_calls_raise_naming_them(self, call: str) -> None:
        with pytest.raises(wandb.NotSupported, match=rf"wandb\.{call} is not supported"):
            getattr(wandb, call)("anything")

    def test_an_unknown_name_is_an_attribute_error_naming_it(self) -> None:
        with pytest.raises(AttributeError, match="mltrail.wandb has no 'frobnicate'"):
            wandb.frobnicate  # noqa: B018

    def test_unsupported_init_arguments_and_run_methods_are_named(self, sdk: Settings) -> None:
        with pytest.raises(wandb.NotSupported, match=r"sync_tensorboard"):
            wandb.init(project="wandb-errors", sync_tensorboard=True)
        with pytest.raises(wandb.NotSupported, match=r"resume='auto'"):
            wandb.init(project="wandb-errors", resume="auto")
        with pytest.raises(wandb.NotSupported, match=r"id='abc' without resume"):
            wandb.init(project="wandb-errors", id="abc")
        for missing in (str(uuid.uuid4()), "not-a-run-id"):
            with pytest.raises(wandb.NotSupported, match=r"resume='allow': there is no run"):
                wandb.init(id=missing, resume="allow")
        run = wandb.init(project="wandb-errors")
        with pytest.raises(wandb.NotSupported, match=r"run\.log_artifact is not supported"):
            run.log_artifact("x")

    def test_bad_arguments_say_what_is_allowed(self, sdk: Settings) -> None:
        with pytest.raises(mltrail.MltrailError, match=r"wandb\.log\(\) needs a run"):
            wandb.log({"loss": 1.0})
        with pytest.raises(ValueError, match=r"mode must be one of online, offline, disabled"):
            wandb.init(mode="cloud")
        with pytest.raises(TypeError, match=r"tags must be a list of strings"):
            wandb.init(project="wandb-errors", tags="baseline")
        wandb.init(project="wandb-errors")
        with pytest.raises(TypeError, match=r"wandb\.log takes a dict .* got list"):
            wandb.log([1.0, 2.0])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"'note' is str; log a number"):
            wandb.log({"note": "hello"})
        with pytest.raises(ValueError, match=r"step must be an int >= 0"):
            wandb.log({"loss": 1.0}, step=-1)
        with pytest.raises(ValueError, match=r"define_metric: summary 'median'"):
            wandb.define_metric("loss", summary="median")
        wandb.define_metric("val/*", step_metric="epoch")
        with pytest.raises(ValueError, match=r"'epoch' is a step metric .* got 0.5"):
            wandb.log({"val/acc": 0.9, "epoch": 0.5})
        with pytest.raises(ValueError, match=r"Table: row 0 has 1 values but the table has 2"):
            wandb.Table(columns=["a", "b"], data=[[1]])


class TestLogin:
    def test_a_key_becomes_the_sdk_api_key(self, sdk: Settings) -> None:
        try:
            assert wandb.login(key="k-123") is True
            settings = mltrail.config.current_settings()
            assert (settings.api_key, settings.url, settings.spool_dir) == (
                "k-123",
                sdk.url,
                sdk.spool_dir,
            )
        finally:
            mltrail.init(**asdict(sdk))  # later tests must not send this key
