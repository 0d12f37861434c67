"""Read back what `mltrail export` wrote (runs.<csv|parquet> and metrics.<csv|parquet>) and
write it to a server: each run with its id, name, status, user, description, parent, times,
params and tags, and every point of its metric histories; verified like an MLflow import,
by a checksum of each run's histories on both sides.

In a CSV file an empty cell is a value that is absent (a run without that param or tag, a
run without an end time); Parquet keeps an empty string apart from a missing value.
"""

from __future__ import annotations

import csv
import importlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrail.client import Experiments
from mltrail.errors import ApiError, MltrailError
from mltrail.imports.checksum import Point, RunDigest, series_digest
from mltrail.imports.target import Target

__all__ = ["ExportFiles", "ExportImport", "find_files"]

FORMATS = (".csv", ".parquet")


@dataclass(frozen=True)
class ExportFiles:
    runs: Path
    metrics: Path | None


def find_files(paths: Sequence[Path]) -> ExportFiles:
    """The runs file and the metrics file among `paths` (files, or folders holding them)."""
    found: dict[str, Path] = {}
    for path in paths:
        if not path.exists():
            raise MltrailError(f"{path}: no such file or folder")
        candidates = sorted(path.iterdir()) if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.suffix in FORMATS and candidate.stem in ("runs", "metrics"):
                found.setdefault(candidate.stem, candidate)
    if "runs" not in found:
        raise MltrailError(
            "no runs.csv or runs.parquet among the files given: pass what `mltrail export` "
            "wrote (its folder, or runs.<format> and metrics.<format>)"
        )
    return ExportFiles(found["runs"], found.get("metrics"))


def _parquet() -> Any:
    try:
        return importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise MltrailError("reading Parquet files needs pyarrow: pip install pyarrow") from None


def _read_rows(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix == ".parquet":
        table = _parquet().ParquetFile(str(path))
        for batch in table.iter_batches(batch_size=10_000):
            yield from batch.to_pylist()
        return
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            yield {key: (value if value != "" else None) for key, value in row.items()}


def _points(path: Path) -> Iterator[tuple[str, str, Point]]:
    for row in _read_rows(path):
        value = row["value"]
        yield (
            str(row["run_id"]),
            str(row["key"]),
            (int(row["step"]), int(row["timestamp"]), float(value)),
        )


def _prefixed(row: dict[str, Any], prefix: str) -> dict[str, str]:
    return {
        key[len(prefix) :]: str(value)
        for key, value in row.items()
        if key.startswith(prefix) and value is not None
    }


@dataclass
class ExportOutcome:
    run_id: str
    name: str
    source_checksum: str = ""
    target_checksum: str = ""
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return self.source_checksum == self.target_checksum and all(
            a == b for a, b in self.counts.values()
        )


class ExportImport:
    """Runs of export files into `target`: into the experiment they were exported from when
    the target holds it, else into `fallback_experiment` (a name; created if missing)."""

    def __init__(
        self, target: Target, experiments: Experiments, fallback_experiment: str | None
    ) -> None:
        self.target = target
        self.experiments = experiments
        self.fallback_experiment = fallback_experiment

    @staticmethod
    def count_runs(files: ExportFiles) -> int:
        return sum(1 for _ in _read_rows(files.runs))

    def run(self, files: ExportFiles, advance: Callable[[int], None]) -> list[ExportOutcome]:
        self.target.check_admin()
        rows = _parents_first(list(_read_rows(files.runs)))
        outcomes: dict[str, ExportOutcome] = {}
        experiments: dict[str, str] = {}
        for row in rows:
            run_id = str(row["run_id"])
            exported = str(row["experiment_id"])
            if exported not in experiments:
                experiments[exported] = self._experiment(exported)
            self.target.import_run(
                {
                    "id": run_id,
                    "experiment_id": experiments[exported],
                    "name": row["name"],
                    "status": row["status"],
                    "user": row.get("user"),
                    "description": row.get("description"),
                    "parent_run_id": row.get("parent_run_id"),
                    "started_at": row["started_at"],
                    "ended_at": row.get("ended_at"),
                }
            )
            params, tags = _prefixed(row, "params."), _prefixed(row, "tags.")
            self.target.log_params_and_tags(run_id, params, tags)
            outcomes[run_id] = ExportOutcome(run_id, str(row["name"]))
            outcomes[run_id].counts.update(params=(len(params), 0), tags=(len(tags), 0))
        series: dict[str, dict[str, tuple[int, str]]] = {run_id: {} for run_id in outcomes}
        if files.metrics is not None:
            grouped = itertools.groupby(_points(files.metrics), key=lambda p: (p[0], p[1]))
            for (run_id, key), group in grouped:
                if run_id not in outcomes:
                    raise MltrailError(
                        f"{files.metrics}: points of run {run_id}, which {files.runs} does not hold"
                    )
                points = [point for _, _, point in group]
                self.target.log_points(run_id, key, points)
                count, _ = series[run_id].get(key, (0, ""))
                if count:
                    raise MltrailError(
                        f"{files.metrics}: the points of {run_id}/{key} are not together; "
                        "the file is not as `mltrail export` writes it"
                    )
                series[run_id][key] = series_digest(points)
        for run_id, outcome in outcomes.items():
            self._verify(outcome, RunDigest(series[run_id]))
            advance(1)
        return list(outcomes.values())

    def _experiment(self, exported: str) -> str:
        try:
            return self.experiments.get(exported).id
        except ApiError:
            pass
        if self.fallback_experiment is None:
            raise MltrailError(
                f"experiment {exported} of the exported runs is not on {self.target.url}: "
                "name one to import them into with --experiment NAME"
            )
        return self.experiments.get_or_create(self.fallback_experiment).id

    def _verify(self, outcome: ExportOutcome, source: RunDigest) -> None:
        run_id = outcome.run_id
        ours = self.target.transport.json("GET", f"/api/v1/runs/{run_id}")
        keys = sorted(ours.get("metrics", {}))
        digest = RunDigest({key: series_digest(self.target.history(run_id, key)) for key in keys})
        outcome.source_checksum, outcome.target_checksum = source.checksum, digest.checksum
        outcome.counts.update(
            params=(outcome.counts["params"][0], len(ours.get("params", {}))),
            tags=(outcome.counts["tags"][0], len(ours.get("tags", {}))),
            points=(source.points, digest.points),
        )


def _parents_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {str(row["run_id"]): row for row in rows}
    placed: set[str] = set()
    ordered: list[dict[str, Any]] = []

    def place(run_id: str, seen: frozenset[str]) -> None:
        if run_id in placed or run_id in seen:
            return
        parent = by_id[run_id].get("parent_run_id")
        if parent is not None and str(parent) in by_id:
            place(str(parent), seen | {run_id})
        placed.add(run_id)
        ordered.append(by_id[run_id])

    for run_id in by_id:
        place(run_id, frozenset())
    return ordered
