"""Gradient and weight norms of a plain PyTorch model, every N backward passes.

```python
from mltrail.integrations.torch import watch

with mltrail.start_run(experiment="mnist") as run:
    norms = watch(model, run, every=100)   # hooks: no change to the training loop
    for step, (x, y) in enumerate(loader):
        loss = loss_fn(model(x), y)
        loss.backward()                    # steps 0, 100, 200...: the norms are logged
        optimizer.step()
        optimizer.zero_grad()
    norms.remove()
```

Logged per parameter that requires grad, as `grad_norm/<parameter name>` and
`weight_norm/<parameter name>` (the L2 norm), with the norm over all of them as `grad_norm`
and `weight_norm`, at step = the number of backward passes before this one (0-based), so
that it matches `run.log(..., step=step)` in a loop of one backward pass a step. The
gradient is the one the backward pass computed (before the optimizer step; with gradient
accumulation, that of one micro-batch); the weights are those it was computed with. The
norms are computed on the model's device and fetched in one transfer; the points go
through `ActiveRun.log`, which never waits. For other steps, call `log_norms(step)`, which
reads the parameters' `.grad` (`every=None` installs no hook at all).

With gradient accumulation, pass the optimizer: `watch(model, run, every=100,
optimizer=optimizer)` counts optimizer steps instead, and logs the accumulated (and
clipped, and unscaled by a `GradScaler`) `.grad` just before the step. This also keeps no
gradient alive: counting backward passes holds each pass's gradients until the pass ends,
which is free when `.grad` is reset each step but costs a copy of them while accumulating.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from mltrail.integrations._common import legal_key
from mltrail.run import ActiveRun

__all__ = ["Norms", "watch"]

Kind = Literal["all", "gradients", "weights"]


def watch(
    model: torch.nn.Module,
    run: ActiveRun,
    every: int | None = 100,
    *,
    log: Kind = "all",
    per_parameter: bool = True,
    optimizer: torch.optim.Optimizer | None = None,
) -> Norms:
    """Log `model`'s gradient and weight norms to `run` every `every` backward passes, or
    every `every` steps of `optimizer` when given (see the module's text); `log` picks
    gradients, weights or both, `per_parameter=False` keeps only the two totals. Returns
    the `Norms` to call `log_norms` on or `remove`."""
    return Norms(model, run, every, log=log, per_parameter=per_parameter, optimizer=optimizer)


class Norms:
    """The norms `watch` logs; `step` counts the backward passes (or optimizer steps) seen
    (settable, e.g. when resuming training)."""

    def __init__(
        self,
        model: torch.nn.Module,
        run: ActiveRun,
        every: int | None,
        *,
        log: Kind = "all",
        per_parameter: bool = True,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        if every is not None and every < 1:
            raise ValueError(f"every must be 1 or more (or None for no hook), got {every}")
        if log not in ("all", "gradients", "weights"):
            raise ValueError(f"log must be 'all', 'gradients' or 'weights', got {log!r}")
        self.run = run
        self.every = every
        self.step = 0
        self._gradients = log in ("all", "gradients")
        self._weights = log in ("all", "weights")
        self._per_parameter = per_parameter
        self._parameters = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not self._parameters:
            raise ValueError("the model has no parameter that requires grad: nothing to watch")
        self._names = [
            legal_key(name) or f"parameter_{i}" for i, (name, _) in enumerate(self._parameters)
        ]
        self._hook: torch.utils.hooks.RemovableHandle | None = None
        if every is not None and optimizer is not None:
            self._hook = optimizer.register_step_pre_hook(self._on_optimizer_step)
        elif every is not None:
            self._hook = torch.autograd.graph.register_multi_grad_hook(
                [parameter for _, parameter in self._parameters], self._on_backward, mode="all"
            )

    def log_norms(self, step: int | None = None) -> None:
        """Log the norms now, from each parameter's `.grad` (those without one are left
        out), at `step` (default: `self.step`)."""
        grads = [parameter.grad for _, parameter in self._parameters]
        self._log(self.step if step is None else step, grads)

    def remove(self) -> None:
        """Remove the hook: no more norms are logged by backward passes or steps."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def _on_backward(self, grads: Sequence[torch.Tensor | None]) -> None:
        step = self.step
        self.step += 1
        if self.every is not None and step % self.every == 0:
            self._log(step, grads)

    def _on_optimizer_step(self, optimizer: torch.optim.Optimizer, *arguments: object) -> None:
        step = self.step
        self.step += 1
        if self.every is not None and step % self.every == 0:
            self.log_norms(step)

    @torch.no_grad()
    def _log(self, step: int, grads: Sequence[torch.Tensor | None]) -> None:
        values: dict[str, float] = {}
        if self._gradients:
            values.update(self._norms("grad_norm", grads))
        if self._weights:
            values.update(self._norms("weight_norm", [p for _, p in self._parameters]))
        if values:
            self.run.log(values, step=step)

    def _norms(self, prefix: str, tensors: Sequence[torch.Tensor | None]) -> dict[str, float]:
        present = [(name, t) for name, t in zip(self._names, tensors, strict=True) if t is not None]
        if not present:
            return {}
        device = present[0][1].device  # a model split over devices: summed on the first
        norms = torch.stack([_norm(tensor).to(device) for _, tensor in present])
        total = torch.linalg.vector_norm(norms)
        if not self._per_parameter:
            return {prefix: float(total)}
        # One transfer from the device for all of them.
        *each, overall = torch.cat([norms, total.reshape(1)]).tolist()
        found = {f"{prefix}/{name}": value for (name, _), value in zip(present, each, strict=True)}
        found[prefix] = overall
        return found


def _norm(tensor: torch.Tensor) -> torch.Tensor:
    values = tensor.detach()
    if values.is_sparse:
        values = values.coalesce().values()
    norm: torch.Tensor = torch.linalg.vector_norm(values.float())
    return norm
