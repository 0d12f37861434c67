"""The model phases of an MLflow import, after the runs: logged models (MLflow 3), then
registered models with their versions and aliases.

A logged model keeps its `m-…` id, name, source run, status, params, tags and metrics; its
files are copied under the location this server gives it (one at a time, through a
temporary file; a file already here with the same size is not sent again). A registered
model keeps its name, description and tags, each version its number, description, status,
stage, user and tags, and its aliases. A version's source is rewritten to what this server
resolves to its copy of the files: `models:/m-…` and `runs:/<id>/…` stay (ids are kept), an
artifact URI inside a copied run's or logged model's files becomes the matching
`runs:/…` or location here, `models:/<name>@<alias>` becomes `models:/<name>/<n>`. A model
with a version whose run or logged model was not copied (filtered out, or in a deleted
experiment) is skipped and named. Every request makes what is here match, so the phases are
simply run again after an interruption.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mltrail.encoding import encode_value
from mltrail.errors import MltrailError
from mltrail.imports.mlflow_source import MlflowSource
from mltrail.imports.target import Target, v1_experiment_id
from mltrail.progress import progress_bar

__all__ = [
    "Lineage",
    "ModelOutcome",
    "ModelsImport",
    "RegisteredModel",
    "model_counts",
    "rewrite_source",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
VERSIONS_PER_REQUEST = 500  # /api/v1/import/registered-models takes at most 1,000
METRICS_PER_REQUEST = 10_000
LOGGED_MODEL = "logged model"
REGISTERED_MODEL = "registered model"
STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


def _time(ms: int | None) -> str:
    return (EPOCH + timedelta(milliseconds=int(ms or 0))).isoformat()


def _status(value: Any) -> str:
    text = str(getattr(value, "value", value) or "READY").upper()
    return text if text in ("UNSPECIFIED", "PENDING", "READY", "FAILED") else "READY"


@dataclass
class RegisteredModel:
    """A registered model of the source, with its versions (oldest first)."""

    model: Any
    versions: list[Any]

    @property
    def name(self) -> str:
        return str(self.model.name)

    @property
    def aliases(self) -> dict[str, int]:
        return {alias: int(number) for alias, number in (self.model.aliases or {}).items()}


@dataclass
class ModelOutcome:
    """One logged or registered model's copy: what each side holds afterwards."""

    kind: str
    id: str  # the logged model's id, the registered model's name
    source: dict[str, int] = field(default_factory=dict)
    target: dict[str, int] = field(default_factory=dict)
    files_sent: int = 0
    error: str | None = None
    skipped: str | None = None  # why it was not copied (not an error)

    @property
    def equal(self) -> bool:
        return self.skipped is not None or (self.error is None and self.source == self.target)


@dataclass
class Lineage:
    """What the runs phase copied, for rewriting sources: run id -> its artifact URI in the
    source, and logged model id -> (its location in the source, its location here)."""

    runs: dict[str, str]
    logged_models: dict[str, tuple[str, str]] = field(default_factory=dict)
    aliases: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> alias -> n


class Unreachable(Exception):
    """A version's source names a run or logged model that was not copied."""


def _under(uri: str, root: str) -> str | None:
    """`uri`'s path below `root` ('' for `root` itself), or None when it is not inside."""
    root = root.rstrip("/")
    if not root:
        return None
    if uri.rstrip("/") == root:
        return ""
    if uri.startswith(root + "/"):
        return uri[len(root) + 1 :].strip("/")
    return None


def rewrite_source(version: Any, lineage: Lineage) -> str:
    """The source to register here for `version`, so its files load from this server."""
    source = str(version.source)
    scheme, _, rest = source.partition(":")
    body = rest.lstrip("/")
    if scheme == "models":
        if body.startswith("m-") and "/" not in body.rstrip("/"):
            if body.rstrip("/") not in lineage.logged_models:
                raise Unreachable(f"its logged model {body.rstrip('/')} was not copied")
            return source
        name, at, alias = body.partition("@")
        if at:
            number = lineage.aliases.get(name, {}).get(alias)
            if number is None:
                raise Unreachable(f"{source}: no alias {alias!r} of {name!r} in the source")
            return f"models:/{name}/{number}"
        return source
    if scheme == "runs":
        run_id = body.partition("/")[0]
        if run_id not in lineage.runs:
            raise Unreachable(f"its run {run_id} was not copied")
        return source
    owned = getattr(version, "model_id", None)
    for model_id, (there, here) in sorted(
        lineage.logged_models.items(), key=lambda item: item[0] != owned
    ):
        below = _under(source, there)
        if below is not None:
            return f"models:/{model_id}" if below == "" else f"{here.rstrip('/')}/{below}"
    for run_id, root in sorted(lineage.runs.items(), key=lambda item: item[0] != version.run_id):
        below = _under(source, root)
        if below is not None:
            return f"runs:/{run_id}/{below}" if below else f"runs:/{run_id}"
    return source  # somewhere else (s3://…): registered as it is


class ModelsImport:
    """The model phases, into `experiments` (source experiment id -> this server's)."""

    def __init__(
        self,
        source: MlflowSource,
        target: Target,
        experiments: Mapping[str, str],
        lineage: Lineage,
    ) -> None:
        self.source = source
        self.target = target
        self.experiments = experiments
        self.lineage = lineage

    def run(
        self, logged_models: Sequence[Any], registered: Sequence[RegisteredModel]
    ) -> list[ModelOutcome]:
        outcomes: list[ModelOutcome] = []
        with progress_bar(len(logged_models), "Logged models", unit="models") as advance:
            for model in logged_models:
                outcomes.append(self._guarded(LOGGED_MODEL, model.model_id, self._logged, model))
                advance(1)
        self.lineage.aliases = {item.name: item.aliases for item in registered}
        with progress_bar(len(registered), "Registered models", unit="models") as advance:
            done: list[ModelOutcome] = []
            for item in registered:
                done.append(self._guarded(REGISTERED_MODEL, item.name, self._registered, item))
                advance(1)
        # A version copied from another registered model (`models:/<name>/<n>`) needs that
        # model here first: the ones that failed go once more, after all the others.
        again = {outcome.id for outcome in done if outcome.error}
        for item in registered:
            if item.name in again:
                retried = self._guarded(REGISTERED_MODEL, item.name, self._registered, item)
                done = [retried if o.id == item.name else o for o in done]
        return outcomes + done

    @staticmethod
    def _guarded(kind: str, name: str, copy: Any, item: Any) -> ModelOutcome:
        outcome = ModelOutcome(kind, name)
        try:
            copy(item, outcome)
        except Unreachable as exc:
            outcome.skipped = str(exc)
        except MltrailError as exc:
            outcome.error = str(exc)
        except Exception as exc:  # the source's own errors (MlflowException, OSError...)
            outcome.error = f"{type(exc).__name__}: {exc}"
        return outcome

    # -- logged models ---------------------------------------------------------------------------

    def _logged(self, model: Any, outcome: ModelOutcome) -> None:
        points = [
            {
                "key": metric.key,
                "value": encode_value(float(metric.value)),
                "timestamp": int(metric.timestamp),
                "step": int(metric.step or 0),
                "run_id": metric.run_id,
                "dataset_name": metric.dataset_name or None,
                "dataset_digest": metric.dataset_digest or None,
            }
            for metric in (model.metrics or [])
            if getattr(metric, "run_id", None)
        ]
        body = {
            "id": model.model_id,
            "experiment_id": v1_experiment_id(self.experiments[str(model.experiment_id)]),
            "name": model.name,
            "model_type": model.model_type or None,
            "source_run_id": model.source_run_id or None,
            "status": _status(model.status),
            "status_message": model.status_message or None,
            "tags": dict(model.tags or {}),
            "params": dict(model.params or {}),
            "created_at": _time(model.creation_timestamp),
            "updated_at": _time(model.last_updated_timestamp),
        }
        ours: dict[str, Any] = {}
        for start in range(0, max(len(points), 1), METRICS_PER_REQUEST):
            chunk = points[start : start + METRICS_PER_REQUEST]
            ours = self.target.import_logged_model({**body, "metrics": chunk})
        location = str(ours["artifact_location"])
        self.lineage.logged_models[model.model_id] = (model.artifact_location, location)
        files = self.source.logged_model_files(model)
        have = self.target.stored_files(location)
        for path, size in sorted(files.items()):
            if have.get(path) == size:
                continue
            with tempfile.TemporaryDirectory(prefix="mltrail-import-") as folder:
                local = self.source.download_logged_model_file(model, path, Path(folder))
                self.target.store_file(location, local, path)
            outcome.files_sent += 1
        outcome.source.update(
            params=len(body["params"]),
            tags=len(body["tags"]),
            metrics=len({(p["key"], p["timestamp"], p["step"], p["run_id"]) for p in points}),
            artifacts=len(files),
            artifact_bytes=sum(files.values()),
        )
        here = self.target.mlflow_logged_model(model.model_id)
        stored = self.target.stored_files(location)
        outcome.target.update(
            params=len(here.get("data", {}).get("params") or []),
            tags=len(here.get("info", {}).get("tags") or []),
            metrics=len(here.get("data", {}).get("metrics") or []),
            artifacts=len(stored),
            artifact_bytes=sum(stored.values()),
        )

    # -- registered models -----------------------------------------------------------------------

    def _registered(self, item: RegisteredModel, outcome: ModelOutcome) -> None:
        versions = []
        for version in item.versions:
            try:
                source = rewrite_source(version, self.lineage)
            except Unreachable as exc:
                raise Unreachable(f"version {version.version}: {exc}") from None
            versions.append(
                {
                    "version": int(version.version),
                    "source": source,
                    "run_id": version.run_id or None,
                    "logged_model_id": getattr(version, "model_id", None) or None,
                    "run_link": version.run_link or None,
                    "user": (version.user_id or None) and version.user_id[:255],
                    "status": str(version.status or "READY"),
                    "stage": STAGES.get(str(version.current_stage or "None").lower(), "None"),
                    "description": version.description or None,
                    "tags": dict(version.tags or {}),
                    "created_at": _time(version.creation_timestamp),
                    "updated_at": _time(version.last_updated_timestamp),
                }
            )
        model = item.model
        tags: dict[str, str] = dict(model.tags or {})
        body = {
            "name": item.name,
            "description": model.description or None,
            "tags": tags,
            "created_at": _time(model.creation_timestamp),
            "updated_at": _time(model.last_updated_timestamp),
        }
        chunks = [
            versions[start : start + VERSIONS_PER_REQUEST]
            for start in range(0, len(versions), VERSIONS_PER_REQUEST)
        ] or [[]]
        ours: dict[str, Any] = {}
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            ours = self.target.import_registered_model(
                {**body, "versions": chunk, "aliases": item.aliases if last else {}}
            )
        outcome.source.update(_registry_counts(tags, item.aliases, versions))
        here = self.target.model_versions(item.name)
        outcome.target.update(
            _registry_counts(
                ours.get("tags") or {},
                ours.get("aliases") or {},
                [{"version": n, "tags": v.get("tags") or {}} for n, v in sorted(here.items())],
            )
        )


def _registry_counts(
    tags: Mapping[str, str], aliases: Mapping[str, int], versions: Iterable[Mapping[str, Any]]
) -> dict[str, int]:
    listed = list(versions)
    return {
        "tags": len(tags),
        "aliases": len(aliases),
        "versions": len(listed),
        "version tags": sum(len(version["tags"]) for version in listed),
    }


def model_counts(models: list[ModelOutcome]) -> dict[str, tuple[int, int]]:
    """The model phases' lines of the closing table (skipped models left out)."""
    logged = [m for m in models if m.kind == LOGGED_MODEL and m.skipped is None]
    registered = [m for m in models if m.kind == REGISTERED_MODEL and m.skipped is None]

    def total(items: list[ModelOutcome], what: str) -> tuple[int, int]:
        return (
            sum(m.source.get(what, 0) for m in items),
            sum(m.target.get(what, 0) for m in items),
        )

    def copied(items: list[ModelOutcome]) -> tuple[int, int]:
        return len(items), sum(1 for m in items if m.error is None)

    tags = total(registered, "tags"), total(registered, "version tags")
    return {
        "logged models": copied(logged),
        "logged model artifacts": total(logged, "artifacts"),
        "registered models": copied(registered),
        "model versions": total(registered, "versions"),
        "model aliases": total(registered, "aliases"),
        "model and version tags": (tags[0][0] + tags[1][0], tags[0][1] + tags[1][1]),
    }
