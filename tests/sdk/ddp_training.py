"""A Lightning training script run by test_integrations_ddp.py as a user runs one:
`python ddp_training.py EXPERIMENT ROOT`, two CPU processes under DDP (gloo). Lightning starts
the second process by running this script again with LOCAL_RANK=1; both build the logger,
and only rank 0 may start a run. The server and the spool come from MLTRAIL_URL and
MLTRAIL_SPOOL_DIR."""

import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

from mltrail.integrations.lightning import MltrailLogger

BATCHES = 8  # of 4 samples: each of the two processes trains on 4 a epoch


class Regression(LightningModule):
    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(3, 1)

    def training_step(self, batch: Any, index: int) -> Any:
        loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
        self.log("train_loss", loss, sync_dist=True)
        self.log("rank", float(self.global_rank))
        return loss

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def main() -> None:
    experiment, root = sys.argv[1], Path(sys.argv[2])
    x = torch.randn(4 * BATCHES, 3, generator=torch.Generator().manual_seed(0))
    data = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=2,
        logger=MltrailLogger(experiment=experiment, name="ddp", run_context=False),
        callbacks=[ModelCheckpoint(dirpath=root / "ckpt", save_last=True)],
        log_every_n_steps=1,
        default_root_dir=root,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Regression(), torch.utils.data.DataLoader(data, batch_size=4))


if __name__ == "__main__":
    main()
