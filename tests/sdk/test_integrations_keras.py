"""The Keras 3 callback with a real `model.fit` on the torch backend against a live server: a
tiny regression model trained for two epochs sends its epoch (and batch) logs at their
steps, the fit's settings and the optimizer's config as params, and the model as a
`.keras` file that loads back and predicts the same."""

import os
from pathlib import Path
from typing import Any

import pytest

import mltrail
from mltrail.config import Settings
from tests.services_available import require_module

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported
require_module("torch", "Keras runs on its torch backend here")
numpy: Any = require_module("numpy", "the training data")
keras: Any = require_module("keras", "the callback is a Keras callback")

from mltrail.integrations.keras import MODEL_PATH, MltrailCallback  # noqa: E402

# Keras's own torch backend converts its variables so under numpy 2 (not the callback's doing).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

SAMPLES, BATCH, EPOCHS = 32, 8, 2
BATCHES = SAMPLES // BATCH * EPOCHS


def regression() -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="mse", metrics=["mae"])
    return model


def data() -> tuple[Any, Any]:
    x = numpy.random.default_rng(0).normal(size=(SAMPLES, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def steps(client: mltrail.Client, run_id: str, key: str) -> list[int]:
    return [point.step for point in client.metric_history(run_id, key).points]


def test_it_runs_on_the_torch_backend() -> None:
    assert keras.backend.backend() == "torch"


class TestFit:
    def test_epoch_and_batch_logs_params_and_the_model_arrive(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        model = regression()
        x, y = data()
        callback = MltrailCallback(
            experiment="keras", name="tiny", log_every_n_steps=3, run_context=False
        )
        history = model.fit(
            x,
            y,
            epochs=EPOCHS,
            batch_size=BATCH,
            validation_data=(x, y),
            verbose=0,
            callbacks=[callback],
        )

        run = client.runs.get(callback.run.id)
        assert (run.name, run.status) == ("tiny", "completed")
        assert (run.params["epochs"], run.params["steps"]) == (str(EPOCHS), str(SAMPLES // BATCH))
        assert run.params["optimizer.name"] == "sgd"
        assert float(run.params["optimizer.learning_rate"]) == pytest.approx(0.5)
        assert run.params["model.parameters"] == str(model.count_params())
        for key in ("loss", "mae", "val_loss", "val_mae"):
            got = client.metric_history(run.id, key).points
            assert [p.step for p in got] == list(range(EPOCHS)), key
            assert [p.value for p in got] == pytest.approx(history.history[key], rel=1e-6)
        assert steps(client, run.id, "batch/loss") == list(range(0, BATCHES, 3))

        got = client.download_artifact(run.id, MODEL_PATH, tmp_path / "model.keras")
        restored = keras.saving.load_model(got)
        assert numpy.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))

    def test_a_given_run_stays_open_and_gets_no_model_when_told(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        x, y = data()
        with mltrail.start_run(experiment="keras", run_context=False) as run:
            callback = MltrailCallback(run=run, log_model=False)
            regression().fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=[callback])
            assert client.runs.get(run.id).status == "running"

        assert client.runs.get(run.id).status == "completed"
        assert steps(client, run.id, "loss") == list(range(EPOCHS))
        with pytest.raises(mltrail.NotFound):
            client.list_artifacts(run.id, "model")

    def test_a_step_interval_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="log_every_n_steps must be 1 or more, got 0"):
            MltrailCallback(log_every_n_steps=0)
