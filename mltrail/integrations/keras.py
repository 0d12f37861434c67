"""A Keras 3 callback: each epoch's logs (training and validation) as metrics at the epoch,
optionally every N batches' logs too, the fit's settings and the optimizer's config as
params, and the trained model as an artifact. Any backend; tested on torch
(`KERAS_BACKEND=torch`, set before `keras` is imported).

```python
from mltrail.integrations.keras import MltrailCallback

model.fit(x, y, epochs=10, validation_split=0.1,
          callbacks=[MltrailCallback(experiment="mnist", name="mlp")])
```

Metrics go through `ActiveRun.log` and never wait for the network. At the end of `fit` the
model is saved as `model/model.keras` (`keras.saving.load_model` reads it) by
`ActiveRun.log_artifact`, which does wait; `log_model=False` skips it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import keras

from mltrail.integrations._common import RunOwner, metric_values, param_texts
from mltrail.run import ActiveRun

__all__ = ["MODEL_PATH", "MltrailCallback"]

#: Where the trained model goes among the run's artifacts.
MODEL_PATH = "model/model.keras"


class MltrailCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Logs `model.fit` to a run: `run` if given (left open), else one started when
    training begins with `start_run(experiment, name=name, **start_run_args)` and finished
    when it ends. Epoch logs keep Keras's names (`loss`, `val_loss`, ...) at step = epoch
    (0-based); with `log_every_n_steps=N` every Nth batch's logs are added as `batch/<name>`
    at step = the batch's number counted over the whole fit."""

    def __init__(
        self,
        experiment: str | None = None,
        *,
        name: str | None = None,
        run: ActiveRun | None = None,
        log_every_n_steps: int | None = None,
        log_model: bool = True,
        **start_run_args: Any,
    ) -> None:
        super().__init__()
        if log_every_n_steps is not None and log_every_n_steps < 1:
            raise ValueError(f"log_every_n_steps must be 1 or more, got {log_every_n_steps}")
        self._owner = RunOwner(run, {"experiment": experiment, "name": name, **start_run_args})
        self._every = log_every_n_steps
        self._log_model = log_model
        self._batches = 0

    @property
    def run(self) -> ActiveRun:
        """The run logged to (started on first use)."""
        return self._owner.current()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Store the fit's settings (`epochs`, `steps`), the optimizer's config
        (`optimizer.<key>`) and the model's parameter count as params."""
        self._batches = 0
        params = param_texts({k: v for k, v in (self.params or {}).items() if k != "verbose"})
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            params.update(param_texts(optimizer.get_config(), "optimizer."))
        params["model.parameters"] = str(self.model.count_params())
        self._owner.get().log_params(params)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Every Nth batch (when asked), queue its logs as `batch/<name>`."""
        step = self._batches
        self._batches += 1
        if self._every is None or step % self._every or not logs:
            return
        values = metric_values(logs, "batch/")
        if values:
            self._owner.get().log(values, step=step)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Queue the epoch's logs at step = epoch."""
        values = metric_values(logs or {})
        if values:
            self._owner.get().log(values, step=epoch)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Upload the model as `model/model.keras`, then finish the run if this started it."""
        run = self._owner.get()
        if self._log_model:
            with tempfile.TemporaryDirectory(prefix="mltrail-model-") as directory:
                path = Path(directory) / Path(MODEL_PATH).name
                self.model.save(path)
                run.log_artifact(path, str(Path(MODEL_PATH).parent))
        self._owner.finish()
