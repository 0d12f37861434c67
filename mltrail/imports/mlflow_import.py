"""Copy an MLflow store into this server, in phases: experiments (by name; their ids are
new), then runs, parents before their children, each by a pool of workers: the run with its
id, status and times, its params, tags and note, every point of every metric, its datasets,
its artifact files (one at a time through a temporary file), and its lifecycle; then each
run is verified by a checksum of its metric histories read back from both sides.

Every step is safe to repeat, so an import that was interrupted is simply run again: a
series whose checksum matches already is not sent, a partly sent one is sent again (the
server stores a point once), an artifact file is sent when it is missing or its size
differs. Then the model phases (mltrail/imports/mlflow_models.py): logged models with their
ids and files, and registered models with their version numbers and aliases, their sources
pointed at the copies here.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mltrail.errors import MltrailError
from mltrail.imports.checksum import RunDigest, series_digest
from mltrail.imports.mlflow_models import (
    Lineage,
    ModelOutcome,
    ModelsImport,
    RegisteredModel,
    model_counts,
)
from mltrail.imports.mlflow_source import MlflowSource
from mltrail.imports.target import DEFAULT_EXPERIMENT, Target, v1_experiment_id
from mltrail.progress import Advance, progress_bar

__all__ = ["ENTITIES", "ImportReport", "MlflowImport", "Plan", "RunOutcome"]

PARENT_TAG = "mlflow.parentRunId"
NOTE_TAG = "mlflow.note.content"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATUSES = {
    "RUNNING": "running",
    "SCHEDULED": "scheduled",
    "FINISHED": "completed",
    "FAILED": "failed",
    "KILLED": "killed",
}
ENTITIES = (
    "experiments",
    "runs",
    "params",
    "tags",
    "metric points",
    "datasets",
    "artifacts",
    "logged models",
    "registered models",
    "model versions",
)


def _time(ms: int | None) -> str | None:
    return None if ms is None else (EPOCH + timedelta(milliseconds=int(ms))).isoformat()


def _hex_id(run_id: str) -> bool:
    return len(run_id) == 32 and all(c in "0123456789abcdef" for c in run_id.lower())


@dataclass
class Plan:
    """What the source holds that the import covers: experiments with their runs, their
    logged models, and the registered models."""

    experiments: list[Any]
    runs: dict[str, list[Any]]  # source experiment id -> runs
    logged_models: list[Any] = field(default_factory=list)
    registered: list[RegisteredModel] = field(default_factory=list)

    @property
    def all_runs(self) -> list[Any]:
        return [run for runs in self.runs.values() for run in runs]

    def source_counts(self) -> dict[str, int]:
        runs = self.all_runs
        return {
            "experiments": len(self.experiments),
            "runs": len(runs),
            "params": sum(len(run.data.params) for run in runs),
            "tags": sum(len(run.data.tags) for run in runs),
            "metric series": sum(len(run.data.metrics) for run in runs),
            "datasets": sum(len(run.inputs.dataset_inputs) for run in runs if run.inputs),
            "logged models": len(self.logged_models),
            "registered models": len(self.registered),
            "model versions": sum(len(item.versions) for item in self.registered),
        }


@dataclass
class RunOutcome:
    """One run's copy: what was sent, and what each side holds afterwards."""

    run_id: str
    name: str
    source: dict[str, int] = field(default_factory=dict)
    target: dict[str, int] = field(default_factory=dict)
    source_checksum: str = ""
    target_checksum: str = ""
    points_sent: int = 0
    files_sent: int = 0
    error: str | None = None

    @property
    def equal(self) -> bool:
        return (
            self.error is None
            and self.source_checksum == self.target_checksum
            and self.source == self.target
        )


@dataclass
class ImportReport:
    counts: dict[str, tuple[int, int]]  # entity -> (source, target)
    runs: list[RunOutcome]
    models: list[ModelOutcome] = field(default_factory=list)

    @property
    def mismatched(self) -> list[RunOutcome]:
        return [outcome for outcome in self.runs if not outcome.equal]

    @property
    def mismatched_models(self) -> list[ModelOutcome]:
        return [outcome for outcome in self.models if not outcome.equal]

    @property
    def skipped_models(self) -> list[ModelOutcome]:
        return [outcome for outcome in self.models if outcome.skipped is not None]


def _depth_waves(runs: Sequence[Any]) -> list[list[Any]]:
    """Runs in waves: every run's parent (when it is among them) in an earlier wave."""
    by_id = {run.info.run_id: run for run in runs}
    depth: dict[str, int] = {}

    def of(run_id: str, seen: frozenset[str] = frozenset()) -> int:
        if run_id not in depth:
            parent = by_id[run_id].data.tags.get(PARENT_TAG)
            if parent in by_id and parent not in seen and parent != run_id:
                depth[run_id] = of(parent, seen | {run_id}) + 1
            else:
                depth[run_id] = 0
        return depth[run_id]

    waves: dict[int, list[Any]] = {}
    for run in runs:
        waves.setdefault(of(run.info.run_id), []).append(run)
    return [waves[level] for level in sorted(waves)]


class MlflowImport:
    """One import from `source` into `target`, with `workers` runs copied at a time."""

    def __init__(
        self,
        source: MlflowSource,
        target: Target,
        *,
        workers: int = 4,
        stop_after_runs: int | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.workers = max(1, workers)
        self.stop_after_runs = stop_after_runs
        self._done = 0
        self._lock = threading.Lock()

    def plan(self, names: Iterable[str] = (), since: datetime | None = None) -> Plan:
        wanted = set(names)
        experiments = [e for e in self.source.experiments() if not wanted or e.name in wanted]
        missing = wanted - {e.name for e in experiments}
        if missing:
            raise MltrailError(
                f"no live experiment named {', '.join(sorted(map(repr, missing)))} in "
                f"{self.source.uri}"
            )
        since_ms = None if since is None else int(since.timestamp() * 1000)
        runs = {e.experiment_id: self.source.runs(e.experiment_id, since_ms) for e in experiments}
        logged = [
            model
            for model in self.source.logged_models([e.experiment_id for e in experiments])
            if since_ms is None or int(model.creation_timestamp or 0) >= since_ms
        ]
        registered = [
            RegisteredModel(model, self.source.versions(model.name))
            for model in self.source.registered_models()
        ]
        if wanted or since_ms is not None:
            # Filtered: only the registered models with a version from what is copied.
            runs_in = {run.info.run_id for listed in runs.values() for run in listed}
            models_in = {model.model_id for model in logged}
            registered = [
                item
                for item in registered
                if any(
                    v.run_id in runs_in or getattr(v, "model_id", None) in models_in
                    for v in item.versions
                )
            ]
        return Plan(experiments, runs, logged, registered)

    def run(self, plan: Plan) -> ImportReport:
        self.target.check_admin()
        ids = self._experiments(plan)
        outcomes: list[RunOutcome] = []
        runs = plan.all_runs
        with (
            progress_bar(len(runs), "Runs", unit="runs") as advance,
            ThreadPoolExecutor(self.workers, thread_name_prefix="import") as pool,
        ):
            for wave in _depth_waves(runs):
                futures = [
                    pool.submit(self._copy_guarded, run, ids[run.info.experiment_id], advance)
                    for run in wave
                ]
                outcomes.extend(future.result() for future in futures)
        lineage = Lineage({run.info.run_id: run.info.artifact_uri or "" for run in runs})
        models = ModelsImport(self.source, self.target, ids, lineage).run(
            plan.logged_models, plan.registered
        )
        return self._report(plan, ids, outcomes, models)

    # -- phases ----------------------------------------------------------------------------------

    def _experiments(self, plan: Plan) -> dict[str, str]:
        """Source experiment id -> this server's, creating what is missing."""
        ids: dict[str, str] = {}
        with progress_bar(len(plan.experiments), "Experiments", unit="experiments") as advance:
            for experiment in plan.experiments:
                tags = dict(experiment.tags)
                if experiment.experiment_id == DEFAULT_EXPERIMENT:
                    ids[DEFAULT_EXPERIMENT] = self.target.ensure_default_experiment(tags)
                else:
                    ids[experiment.experiment_id] = self.target.ensure_experiment(
                        experiment.name, tags
                    )
                advance(1)
        return ids

    def _copy_guarded(self, run: Any, experiment_id: str, advance: Advance) -> RunOutcome:
        outcome = RunOutcome(run.info.run_id, run.info.run_name or "")
        try:
            self._copy(run, experiment_id, outcome)
        except MltrailError as exc:
            outcome.error = str(exc)
        except Exception as exc:  # the source's own errors (MlflowException, OSError...)
            outcome.error = f"{type(exc).__name__}: {exc}"
        advance(1)
        with self._lock:
            self._done += 1
            if self.stop_after_runs is not None and self._done >= self.stop_after_runs:
                # A test's stand-in for a killed import (MLTRAIL_IMPORT_STOP_AFTER_RUNS).
                os.kill(os.getpid(), signal.SIGKILL)
        return outcome

    def _copy(self, run: Any, experiment_id: str, outcome: RunOutcome) -> None:
        info, data = run.info, run.data
        run_id = info.run_id
        if not _hex_id(run_id):
            raise MltrailError(f"run id {run_id!r} is not 32 hex digits: it cannot be kept")
        note = data.tags.get(NOTE_TAG)
        ours = self.target.import_run(
            {
                "id": run_id,
                "experiment_id": v1_experiment_id(experiment_id),
                "name": (info.run_name or run_id)[:250],
                "status": STATUSES.get(info.status, "failed"),
                "user": (info.user_id or None) and info.user_id[:255],
                "description": note[:5000] if note else None,
                "parent_run_id": data.tags.get(PARENT_TAG) or None,
                "started_at": _time(info.start_time or info.end_time or 0),
                "ended_at": _time(info.end_time),
            }
        )
        self.target.log_params_and_tags(run_id, data.params, data.tags)
        series = {}
        for key in sorted(data.metrics):
            points = self.source.history(run_id, key)
            series[key] = series_digest(points)
            if (
                key in ours.get("metrics", {})
                and series_digest(self.target.history(run_id, key)) == series[key]
            ):
                continue
            self.target.log_points(run_id, key, points)
            outcome.points_sent += len(points)
        datasets = self._datasets(run)
        if datasets:
            self.target.log_inputs(run_id, datasets)
        outcome.files_sent = self._artifacts(run_id, outcome)
        source_digest = RunDigest(series)
        outcome.source_checksum = source_digest.checksum
        outcome.source.update(
            params=len(data.params),
            tags=len(data.tags),
            points=source_digest.points,
            datasets=len(datasets),
        )
        self._verify(run_id, outcome)
        if info.lifecycle_stage == "deleted":
            self.target.delete_run(run_id)

    @staticmethod
    def _datasets(run: Any) -> list[dict[str, Any]]:
        inputs = run.inputs.dataset_inputs if run.inputs else []
        return [
            {
                "tags": [{"key": tag.key, "value": tag.value} for tag in item.tags],
                "dataset": {
                    name: getattr(item.dataset, name)
                    for name in ("name", "digest", "source_type", "source", "schema", "profile")
                    if getattr(item.dataset, name, None) is not None
                },
            }
            for item in inputs
        ]

    def _artifacts(self, run_id: str, outcome: RunOutcome) -> int:
        """Send the files missing here or of another size; return how many."""
        files = self.source.artifact_files(run_id)
        have = self.target.artifact_files(run_id)
        outcome.source.update(artifacts=len(files), artifact_bytes=sum(files.values()))
        sent = 0
        for path, size in sorted(files.items()):
            if have.get(path) == size:
                continue
            with tempfile.TemporaryDirectory(prefix="mltrail-import-") as folder:
                local = self.source.download(run_id, path, Path(folder))
                self.target.upload(run_id, local, path)
            sent += 1
        return sent

    def _verify(self, run_id: str, outcome: RunOutcome) -> None:
        ours = self.target.mlflow_run(run_id)
        data = ours.get("data", {})
        keys = sorted({metric["key"] for metric in data.get("metrics", [])})
        digest = RunDigest({key: series_digest(self.target.history(run_id, key)) for key in keys})
        files = self.target.artifact_files(run_id)
        outcome.target_checksum = digest.checksum
        outcome.target.update(
            params=len(data.get("params", [])),
            tags=len(data.get("tags", [])),
            points=digest.points,
            datasets=len(ours.get("inputs", {}).get("dataset_inputs", [])),
            artifacts=len(files),
            artifact_bytes=sum(files.values()),
        )

    def _report(
        self,
        plan: Plan,
        ids: dict[str, str],
        outcomes: list[RunOutcome],
        models: list[ModelOutcome],
    ) -> ImportReport:
        def total(side: str, what: str) -> int:
            return sum(getattr(outcome, side).get(what, 0) for outcome in outcomes)

        copied = [outcome for outcome in outcomes if outcome.error is None]
        counts = {
            "experiments": (len(plan.experiments), len(set(ids.values()))),
            "runs": (len(outcomes), len(copied)),
        }
        for entity, what in (
            ("params", "params"),
            ("tags", "tags"),
            ("metric points", "points"),
            ("datasets", "datasets"),
            ("artifacts", "artifacts"),
            ("artifact bytes", "artifact_bytes"),
        ):
            counts[entity] = (total("source", what), total("target", what))
        counts.update(model_counts(models))
        return ImportReport(counts, outcomes, models)
