"""The Keras 3 callback with a real `model.fit` on the torch backend against a live server: a
tiny regression model trained for two epochs sends its epoch (and batch) logs at their
steps, the fit's settings and the optimizer's config as params, and the model as a
`.keras` file that loads back and predicts the same.

keras is imported by the `kt` fixture, not at collection (every xdist worker collects every
file)."""

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import mltrail
from mltrail.config import Settings
from tests.services_available import require_module

# Keras's own torch backend converts its variables so under numpy 2 (not the callback's doing).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

SAMPLES, BATCH, EPOCHS = 32, 8, 2
BATCHES = SAMPLES // BATCH * EPOCHS


@pytest.fixture(scope="module")
def kt() -> Iterator[SimpleNamespace]:
    """keras on its torch backend (KERAS_BACKEND is read when keras is first imported), numpy,
    and the callback."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KERAS_BACKEND", "torch")
        require_module("torch", "Keras runs on its torch backend here")
        numpy: Any = require_module("numpy", "the training data")
        keras: Any = require_module("keras", "the callback is a Keras callback")
        from mltrail.integrations import keras as integration
    yield SimpleNamespace(keras=keras, numpy=numpy, integration=integration)


def regression(kt: SimpleNamespace) -> Any:
    keras = kt.keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="mse", metrics=["mae"])
    return model


def data(kt: SimpleNamespace) -> tuple[Any, Any]:
    x = kt.numpy.random.default_rng(0).normal(size=(SAMPLES, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def steps(client: mltrail.Client, run_id: str, key: str) -> list[int]:
    return [point.step for point in client.metric_history(run_id, key).points]


def test_it_runs_on_the_torch_backend(kt: SimpleNamespace) -> None:
    assert kt.keras.backend.backend() == "torch"


class TestFit:
    def test_epoch_and_batch_logs_params_and_the_model_arrive(
        self, kt: SimpleNamespace, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        model = regression(kt)
        x, y = data(kt)
        callback = kt.integration.MltrailCallback(
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

        got = client.download_artifact(run.id, kt.integration.MODEL_PATH, tmp_path / "model.keras")
        restored = kt.keras.saving.load_model(got)
        assert kt.numpy.array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))

    def test_a_given_run_stays_open_and_gets_no_model_when_told(
        self, kt: SimpleNamespace, sdk: Settings, client: mltrail.Client
    ) -> None:
        x, y = data(kt)
        with mltrail.start_run(experiment="keras", run_context=False) as run:
            callback = kt.integration.MltrailCallback(run=run, log_model=False)
            regression(kt).fit(
                x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0, callbacks=[callback]
            )
            assert client.runs.get(run.id).status == "running"

        assert client.runs.get(run.id).status == "completed"
        assert steps(client, run.id, "loss") == list(range(EPOCHS))
        with pytest.raises(mltrail.NotFound):
            client.list_artifacts(run.id, "model")

    def test_a_step_interval_below_one_is_refused(self, kt: SimpleNamespace) -> None:
        with pytest.raises(ValueError, match="log_every_n_steps must be 1 or more, got 0"):
            kt.integration.MltrailCallback(log_every_n_steps=0)
