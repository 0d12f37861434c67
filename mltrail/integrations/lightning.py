"""A PyTorch Lightning logger: metrics at Lightning's steps, the hyper-parameters as params,
and checkpoints as artifacts.

```python
from lightning.pytorch import Trainer
from mltrail.integrations.lightning import MltrailLogger

logger = MltrailLogger(experiment="mnist", name="baseline")
Trainer(max_epochs=3, logger=logger).fit(model, data)
# logger.run.id: the run; its checkpoints are under `checkpoints/`
```

Metrics go through `ActiveRun.log`, so logging never waits for the network. Checkpoints
are uploaded by `ActiveRun.log_artifact`, which does wait: `log_checkpoints=True` (the
default) uploads the ones the `ModelCheckpoint` callback keeps (its best and its last) once,
when training ends; `"all"` uploads each one as it is saved; False none.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from mltrail.integrations._common import RunOwner, metric_values, param_texts
from mltrail.run import ActiveRun

__all__ = ["CHECKPOINT_DIR", "MltrailLogger"]

#: Where checkpoints go among the run's artifacts: `checkpoints/<file name>`.
CHECKPOINT_DIR = "checkpoints"


class MltrailLogger(Logger):
    """Logs a Lightning `Trainer` to a run: `run` if given (left open), else one started on
    first use with `start_run(experiment, name=name, **start_run_args)` and finished when
    the trainer finalizes its loggers (`failed` if training failed). Only rank 0 logs.

    The best checkpoint's artifact path is set as the tag `lightning.best_checkpoint`."""

    def __init__(
        self,
        experiment: str | None = None,
        *,
        name: str | None = None,
        run: ActiveRun | None = None,
        log_checkpoints: bool | Literal["all"] = True,
        prefix: str = "",
        **start_run_args: Any,
    ) -> None:
        super().__init__()
        self._owner = RunOwner(run, {"experiment": experiment, "name": name, **start_run_args})
        self._experiment_name = experiment or "default"
        self._log_checkpoints = log_checkpoints
        self._prefix = prefix
        self._checkpoint_callback: ModelCheckpoint | None = None
        self._uploaded: dict[str, float] = {}

    @property
    def run(self) -> ActiveRun:
        """The run logged to (started on first use; still finished after training)."""
        return self._owner.current()

    @property
    @rank_zero_experiment
    def experiment(self) -> ActiveRun:
        """The run to log to, as Lightning names a logger's object
        (`self.logger.experiment.log_image(...)` in a LightningModule); resumed if this
        logger finished it."""
        return self._owner.get()

    @property
    def name(self) -> str:
        """The experiment's name (Lightning puts checkpoints under `<name>/<version>/`)."""
        return self._experiment_name

    @property
    def version(self) -> str | None:
        """The run's id (None in the processes of other ranks than 0, which start no run)."""
        # Lightning sets the process's rank on its decorator; mypy sees only the function.
        if getattr(rank_zero_only, "rank", 0) != 0:
            return None
        return self._owner.current().id

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        """Store the hyper-parameters as params (nested ones flattened with `.`)."""
        values: Mapping[str, Any] = vars(params) if isinstance(params, Namespace) else params
        texts = param_texts(values)
        if texts:
            self._owner.get().log_params(texts)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Queue the metrics at `step` (Lightning's global step); never waits."""
        values = metric_values(metrics, self._prefix)
        if values:
            self._owner.get().log(values, step=step)

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """Upload the new checkpoint now (`log_checkpoints="all"`), or remember the callback
        to upload what it keeps when training ends."""
        if self._log_checkpoints == "all":
            self._upload_checkpoints(checkpoint_callback)
        elif self._log_checkpoints:
            self._checkpoint_callback = checkpoint_callback

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Upload the kept checkpoints, then finish the run if this logger started it."""
        if not self._owner.started:
            return
        if self._checkpoint_callback is not None:
            self._upload_checkpoints(self._checkpoint_callback)
        self._owner.finish("failed" if status == "failed" else "completed")

    @rank_zero_only
    def _upload_checkpoints(self, callback: ModelCheckpoint) -> None:
        run = self._owner.get()
        for path in _kept_checkpoints(callback):
            modified = path.stat().st_mtime
            if self._uploaded.get(str(path)) == modified:
                continue
            run.log_artifact(path, CHECKPOINT_DIR)
            self._uploaded[str(path)] = modified
        if callback.best_model_path and os.path.isfile(callback.best_model_path):
            best = Path(callback.best_model_path).name
            run.set_tags({"lightning.best_checkpoint": f"{CHECKPOINT_DIR}/{best}"})


def _kept_checkpoints(callback: ModelCheckpoint) -> list[Path]:
    """The files the callback keeps (its top k, its best and its last), oldest first."""
    names = {*callback.best_k_models, callback.best_model_path, callback.last_model_path}
    found = [Path(name) for name in names if name and os.path.isfile(name)]
    return sorted(found, key=lambda path: path.stat().st_mtime)
