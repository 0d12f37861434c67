"""TensorBoard event files read with tbparse (`pip install 'mltrail[tensorboard]'`): one run
per folder holding event files, its scalars as metrics (step, wall time to the millisecond),
its hparams as params. tensorboardX's and torch's `add_hparams` write the hparams into a
sub-folder of the run's folder: such a folder's params and metrics join the run of the folder
above it, when that folder is a run too.

A run's id is derived from the experiment's name and the folder's path under the log
directory, so importing the same folder again fills the same run (points are stored once).
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from mltrail.errors import MltrailError
from mltrail.imports.checksum import Point, RunDigest, series_digest
from mltrail.imports.target import Target

__all__ = ["TensorboardImport", "TensorboardRun", "read_logdir", "run_id_of"]

NAMESPACE = uuid.UUID("6f1c2a52-3d57-4f0e-9a55-1f5a1c3b7e21")


def _tbparse() -> Any:
    try:
        return importlib.import_module("tbparse")
    except ImportError:
        raise MltrailError(
            "reading TensorBoard files needs tbparse: pip install 'mltrail[tensorboard]'"
        ) from None


def run_id_of(experiment: str, folder: str) -> str:
    return uuid.uuid5(NAMESPACE, f"{experiment}\n{folder}").hex


@dataclass
class TensorboardRun:
    folder: str  # '/'-separated, relative to the log directory; '.' for the root
    series: dict[str, list[Point]] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def times(self) -> list[int]:
        return [timestamp for points in self.series.values() for _, timestamp, _ in points]


def _param(value: Any) -> str:
    # Event files hold numeric hparams as doubles: `layers=3` comes back as 3.0.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_logdir(logdir: Path) -> list[TensorboardRun]:
    """Every folder under `logdir` with scalars or hparams, as runs."""
    if not logdir.is_dir():
        raise MltrailError(f"{logdir}: no such folder")
    reader = _tbparse().SummaryReader(str(logdir), extra_columns={"dir_name", "wall_time"})
    runs: dict[str, TensorboardRun] = {}

    def run(folder: Any) -> TensorboardRun:
        name = str(folder) or "."
        return runs.setdefault(name, TensorboardRun(name))

    scalars = reader.scalars
    if len(scalars):
        for (folder, tag), rows in scalars.groupby(["dir_name", "tag"], sort=True):
            run(folder).series[str(tag)] = [
                (int(step), int(round(float(wall) * 1000)), float(value))
                for step, wall, value in zip(
                    rows["step"], rows["wall_time"], rows["value"], strict=True
                )
            ]
    hparams = reader.hparams
    if len(hparams):
        for folder, tag, value in zip(
            hparams["dir_name"], hparams["tag"], hparams["value"], strict=True
        ):
            run(folder).params[str(tag)] = _param(value)
    for name in sorted(runs, key=lambda n: -len(PurePosixPath(n).parts)):
        parent = str(PurePosixPath(name).parent)
        if runs[name].params and name != "." and parent in runs and parent != name:
            child = runs.pop(name)
            runs[parent].params.update(child.params)
            for key, points in child.series.items():
                runs[parent].series.setdefault(key, []).extend(points)
    if not runs:
        raise MltrailError(f"{logdir}: no TensorBoard scalars or hparams found")
    return [runs[name] for name in sorted(runs)]


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


@dataclass
class TensorboardOutcome:
    run_id: str
    name: str
    source_checksum: str = ""
    target_checksum: str = ""
    points: tuple[int, int] = (0, 0)

    @property
    def equal(self) -> bool:
        return self.source_checksum == self.target_checksum


class TensorboardImport:
    def __init__(self, target: Target, experiment_id: str, experiment_name: str) -> None:
        self.target = target
        self.experiment_id = experiment_id
        self.experiment_name = experiment_name

    def run(
        self, runs: list[TensorboardRun], advance: Callable[[int], None]
    ) -> list[TensorboardOutcome]:
        outcomes = []
        for found in runs:
            run_id = run_id_of(self.experiment_name, found.folder)
            times = found.times or [0]
            self.target.import_run(
                {
                    "id": run_id,
                    "experiment_id": self.experiment_id,
                    "name": found.folder[-250:],
                    "status": "completed",
                    "started_at": _iso(min(times)),
                    "ended_at": _iso(max(times)),
                }
            )
            self.target.log_params_and_tags(run_id, found.params, {"tensorboard.dir": found.folder})
            for key, points in found.series.items():
                self.target.log_points(run_id, key, points)
            source = RunDigest({key: series_digest(p) for key, p in found.series.items()})
            ours = self.target.transport.json("GET", f"/api/v1/runs/{run_id}")
            digest = RunDigest(
                {key: series_digest(self.target.history(run_id, key)) for key in ours["metrics"]}
            )
            outcomes.append(
                TensorboardOutcome(
                    run_id,
                    found.folder,
                    source.checksum,
                    digest.checksum,
                    (source.points, digest.points),
                )
            )
            advance(1)
        return outcomes
