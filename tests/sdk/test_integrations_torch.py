"""`watch` on a plain PyTorch training loop against a live server: the gradient and weight norms
of every trainable parameter, and their totals, arrive every N backward passes at the
loop's steps, equal to the norms computed by hand in the loop."""

import math
from pathlib import Path
from typing import Any

import pytest

import mltrail
from mltrail.config import Settings
from tests.services_available import require_module

STEPS, EVERY = 6, 2
torch: Any = None  # imported by the fixture, not at collection (xdist workers collect all)
watch: Any = None


@pytest.fixture(scope="module", autouse=True)
def _torch() -> None:
    global torch, watch
    torch = require_module("torch", "watch hooks into torch's autograd")
    from mltrail.integrations.torch import watch


def tiny_model() -> Any:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    model[2].bias.requires_grad_(False)  # frozen: not watched
    return model


def train(model: Any, steps: int, by_hand: dict[int, dict[str, float]]) -> None:
    """SGD on random data; the norms of each step, computed by hand, go into `by_hand`."""
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        x = torch.randn(8, 3, generator=generator)
        weights = {
            n: float(p.detach().norm()) for n, p in model.named_parameters() if p.requires_grad
        }
        torch.nn.functional.mse_loss(model(x), x.sum(1, keepdim=True)).backward()
        grads = {n: float(p.grad.norm()) for n, p in model.named_parameters() if p.requires_grad}
        by_hand[step] = {
            **{f"grad_norm/{n}": v for n, v in grads.items()},
            **{f"weight_norm/{n}": v for n, v in weights.items()},
            "grad_norm": math.sqrt(sum(v * v for v in grads.values())),
            "weight_norm": math.sqrt(sum(v * v for v in weights.values())),
        }
        optimizer.step()
        optimizer.zero_grad()


def logged(client: mltrail.Client, run_id: str, key: str) -> dict[int, float]:
    return {p.step: p.value for p in client.metric_history(run_id, key).points}


class TestWatch:
    def test_norms_arrive_every_n_backward_passes_as_computed_by_hand(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        model = tiny_model()
        by_hand: dict[int, dict[str, float]] = {}
        with mltrail.start_run(experiment="torch", run_context=False, system_metrics=False) as run:
            norms = watch(model, run, every=EVERY)
            train(model, STEPS, by_hand)
            norms.remove()
            train(model, 2, {})  # after remove: nothing more

        keys = set(client.runs.get(run.id).metrics)
        assert keys == set(by_hand[0])
        assert "grad_norm/2.bias" not in keys  # the frozen parameter
        for key in keys:
            expected = {step: by_hand[step][key] for step in range(0, STEPS, EVERY)}
            assert logged(client, run.id, key) == pytest.approx(expected, rel=1e-5), key

    def test_totals_only_and_gradients_only(self, sdk: Settings, client: mltrail.Client) -> None:
        model = tiny_model()
        by_hand: dict[int, dict[str, float]] = {}
        with mltrail.start_run(experiment="torch", run_context=False, system_metrics=False) as run:
            watch(model, run, every=1, log="gradients", per_parameter=False)
            train(model, 3, by_hand)

        assert set(client.runs.get(run.id).metrics) == {"grad_norm"}
        expected = {step: by_hand[step]["grad_norm"] for step in range(3)}
        assert logged(client, run.id, "grad_norm") == pytest.approx(expected, rel=1e-5)

    def test_with_the_optimizer_the_accumulated_grads_are_logged_every_n_steps(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        model = tiny_model()
        trained = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(trained, lr=0.1)
        generator = torch.Generator().manual_seed(2)
        by_hand: dict[int, float] = {}
        with mltrail.start_run(experiment="torch", run_context=False, system_metrics=False) as run:
            watch(model, run, every=2, log="gradients", optimizer=optimizer)
            for step in range(4):
                for _ in range(3):  # three micro-batches accumulate into .grad
                    x = torch.randn(4, 3, generator=generator)
                    torch.nn.functional.mse_loss(model(x), x.sum(1, keepdim=True)).backward()
                by_hand[step] = math.sqrt(sum(float(p.grad.norm()) ** 2 for p in trained))
                optimizer.step()
                optimizer.zero_grad()

        expected = {0: by_hand[0], 2: by_hand[2]}
        assert logged(client, run.id, "grad_norm") == pytest.approx(expected, rel=1e-5)
        assert logged(client, run.id, "grad_norm/0.weight").keys() == {0, 2}

    def test_log_norms_reads_the_grads_at_the_step_given(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        model = tiny_model()
        with mltrail.start_run(experiment="torch", run_context=False, system_metrics=False) as run:
            norms = watch(model, run, every=None, log="weights")
            norms.log_norms(step=42)
            torch.nn.functional.mse_loss(model(torch.ones(2, 3)), torch.zeros(2, 1)).backward()
            assert norms.step == 0  # no hook: backward passes are not counted

        first = model[0].weight
        assert logged(client, run.id, "weight_norm/0.weight") == {
            42: pytest.approx(float(first.detach().norm()), rel=1e-6)
        }
        assert "grad_norm" not in client.runs.get(run.id).metrics

    @pytest.mark.parametrize(
        "arguments, message",
        [
            ({"every": 0}, "every must be 1 or more"),
            ({"log": "biases"}, "log must be 'all', 'gradients' or 'weights'"),
        ],
    )
    def test_bad_arguments_say_what_is_allowed(
        self, sdk: Settings, arguments: dict[str, Any], message: str
    ) -> None:
        with mltrail.start_run(experiment="torch", run_context=False, system_metrics=False) as run:
            with pytest.raises(ValueError, match=message):
                watch(tiny_model(), run, **arguments)
            with pytest.raises(ValueError, match="no parameter that requires grad"):
                watch(torch.nn.Linear(2, 2).requires_grad_(False), run)
