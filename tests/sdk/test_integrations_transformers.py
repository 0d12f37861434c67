"""The `transformers` callback with a real `Trainer` on CPU against a live server: a tiny BERT
built from a config (nothing downloaded) trained for two epochs sends the Trainer's logs at
its global steps, the training arguments and the model's config as params, and the final
model as an artifact that `from_pretrained` loads back.

transformers is imported by the `hf` fixture, not at collection (every xdist worker
collects every file)."""

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import mltrail
from mltrail.config import Settings
from tests.services_available import require_module

SAMPLES, BATCH, EPOCHS = 16, 4, 2
STEPS = SAMPLES // BATCH * EPOCHS


@pytest.fixture(scope="module")
def hf() -> Iterator[SimpleNamespace]:
    """torch, transformers' Trainer and a tiny BERT, the callback, and a dataset; the Hub
    is offline meanwhile (nothing may be downloaded)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        torch: Any = require_module("torch", "the Trainer trains a torch model")
        require_module("transformers", "the callback is a transformers TrainerCallback")
        require_module("accelerate", "transformers' Trainer needs it")
        from transformers import (
            BertConfig,
            BertForSequenceClassification,
            Trainer,
            TrainingArguments,
        )

        from mltrail.integrations.transformers import MltrailCallback

        class Sentences(torch.utils.data.Dataset):
            def __init__(self) -> None:
                generator = torch.Generator().manual_seed(1)
                self.ids = torch.randint(1, 32, (SAMPLES, 6), generator=generator)

            def __len__(self) -> int:
                return SAMPLES

            def __getitem__(self, index: int) -> dict[str, Any]:
                ids = self.ids[index]
                return {"input_ids": ids, "labels": int(ids[0] % 2)}

        def tiny_bert() -> Any:
            torch.manual_seed(0)
            config = BertConfig(
                vocab_size=32,
                hidden_size=8,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=16,
                max_position_embeddings=16,
                num_labels=2,
            )
            return BertForSequenceClassification(config)

        yield SimpleNamespace(
            torch=torch,
            Bert=BertForSequenceClassification,
            Trainer=Trainer,
            TrainingArguments=TrainingArguments,
            MltrailCallback=MltrailCallback,
            Sentences=Sentences,
            tiny_bert=tiny_bert,
        )


def trainer(hf: SimpleNamespace, tmp_path: Path, callback: Any, **arguments: Any) -> Any:
    args = hf.TrainingArguments(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH,
        num_train_epochs=EPOCHS,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        **arguments,
    )
    return hf.Trainer(
        model=hf.tiny_bert(),
        args=args,
        train_dataset=hf.Sentences(),
        eval_dataset=hf.Sentences(),
        callbacks=[callback],
    )


def steps(client: mltrail.Client, run_id: str, key: str) -> list[int]:
    return [point.step for point in client.metric_history(run_id, key).points]


class TestTraining:
    def test_logs_arguments_config_and_the_final_model_arrive(
        self, hf: SimpleNamespace, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        callback = hf.MltrailCallback(
            experiment="transformers", name="tiny-bert", run_context=False
        )
        trained = trainer(hf, tmp_path, callback, eval_strategy="epoch")
        trained.train()

        run = client.runs.get(callback.run.id)
        assert (run.name, run.status) == ("tiny-bert", "completed")
        assert run.params["learning_rate"] == "0.001"
        assert run.params["per_device_train_batch_size"] == str(BATCH)
        assert run.params["model.hidden_size"] == "8"
        assert run.params["model.num_hidden_layers"] == "1"
        # The Trainer logs the loss after each optimizer step (1-based), eval once an epoch.
        assert steps(client, run.id, "loss") == list(range(1, STEPS + 1))
        assert steps(client, run.id, "eval_loss") == [STEPS // EPOCHS, STEPS]
        assert steps(client, run.id, "train_runtime") == [STEPS]

        got = client.download_artifact(run.id, "model", tmp_path / "restored")
        assert json.loads((got / "config.json").read_text())["hidden_size"] == 8
        restored = hf.Bert.from_pretrained(got)
        for key, value in trained.model.state_dict().items():
            assert hf.torch.equal(restored.state_dict()[key], value), key

    def test_evaluate_after_training_logs_to_the_same_finished_run(
        self, hf: SimpleNamespace, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        callback = hf.MltrailCallback(experiment="transformers", run_context=False, log_model=False)
        trained = trainer(hf, tmp_path, callback)
        trained.train()
        trained.evaluate()

        run = client.runs.get(callback.run.id)
        assert run.status == "completed"
        assert steps(client, run.id, "eval_loss") == [STEPS]
        with pytest.raises(mltrail.NotFound):
            client.list_artifacts(run.id, "model")

    def test_a_given_run_stays_open(
        self, hf: SimpleNamespace, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        with mltrail.start_run(experiment="transformers", run_context=False) as run:
            trainer(hf, tmp_path, hf.MltrailCallback(run=run, log_config=False)).train()
            assert client.runs.get(run.id).status == "running"
            run.log({"after_train": 1.0})

        stored = client.runs.get(run.id)
        assert stored.status == "completed"
        assert len(steps(client, run.id, "loss")) == STEPS
        assert not any(key.startswith("model.") for key in stored.params)
        names = {f.path for f in client.list_artifacts(run.id, "model")}
        assert {"model/config.json", "model/model.safetensors"} <= names
