"""A one-line switch from W&B: `import mltrail.wandb as wandb`, and a typical W&B script logs to
this server through `mltrail.start_run` and its non-blocking sender.

```python
import mltrail.wandb as wandb

run = wandb.init(project="mnist", config={"lr": 0.01}, tags=["baseline"], group="sweep-1")
wandb.define_metric("val/*", step_metric="epoch")
for epoch in range(10):
    wandb.log({"loss": loss, "epoch": epoch})
wandb.summary["best_acc"] = 0.97
wandb.finish()
```

| W&B | here |
|---|---|
| `project` | the experiment (created when missing) |
| `name`, `notes` | the run's name and description (`mlflow.note.content`) |
| `config` (nested dicts flattened with `.`) | params: write-once, so changing a value raises |
| `tags=[...]` | one tag `mltrail.tags`: the labels joined by `,` |
| `group`, `job_type` | tags `mltrail.group`, `mltrail.job_type` |
| `summary[key] = value` | a tag `summary.<key>` |
| `define_metric(k, summary="min")` | `summary[k]` is `{"min": ...}`, tag `summary.<k>.min` |
| `log` | metric points at W&B's step (or a `define_metric` step metric's value) |
| `Table`, `Histogram`, `Image` | the SDK's `log_table`, `log_histogram`, `log_image` |

What it cannot honour raises `NotSupported` (a `NotImplementedError`) naming the call.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fnmatch
import glob
import json
import numbers
import os
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

import mltrail
from mltrail.client import Client
from mltrail.config import current_settings
from mltrail.encoding import flatten, key_problem, param_value
from mltrail.errors import InvalidRequest, MltrailError, NotFound
from mltrail.media import require_pyarrow
from mltrail.run import ActiveRun, start_run
from mltrail.system_metrics import PREFIX as SYSTEM_PREFIX
from mltrail.wandb_media import Histogram, Image, Media, Table

__all__ = [
    "Config",
    "Histogram",
    "Image",
    "NotSupported",
    "Run",
    "Summary",
    "Table",
    "config",
    "define_metric",
    "finish",
    "init",
    "log",
    "login",
    "run",
    "save",
    "summary",
]

TAGS_TAG = "mltrail.tags"
GROUP_TAG = "mltrail.group"
JOB_TYPE_TAG = "mltrail.job_type"
SUMMARY_PREFIX = "summary."
MODES = ("online", "offline", "disabled")
SUMMARY_KINDS = ("min", "max", "mean", "first", "last", "best", "copy", "none")
GOALS = ("minimize", "maximize")

# W&B names that exist there but not here; anything else unknown is a plain AttributeError.
UNSUPPORTED = frozenset(
    {
        "Api", "Artifact", "Audio", "Html", "Molecule", "Object3D", "Plotly", "Settings",
        "Video", "agent", "alert", "controller", "link_model", "log_artifact", "log_code",
        "log_model", "mark_preempting", "plot", "plot_table", "restore", "setup", "sweep",
        "teardown", "unwatch", "use_artifact", "use_model", "watch",
    }
)  # fmt: skip


class NotSupported(MltrailError, NotImplementedError):
    """A W&B call or argument `mltrail.wandb` cannot honour; the message names it."""


def _unsupported(name: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> None:
        raise NotSupported(
            f"wandb.{name} is not supported by mltrail.wandb; "
            "use the mltrail SDK directly (mltrail.start_run, run.log_artifact, mltrail.Client)"
        )

    refuse.__name__ = name
    return refuse


def __getattr__(name: str) -> Any:
    if name in UNSUPPORTED:
        return _unsupported(name)
    raise AttributeError(
        f"mltrail.wandb has no {name!r}: W&B's {name} is not supported "
        f"(supported: {', '.join(sorted(__all__))})"
    )


def _param_text(value: Any) -> str:
    """A config value as a param: scalars as the SDK stores them, lists and None as JSON."""
    try:
        return param_value(value)
    except ValueError:
        try:
            return json.dumps(value)
        except TypeError:
            raise ValueError(
                f"a config value must be a string, number, boolean, list or None, "
                f"not {type(value).__name__}"
            ) from None


def _as_mapping(values: Any, what: str) -> Mapping[str, Any]:
    if values is None:
        return {}
    if isinstance(values, argparse.Namespace):
        return vars(values)
    if isinstance(values, Mapping):
        return values
    raise TypeError(f"{what} must be a dict or argparse.Namespace, got {type(values).__name__}")


class Config:
    """`wandb.config`: attribute and item access; setting a key (or `update`) logs it as a
    param. Params are write-once, so giving a key another value raises `ValueError`."""

    def __init__(self, active: ActiveRun | None = None) -> None:
        object.__setattr__(self, "_active", active)
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_params", {})

    def update(self, values: Any, allow_val_change: bool = False) -> None:
        """Add keys (a dict or argparse.Namespace; nested dicts flattened with `.`)."""
        given = dict(_as_mapping(values, "config.update's argument"))
        params = {key: _param_text(value) for key, value in flatten(given).items()}
        stored: dict[str, str] = self._params
        for key, text in params.items():
            if key in stored and stored[key] != text:
                raise ValueError(
                    f"config key {key!r} is already {stored[key]!r}: params cannot change "
                    f"(got {text!r}; allow_val_change cannot help here), use a new key"
                )
        new = {key: text for key, text in params.items() if key not in stored}
        if new and self._active is not None:
            self._active.log_params(new)
        stored.update(params)
        self._values.update(given)

    def setdefaults(self, values: Mapping[str, Any]) -> None:
        """Set only the keys not set yet."""
        self.update({k: v for k, v in values.items() if k not in self._values})

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def keys(self) -> Any:
        return self._values.keys()

    def items(self) -> Any:
        return self._values.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}") from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Config({self._values!r})"


class _Aggregate:
    """What `define_metric(summary=...)` keeps of one metric: updated by each logged value."""

    __slots__ = ("count", "first", "high", "last", "low", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low: float | None = None
        self.high: float | None = None
        self.first: float | None = None
        self.last: float | None = None

    def add(self, value: float) -> None:
        if self.first is None:
            self.first = value
        self.last = value
        if value != value:  # NaN: no min, max or mean of it
            return
        self.count += 1
        self.total += value
        if self.low is None or value < self.low:
            self.low = value
        if self.high is None or value > self.high:
            self.high = value

    def figure(self, kind: str, goal: str | None) -> float | None:
        if kind == "best":
            kind = "min" if goal == "minimize" else "max"
        if kind == "min":
            return self.low
        if kind == "max":
            return self.high
        if kind == "mean":
            return self.total / self.count if self.count else None
        return self.first if kind == "first" else self.last


class Summary(MutableMapping[str, Any]):
    """`wandb.summary`: each key's last logged value, and what is set here, which is stored
    as the tag `summary.<key>` (strings, numbers and booleans). A metric given a summary by
    `define_metric` shows its aggregates instead, as `{"min": ..., "max": ...}`, stored as
    the tags `summary.<key>.<kind>` when the run finishes; `summary="none"` leaves it out."""

    def __init__(self, active: ActiveRun | None = None) -> None:
        self._active = active
        self._values: dict[str, Any] = {}
        #: Keys set here since they were last logged: they show what was set.
        self._set: set[str] = set()
        #: Metrics with a `define_metric` summary: kinds, goal, and what was logged.
        self._aggregates: dict[str, tuple[tuple[str, ...], str | None, _Aggregate]] = {}
        self._left_out: set[str] = set()

    def record(self, values: Mapping[str, Any]) -> None:
        """What `log` saw last (kept here only: the server keeps each metric's latest)."""
        self._values.update(values)
        if self._set:
            self._set.difference_update(values)

    def aggregate_tags(self) -> dict[str, str]:
        """The `summary.<key>.<kind>` tags of the metrics with a `define_metric` summary."""
        tags = {}
        for key, (kinds, goal, aggregate) in self._aggregates.items():
            if key in self._set:
                continue
            for kind in kinds:
                figure = aggregate.figure(kind, goal)
                tag = f"{SUMMARY_PREFIX}{key}.{kind}"
                if figure is not None and key_problem(tag) is None:  # too long: kept here only
                    tags[tag] = param_value(figure)
        return tags

    def _shown(self, key: str) -> bool:
        if key in self._set:
            return True
        if key in self._aggregates:
            return True
        return key in self._values and key not in self._left_out

    def __setitem__(self, key: str, value: Any) -> None:
        try:
            text = param_value(value)
        except ValueError:
            raise TypeError(
                f"summary[{key!r}] must be a string, number or boolean, not {type(value).__name__}"
            ) from None
        if self._active is not None:
            self._active.set_tags({SUMMARY_PREFIX + key: text})
        self._values[key] = value
        self._set.add(key)

    def __getitem__(self, key: str) -> Any:
        if key not in self._set and key in self._aggregates:
            kinds, goal, aggregate = self._aggregates[key]
            return {kind: aggregate.figure(kind, goal) for kind in kinds}
        if not self._shown(key):
            raise KeyError(key)
        return self._values[key]

    def __delitem__(self, key: str) -> None:
        raise NotSupported(f"del summary[{key!r}] is not supported: a stored tag stays")

    def __iter__(self) -> Iterator[str]:
        keys = dict.fromkeys([*self._values, *self._aggregates])
        return iter([key for key in keys if self._shown(key)])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"Summary({dict(self.items())!r})"


def _summary_kinds(summary: str | None, goal: str | None) -> tuple[str, ...] | None:
    """define_metric's `summary` as its kinds (None when not given), checked with `goal`."""
    if goal is not None and goal not in GOALS:
        raise ValueError(f"define_metric: goal {goal!r} is not one of {', '.join(GOALS)}")
    if summary is None:
        return None
    if not isinstance(summary, str):
        raise TypeError(f"define_metric: summary must be a string, got {summary!r}")
    kinds = tuple(dict.fromkeys(kind.strip() for kind in summary.split(",") if kind.strip()))
    for kind in kinds:
        if kind not in SUMMARY_KINDS:
            raise ValueError(
                f"define_metric: summary {kind!r} is not one of {', '.join(SUMMARY_KINDS)}"
            )
    if not kinds:
        raise ValueError(f"define_metric: summary {summary!r} names no kind")
    for alone in ("none", "copy"):
        if alone in kinds and len(kinds) > 1:
            raise ValueError(f"define_metric: summary {alone!r} cannot be joined with others")
    if "best" in kinds and goal is None:
        raise ValueError("define_metric: summary 'best' needs goal='minimize' or 'maximize'")
    return kinds


def _metric_value(key: str, value: Any) -> float | None:
    """A logged value as a metric point, or None when it is not a number."""
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # numpy and torch scalars
    if callable(item) and getattr(value, "ndim", 0) == 0:
        scalar = item()
        if isinstance(scalar, numbers.Real):
            return float(scalar)
    return None


class Run:
    """What `wandb.init` returns: `id`, `name`, `url`, `project`, `config`, `summary`, `log`,
    `define_metric`, `finish`; a context manager (an exception finishes it as failed)."""

    def __init__(
        self,
        active: ActiveRun | None,
        project: str,
        *,
        group: str | None,
        tags: tuple[str, ...],
        notes: str | None,
        media_dir: Path | None,
    ) -> None:
        self._active = active
        self.project = project
        self.group = group
        self._tags = tags
        self._notes = notes
        self._name = active.name if active else "disabled"
        self._files: Path | None = None
        self.config = Config(active)
        self.summary = Summary(active)
        self.step = 0
        self._row: dict[str, Any] = {}
        #: The numbers of `_row`, parsed once by `log`.
        self._row_numbers: dict[str, float] = {}
        self._step_metrics: dict[str, str] = {}
        #: define_metric's summaries: name (or glob) -> kinds, goal.
        self._summaries: dict[str, tuple[tuple[str, ...], str | None]] = {}
        #: Logged keys known to have no summary of their own (the last value is theirs).
        self._plain: set[str] = set()
        self._last_seen: dict[str, float] = {}
        self._media_dir = media_dir
        self._finished = False
        self._resumed = False
        self._disabled_id = uuid.uuid4().hex if active is None else ""
        atexit.register(self._at_exit)

    @property
    def id(self) -> str:
        return self._active.id if self._active else self._disabled_id

    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._change(name=str(value))
        self._name = str(value)

    @property
    def notes(self) -> str | None:
        """The run's description; setting it changes the stored one."""
        return self._notes

    @notes.setter
    def notes(self, value: str) -> None:
        self._change(description=str(value))
        self._notes = str(value)

    @property
    def tags(self) -> tuple[str, ...]:
        """The run's labels; setting them (`run.tags += ("best",)`) rewrites `mltrail.tags`."""
        return self._tags

    @tags.setter
    def tags(self, value: Any) -> None:
        labels = _labels(value)
        if self._active is not None:
            self._active.set_tags({TAGS_TAG: ",".join(labels)})
        self._tags = labels

    @property
    def resumed(self) -> bool:
        return self._resumed

    @property
    def dir(self) -> str:
        """A local directory whose files are uploaded among the run's artifacts at `finish`."""
        if self._files is None:
            self._files = Path(tempfile.mkdtemp(prefix="mltrail-wandb-files-", dir=self._media_dir))
        return str(self._files)

    def _change(self, **fields: str) -> None:
        if self._active is not None:
            with Client() as client:
                client.runs.update(self._active.id, **fields)

    @property
    def url(self) -> str | None:
        """The run's page in the web UI (None for a disabled run)."""
        if self._active is None:
            return None
        return f"{self._active.settings.url}/runs/{self._active.id}"

    @property
    def disabled(self) -> bool:
        return self._active is None

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        *,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> None:
        """Chart `name` (a glob such as `val/*` will do) against `step_metric`: its points
        are logged at that metric's value (the last one logged) as their step.

        `summary` is what `run.summary[name]` shows instead of the last value: `"min"`,
        `"max"`, `"mean"`, `"first"`, `"last"`, `"best"` (the min or the max, as
        `goal="minimize"` or `"maximize"` says), several joined by `,`, as a dict such as
        `{"min": 0.1, "max": 0.9}`; these are stored as the tags `summary.<name>.<kind>`
        when the run finishes. A second call for the same name adds its kinds (as W&B's
        own example does; `overwrite=True` replaces them). `"none"` leaves the metric out of
        the summary, `"copy"` keeps its last value. The aggregates cover the values logged
        after this call (min and max of a resumed run also its earlier points)."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"define_metric: name must be a non-empty string, got {name!r}")
        kinds = _summary_kinds(summary, goal)
        if step_metric is not None:
            self._step_metrics[name] = step_metric
        if kinds is None:
            return
        before = () if overwrite else self._summaries.get(name, ((), None))[0]
        if kinds in (("none",), ("copy",)) or "none" in before or "copy" in before:
            merged = kinds
        else:
            merged = tuple(dict.fromkeys([*before, *kinds]))
        self._summaries[name] = (merged, goal or self._summaries.get(name, ((), None))[1])
        # Keys already logged may match now: each is looked up again at its next value.
        self._plain.clear()
        summary_ = self.summary
        summary_._left_out = {
            key
            for key in summary_._values
            if (found := self._summary_of(key)) is not None and found[0] == ("none",)
        }
        for key in list(summary_._aggregates):
            self._summarize(key)

    def _summary_of(self, key: str) -> tuple[tuple[str, ...], str | None] | None:
        """The summary `define_metric` gave `key`: its own name's, else the first glob's."""
        found = self._summaries.get(key)
        if found is not None:
            return found
        for pattern, definition in self._summaries.items():
            if fnmatch.fnmatchcase(key, pattern):
                return definition
        return None

    def _summarize(self, key: str) -> _Aggregate | None:
        """Look `key` up once: the aggregate its values go to, or None (it is then `_plain`
        or left out of the summary)."""
        summary = self.summary
        definition = self._summary_of(key)
        if definition is None or definition[0] == ("copy",):
            summary._aggregates.pop(key, None)
            self._plain.add(key)
            return None
        kinds, goal = definition
        if kinds == ("none",):
            summary._aggregates.pop(key, None)
            summary._left_out.add(key)
            self._plain.add(key)
            return None
        known = summary._aggregates.get(key)
        aggregate = known[2] if known is not None else self._seeded(key)
        summary._aggregates[key] = (kinds, goal, aggregate)
        return aggregate

    def _seeded(self, key: str) -> _Aggregate:
        """A new aggregate; a resumed run's starts from the min and max the server holds."""
        aggregate = _Aggregate()
        stored = self._active.info.metrics.get(key) if self._active and self._resumed else None
        if stored is not None:
            aggregate.low, aggregate.high = stored.min, stored.max
            aggregate.last = stored.value
            first = (
                self._active.info.tags.get(f"{SUMMARY_PREFIX}{key}.first") if self._active else None
            )
            with contextlib.suppress(TypeError, ValueError):  # None, or a tag set by hand
                aggregate.first = float(first)  # type: ignore[arg-type]
        return aggregate

    def log(
        self,
        data: Mapping[str, Any],
        step: int | None = None,
        commit: bool | None = None,
        sync: bool | None = None,
    ) -> None:
        """W&B's `log`: without `step` each call is one step (`commit=False` adds to the
        current one); with `step` the values wait until a later step or `commit=True`.
        A step lower than the current one is warned about and its values dropped, as W&B
        does. Numbers become metric points; `Table`, `Histogram` and `Image` artifacts."""
        if self._finished:
            raise MltrailError(f"run {self.id} is finished: wandb.init() a new one to log")
        if not isinstance(data, Mapping):
            raise TypeError(f"wandb.log takes a dict of name -> value, got {type(data).__name__}")
        flat = flatten(data)
        parsed: dict[str, float] = {}
        for key, value in flat.items():
            if isinstance(value, Media):
                if isinstance(value, Table):
                    require_pyarrow("wandb.log of a wandb.Table")
                continue
            number = _metric_value(key, value)
            if number is None:
                raise TypeError(
                    f"wandb.log: {key!r} is {type(value).__name__}; log a number, "
                    "wandb.Table, wandb.Histogram or wandb.Image"
                )
            parsed[key] = number
        for key in flat.keys() & set(self._step_metrics.values()):
            value = parsed.get(key)
            if value is None or not value.is_integer() or value < 0:
                raise ValueError(
                    f"wandb.log: {key!r} is a step metric (define_metric), so it must be a "
                    f"whole number >= 0 (steps here are integers), got {flat[key]!r}"
                )
        if step is not None:
            if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
                raise ValueError(f"wandb.log: step must be an int >= 0, got {step!r}")
            if step < self.step:
                warnings.warn(
                    f"wandb.log: step {step} is lower than the current step {self.step}; "
                    f"the values {sorted(flat)} are dropped (as W&B does)",
                    stacklevel=2,
                )
                return
            if step > self.step:
                self._commit()
                self.step = int(step)
        self._row.update(flat)
        self._row_numbers.update(parsed)
        if commit or (commit is None and step is None):
            self._commit()

    def _commit(self) -> None:
        row, self._row = self._row, {}
        parsed, self._row_numbers = self._row_numbers, {}
        if not row:
            return
        step = self.step
        self.step += 1
        self._last_seen.update(parsed)  # first: a step metric in this row sets the others' step
        numbers_at: dict[int, dict[str, float]] = {}
        for key, number in parsed.items():
            numbers_at.setdefault(self._step_of(key, step), {})[key] = number
        if self._active is not None:
            for at, values in numbers_at.items():
                self._active.log(values, step=at)
            for key, value in row.items():
                if isinstance(value, Media):
                    self._upload(key, value, self._step_of(key, step))
        aggregates = self.summary._aggregates
        plain = self._plain
        for key, number in parsed.items():
            if key in plain:
                continue
            found = aggregates.get(key)
            aggregate = found[2] if found is not None else self._summarize(key)
            if aggregate is not None:
                aggregate.add(number)
        self.summary.record(row)

    def _step_of(self, key: str, step: int) -> int:
        for pattern, step_metric in self._step_metrics.items():
            if key != step_metric and fnmatch.fnmatchcase(key, pattern):
                value = self._last_seen.get(step_metric)
                if value is None or not value.is_integer() or value < 0:
                    return step  # not logged yet (or before define_metric named it)
                return int(value)
        return step

    def _upload(self, key: str, value: Media, step: int) -> None:
        assert self._active is not None
        value.store(self._active, key, step)

    def save(self, glob_str: str, base_path: str | None = None, policy: str = "live") -> list[str]:
        """Upload the files matching `glob_str` now (whatever the `policy`), keeping their
        paths relative to `base_path` (default: each file's own directory)."""
        if self._active is None:
            return []
        uploaded = []
        for match in sorted(glob.glob(os.fspath(glob_str), recursive=True)):
            path = Path(match)
            if not path.is_file():
                continue
            where = None
            if base_path is not None:
                relative = path.resolve().parent.relative_to(Path(base_path).resolve())
                where = relative.as_posix() if relative.as_posix() != "." else None
            uploaded.append(self._active.log_artifact(path, artifact_path=where).path)
        return uploaded

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """Commit the current step, then end the run: `completed`, or `failed` for a non-zero
        `exit_code`."""
        if self._finished:
            return
        try:
            self._commit()
            if self._active is not None:
                self._active.set_tags(self.summary.aggregate_tags())
            if self._active is not None and self._files is not None and any(self._files.iterdir()):
                self._active.log_artifacts(self._files)
        finally:
            self._finished = True
            atexit.unregister(self._at_exit)
            if self._active is not None:
                self._active.finish("completed" if not exit_code else "failed")
            _forget(self)

    def _at_exit(self) -> None:
        self.finish(exit_code=1 if hasattr(sys, "last_value") else 0)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotSupported(f"run.{name} is not supported by mltrail.wandb")

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.finish(exit_code=0 if kind is None else 1)

    def __repr__(self) -> str:
        return f"<wandb Run {self.name} id={self.id} project={self.project}>"


# The module's `wandb.run`, `wandb.config`, `wandb.summary`, rebound by init and finish.
run: Run | None = None
config: Config = Config()
summary: Summary = Summary()


def _forget(finished: Run) -> None:
    global run, config, summary
    if run is finished:
        run, config, summary = None, Config(), Summary()


def _labels(tags: Any) -> tuple[str, ...]:
    if tags is None:
        return ()
    if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
        raise TypeError(f"tags must be a list of strings, got {tags!r}")
    for tag in tags:
        if "," in tag or not tag.strip():
            raise ValueError(f"tag {tag!r}: a tag must be non-empty and without ','")
    return tuple(dict.fromkeys(tags))


def _resumed_id(resume: Any, run_id: str | None) -> str | None:
    """The run to resume, or None for a new one; NotSupported for what cannot be honoured."""
    if resume in (None, False, "never") and run_id is None:
        return None
    if resume == "auto":
        raise NotSupported(
            "resume='auto' is not supported: pass id=<the run's id> with resume='must'"
        )
    if resume not in (True, "must", "allow", "never", None, False):
        raise ValueError(
            f"resume must be 'allow', 'must', 'never', 'auto' or a bool, got {resume!r}"
        )
    if run_id is None:
        if resume in (True, "must"):
            raise ValueError(f"resume={resume!r} needs id=<the run's id>")
        return None
    if resume in (None, False, "never"):
        raise NotSupported(
            f"id={run_id!r} without resume: the server assigns run ids, so a new run cannot "
            "take one; pass resume='must' (or 'allow') to resume the existing run"
        )
    return run_id


def init(
    project: str | None = None,
    entity: str | None = None,
    config: Any = None,
    name: str | None = None,
    notes: str | None = None,
    tags: Any = None,
    group: str | None = None,
    job_type: str | None = None,
    resume: bool | str | None = None,
    id: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    mode: str | None = None,
    reinit: bool | str | None = None,
    allow_val_change: bool | None = None,
    anonymous: str | None = None,
    **unsupported: Any,
) -> Run:
    """Start (or, with `id=` and `resume='must'`/`'allow'`, resume) a run; see the module's
    table for where each argument goes. `entity` and `anonymous` are accepted and ignored;
    `dir` is where `run.dir` is made (media go through temporary files). `mode='offline'` is
    the same as online: the run is created on the server, and points wait in the spool for
    as long as the server then does not answer (`mltrail sync` uploads them).
    `mode='disabled'` gives a run that logs nothing. Without `project`, `WANDB_PROJECT` or
    else `default`."""
    global run
    if unsupported:
        raise NotSupported(
            f"wandb.init({', '.join(sorted(unsupported))}=...) is not supported by mltrail.wandb"
        )
    chosen = mode or os.environ.get("WANDB_MODE") or "online"
    if chosen not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {chosen!r}")
    if run is not None:
        if reinit in (None, False, "default", "return_previous"):
            return run
        if reinit in (True, "finish_previous"):
            run.finish()
        elif reinit != "create_new":
            raise ValueError(
                "reinit must be a bool, 'default', 'return_previous', 'finish_previous' "
                f"or 'create_new', got {reinit!r}"
            )
    labels = _labels(tags)
    given_config = _as_mapping(config, "config")
    project = project or os.environ.get("WANDB_PROJECT") or "default"
    run_tags: dict[str, str] = {}
    if labels:
        run_tags[TAGS_TAG] = ",".join(labels)
    if group is not None:
        run_tags[GROUP_TAG] = str(group)
    if job_type is not None:
        run_tags[JOB_TYPE_TAG] = str(job_type)
    media_dir = Path(dir) if dir is not None else None
    if media_dir is not None:
        media_dir.mkdir(parents=True, exist_ok=True)
    active: ActiveRun | None = None
    if chosen != "disabled":
        resumed = _resumed_id(resume, id)
        active = _start(project, name, notes, run_tags, resumed, resume)
    started = Run(active, project, group=group, tags=labels, notes=notes, media_dir=media_dir)
    if active is not None and resume:
        # W&B goes on after the resumed run's last step, with its config as it was.
        started._resumed = True
        started.config._params.update(active.info.params)
        steps = [
            metric.step
            for key, metric in active.info.metrics.items()
            if not key.startswith(SYSTEM_PREFIX)  # the sampler's own steps, not W&B's
        ]
        started.step = max(steps) + 1 if steps else 0
    try:
        started.config.update(given_config)
    except Exception:
        started.finish(exit_code=1)
        raise
    _bind(started)
    return started


def _start(
    project: str,
    name: str | None,
    notes: str | None,
    tags: dict[str, str],
    resumed: str | None,
    resume: Any,
) -> ActiveRun:
    if resumed is None:
        return start_run(project, name=name, tags=tags, description=notes)
    try:
        active = start_run(run_id=resumed, tags=tags)
    except (NotFound, InvalidRequest):
        raise NotSupported(
            f"resume={resume!r}: there is no run {resumed!r} to resume, and the server "
            "assigns the ids of new runs"
        ) from None
    fields = {k: v for k, v in (("name", name), ("description", notes)) if v is not None}
    if fields:
        with Client() as client:
            client.runs.update(active.id, **fields)
    return active


def _bind(started: Run) -> None:
    global run, config, summary
    run, config, summary = started, started.config, started.summary


def _current(call: str) -> Run:
    if run is None:
        raise MltrailError(f"wandb.{call}() needs a run: call wandb.init() first")
    return run


def log(
    data: Mapping[str, Any],
    step: int | None = None,
    commit: bool | None = None,
    sync: bool | None = None,
) -> None:
    """`run.log` of the current run (see `Run.log`)."""
    _current("log").log(data, step=step, commit=commit, sync=sync)


def define_metric(name: str, step_metric: str | None = None, **options: Any) -> None:
    """`run.define_metric` of the current run (see `Run.define_metric`)."""
    _current("define_metric").define_metric(name, step_metric, **options)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run, if any (see `Run.finish`)."""
    if run is not None:
        run.finish(exit_code=exit_code, quiet=quiet)


def save(glob_str: str, base_path: str | None = None, policy: str = "live") -> list[str]:
    """Upload files of the current run now (see `Run.save`)."""
    return _current("save").save(glob_str, base_path=base_path, policy=policy)


def login(
    key: str | None = None,
    relogin: bool | None = None,
    host: str | None = None,
    **ignored: Any,
) -> bool:
    """Use `key` as the SDK's API key and `host` as its server (both optional: otherwise
    `mltrail.init()` or `MLTRAIL_URL` / `MLTRAIL_API_KEY` decide). Checks nothing."""
    if key is not None or host is not None:
        settings = asdict(current_settings())
        settings.update({k: v for k, v in (("api_key", key), ("url", host)) if v is not None})
        mltrail.init(**settings)
    return True
