"""A Hugging Face `transformers` `TrainerCallback`: the Trainer's logs as metrics at its global
step, the training arguments and the model's config as params, the final model as an
artifact.

```python
from transformers import Trainer
from mltrail.integrations.transformers import MltrailCallback

trainer = Trainer(model=model, args=args, train_dataset=data,
                  callbacks=[MltrailCallback(experiment="sst2", name="tiny-bert")])
trainer.train()
```

Metrics go through `ActiveRun.log` and never wait for the network. At the end of training
the model (and the tokenizer or processor the Trainer holds) is saved with
`save_pretrained` and uploaded under `model/` by `ActiveRun.log_artifacts`, which does
wait; `log_model=False` skips it. Set `report_to="none"` in the `TrainingArguments` to keep
the Trainer from adding other trackers it finds installed.
"""

from __future__ import annotations

import tempfile
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from mltrail.integrations._common import RunOwner, metric_values, param_texts
from mltrail.run import ActiveRun

__all__ = ["MODEL_DIR", "MltrailCallback"]

#: Where the final model goes among the run's artifacts.
MODEL_DIR = "model"


class MltrailCallback(TrainerCallback):
    """Logs a `Trainer` to a run: `run` if given (left open), else one started when training
    begins with `start_run(experiment, name=name, **start_run_args)` and finished when it
    ends. Only the main process logs. The model's config is stored as `model.<key>` params
    (`log_config=False` skips it)."""

    def __init__(
        self,
        experiment: str | None = None,
        *,
        name: str | None = None,
        run: ActiveRun | None = None,
        log_model: bool = True,
        log_config: bool = True,
        **start_run_args: Any,
    ) -> None:
        self._owner = RunOwner(run, {"experiment": experiment, "name": name, **start_run_args})
        self._log_model = log_model
        self._log_config = log_config
        self._training = False

    @property
    def run(self) -> ActiveRun:
        """The run logged to (started on first use)."""
        return self._owner.current()

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        """Store the training arguments (and the model's config) as params."""
        if not state.is_world_process_zero:
            return
        self._training = True
        # to_dict is not annotated; it gives enums as their values and hides tokens.
        params = param_texts(args.to_dict())  # type: ignore[no-untyped-call]
        config = getattr(model, "config", None)
        if self._log_config and config is not None and hasattr(config, "to_dict"):
            params.update(param_texts(config.to_dict(), "model."))
        self._owner.get().log_params(params)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Queue the numbers among the Trainer's logs at its global step."""
        if not state.is_world_process_zero or not logs:
            return
        values = metric_values(logs)
        if values:
            self._owner.get().log(values, step=state.global_step)

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """After `trainer.evaluate()` outside training, finish the run again (it was resumed
        to take the evaluation's metrics)."""
        if state.is_world_process_zero and not self._training:
            self._owner.finish()

    def on_train_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        processing_class: Any = None,
        **kwargs: Any,
    ) -> None:
        """Upload the final model under `model/`, then finish the run if this started it."""
        if not state.is_world_process_zero:
            return
        self._training = False
        run = self._owner.get()
        if self._log_model and model is not None and hasattr(model, "save_pretrained"):
            with tempfile.TemporaryDirectory(prefix="mltrail-model-") as directory:
                model.save_pretrained(directory)
                if hasattr(processing_class, "save_pretrained"):
                    processing_class.save_pretrained(directory)
                run.log_artifacts(directory, MODEL_DIR)
        self._owner.finish()
