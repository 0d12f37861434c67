"""The Lightning logger with a real `Trainer` on CPU against a live server: a tiny regression
model trained for two epochs sends its metrics at Lightning's steps, its hyper-parameters as
params and its checkpoints as artifacts that load back.

Lightning is imported by the `pl` fixture, not at collection: every xdist worker collects
every file, and importing it takes seconds."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import mltrail
from mltrail.config import Settings
from tests.services_available import require_module

BATCHES_PER_EPOCH = 4


@pytest.fixture(scope="module")
def pl() -> SimpleNamespace:
    """torch, Lightning's Trainer and ModelCheckpoint, the logger, and a tiny model."""
    torch: Any = require_module("torch", "the Lightning logger trains a model")
    require_module("lightning", "the Lightning logger is a Lightning Logger")
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint

    from mltrail.integrations.lightning import MltrailLogger

    mse = torch.nn.functional.mse_loss

    class Regression(LightningModule):
        def __init__(self, lr: float = 0.05, hidden: int = 4) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
            )

        def training_step(self, batch: Any, index: int) -> Any:
            loss = mse(self.net(batch[0]), batch[1])
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch: Any, index: int) -> None:
            self.log("val_loss", mse(self.net(batch[0]), batch[1]))

        def test_step(self, batch: Any, index: int) -> None:
            self.log("test_loss", mse(self.net(batch[0]), batch[1]))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    return SimpleNamespace(
        torch=torch,
        Trainer=Trainer,
        ModelCheckpoint=ModelCheckpoint,
        MltrailLogger=MltrailLogger,
        Regression=Regression,
    )


def loader(pl: SimpleNamespace) -> Any:
    torch = pl.torch
    x = torch.randn(8 * BATCHES_PER_EPOCH, 3, generator=torch.Generator().manual_seed(0))
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    return torch.utils.data.DataLoader(data, batch_size=8)


def trainer(pl: SimpleNamespace, tmp_path: Path, logger: Any, checkpoint: Any) -> Any:
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=logger,
        callbacks=[checkpoint],
        log_every_n_steps=1,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def steps(client: mltrail.Client, run_id: str, key: str) -> list[int]:
    return [point.step for point in client.metric_history(run_id, key).points]


class TestTraining:
    def test_metrics_hyperparameters_and_kept_checkpoints_arrive(
        self, pl: SimpleNamespace, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        logger = pl.MltrailLogger(experiment="lightning", name="tiny", run_context=False)
        checkpoint = pl.ModelCheckpoint(
            dirpath=tmp_path / "ckpt", monitor="val_loss", save_top_k=1, save_last=True
        )
        model = pl.Regression(lr=0.05, hidden=4)
        trainer(pl, tmp_path, logger, checkpoint).fit(model, loader(pl), loader(pl))

        run = client.runs.get(logger.run.id)
        assert (run.name, run.status) == ("tiny", "completed")
        assert (run.params["lr"], run.params["hidden"]) == ("0.05", "4")
        # One point per optimizer step, at Lightning's global step; validation once an epoch.
        assert steps(client, run.id, "train_loss") == list(range(2 * BATCHES_PER_EPOCH))
        assert len(steps(client, run.id, "val_loss")) == 2
        assert [p.value for p in client.metric_history(run.id, "epoch").points][-1] == 1

        listed = {f.path for f in client.list_artifacts(run.id, "checkpoints")}
        best = Path(checkpoint.best_model_path).name
        assert listed == {f"checkpoints/{best}", "checkpoints/last.ckpt"}
        assert run.tags["lightning.best_checkpoint"] == f"checkpoints/{best}"
        got = client.download_artifact(run.id, "checkpoints/last.ckpt", tmp_path / "last.ckpt")
        state = pl.torch.load(got, weights_only=True)["state_dict"]
        for key, value in model.state_dict().items():
            assert pl.torch.equal(state[key], value), key

    def test_a_given_run_gets_every_checkpoint_and_stays_open(
        self, pl: SimpleNamespace, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        with mltrail.start_run(experiment="lightning", run_context=False) as run:
            logger = pl.MltrailLogger(run=run, log_checkpoints="all")
            checkpoint = pl.ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1)
            trainer(pl, tmp_path, logger, checkpoint).fit(pl.Regression(), loader(pl))
            assert client.runs.get(run.id).status == "running"
            run.log({"after_fit": 1.0})

        names = sorted(f.path for f in client.list_artifacts(run.id, "checkpoints"))
        assert names == [
            f"checkpoints/epoch=0-step={BATCHES_PER_EPOCH}.ckpt",
            f"checkpoints/epoch=1-step={2 * BATCHES_PER_EPOCH}.ckpt",
        ]
        assert client.runs.get(run.id).status == "completed"
        assert steps(client, run.id, "after_fit") == [0]

    def test_testing_after_fit_logs_to_the_same_run(
        self, pl: SimpleNamespace, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        logger = pl.MltrailLogger(experiment="lightning", run_context=False, log_checkpoints=False)
        fitted = trainer(pl, tmp_path, logger, pl.ModelCheckpoint(dirpath=tmp_path / "ckpt"))
        model = pl.Regression()
        fitted.fit(model, loader(pl))
        fitted.test(model, loader(pl))

        run = client.runs.get(logger.run.id)
        assert run.status == "completed"
        assert len(steps(client, run.id, "test_loss")) == 1
        with pytest.raises(mltrail.NotFound, match="no artifact directory 'checkpoints'"):
            client.list_artifacts(run.id, "checkpoints")


class TestValues:
    @pytest.mark.parametrize("status, expected", [("success", "completed"), ("failed", "failed")])
    def test_the_trainers_status_becomes_the_runs(
        self,
        pl: SimpleNamespace,
        sdk: Settings,
        client: mltrail.Client,
        status: str,
        expected: str,
    ) -> None:
        logger = pl.MltrailLogger(experiment="lightning", run_context=False)
        logger.log_metrics({"loss": 1.0}, step=3)
        logger.finalize(status)
        assert client.runs.get(logger.run.id).status == expected

    def test_odd_hyperparameters_and_metrics_are_stored_not_raised(
        self, pl: SimpleNamespace, sdk: Settings, client: mltrail.Client
    ) -> None:
        """What frameworks hand a logger: nested and non-scalar values, keys the server's
        rule refuses, tensors and strings among the metrics. Training must not stop."""
        logger = pl.MltrailLogger(experiment="lightning", run_context=False)
        logger.log_hyperparams(
            {
                "optimizer": {"lr": 0.1, "betas": [0.9, 0.99]},
                "scheduler": None,
                "top[1]": True,
                "path": Path("/data"),
                "notes": "x" * 7000,
            }
        )
        logger.log_metrics(
            {"acc@1": pl.torch.tensor(0.5), "name": "resnet", "loss": 2, "epoch": 0.0}, step=1
        )
        logger.finalize("success")

        run = client.runs.get(logger.run.id)
        assert run.params["optimizer.lr"] == "0.1"
        assert run.params["optimizer.betas"] == "[0.9, 0.99]"
        assert run.params["scheduler"] == "null"
        assert run.params["top_1_"] == "true"
        assert run.params["path"] == "/data"
        assert run.params["notes"] == "x" * 6000  # the server's limit
        assert set(run.metrics) == {"acc_1", "loss", "epoch"}
        assert client.metric_history(run.id, "acc_1").points[0].value == 0.5

    def test_processes_of_other_ranks_start_no_run(
        self,
        pl: SimpleNamespace,
        sdk: Settings,
        client: mltrail.Client,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        from lightning.pytorch.utilities import rank_zero_only

        monkeypatch.setattr(rank_zero_only, "rank", 1)  # as in a second DDP process
        logger = pl.MltrailLogger(experiment="lightning-rank-1", run_context=False)
        assert logger.version is None
        logger.log_hyperparams({"lr": 0.1})
        logger.log_metrics({"loss": 1.0}, step=0)
        logger.experiment.log_image("x", None)  # Lightning's stand-in: does nothing
        logger.finalize("success")
        assert client.experiments.find("lightning-rank-1") is None
