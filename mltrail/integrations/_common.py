"""What the integrations share: the run they log to, and framework values made into the
metrics and params the server takes (keys fixed up rather than refused mid-training)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mltrail.encoding import MAX_KEY_LENGTH, flatten, key_problem, param_value
from mltrail.run import ActiveRun, FinalStatus, start_run

__all__ = ["MAX_PARAM_VALUE_LENGTH", "RunOwner", "legal_key", "metric_values", "param_texts"]

#: The server's limit on a param's value; longer values are cut (as MLflow's server does).
MAX_PARAM_VALUE_LENGTH = 6000

_ILLEGAL_CHARACTERS = re.compile(r"[^/\w.\- :]")


class RunOwner:
    """The run an integration logs to: `run` when given (left open: its owner finishes it),
    else one started on first use with `start_run(**start)` and finished by `finish`. Logging
    to a run this owner finished resumes it (Lightning's `trainer.test` after `fit`, a
    Trainer's `evaluate` after `train`)."""

    def __init__(self, run: ActiveRun | None, start: Mapping[str, Any]) -> None:
        self._run = run
        self.owned = run is None
        self._start = dict(start)
        self._finished = False

    @property
    def started(self) -> bool:
        """Whether there is a run yet."""
        return self._run is not None

    def current(self) -> ActiveRun:
        """The run as it is (started if there is none yet; a finished one is not resumed)."""
        if self._run is None:
            self._run = start_run(**self._start)
        return self._run

    def get(self) -> ActiveRun:
        """The run to log to: started, or resumed if this owner finished it."""
        if self._run is None:
            self._run = start_run(**self._start)
        elif self._finished:
            self._run = start_run(
                run_id=self._run.id, system_metrics=self._start.get("system_metrics")
            )
            self._finished = False
        return self._run

    def finish(self, status: FinalStatus = "completed") -> None:
        """Finish the run if this owner started it; a given run is only flushed."""
        if self._run is None or self._finished:
            return
        if self.owned:
            self._run.finish(status)
            self._finished = True
        else:
            self._run.flush()


def legal_key(key: str) -> str | None:
    """`key` as the server's key rule allows it: characters it refuses become `_`, empty,
    `.` and `..` segments are dropped; None when nothing is left."""
    if key_problem(key) is None:
        return key
    fixed = _ILLEGAL_CHARACTERS.sub("_", key)
    fixed = "/".join(part for part in fixed.split("/") if part not in ("", ".", ".."))
    fixed = fixed[:MAX_KEY_LENGTH]
    return fixed if fixed and key_problem(fixed) is None else None


def metric_values(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numbers among `values` (Python, numpy or one-element tensor scalars) as floats
    under legal keys; strings, booleans, None and arrays are left out."""
    found: dict[str, float] = {}
    for key, value in values.items():
        if value is None or isinstance(value, bool | str | bytes):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError, RuntimeError):
            continue
        name = legal_key(f"{prefix}{key}")
        if name is not None:
            found[name] = number
    return found


def param_texts(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Hyper-parameters, arguments or a config as params: nested mappings flattened with `.`,
    scalars as the SDK stores them, lists and None as JSON, other values as their `str`, cut
    to the server's limit; keys made legal."""
    texts: dict[str, str] = {}
    for key, value in flatten(_string_keys(values), prefix).items():
        name = legal_key(key)
        if name is not None:
            texts[name] = _param_text(value)[:MAX_PARAM_VALUE_LENGTH]
    return texts


def _string_keys(values: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        str(key): _string_keys(value) if isinstance(value, Mapping) else value
        for key, value in values.items()
    }


def _param_text(value: Any) -> str:
    try:
        return param_value(value)
    except ValueError:
        if value is None or isinstance(value, list | tuple | dict):
            return json.dumps(value, default=str)
        return str(value)
