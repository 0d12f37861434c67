"""The server an import writes to, through its HTTP API and an admin's key: experiments
through the MLflow wire (names keep their spaces and case, as MLflow's do), runs through
the admin-only `POST /api/v1/import/runs` (ids, times and status kept), then what each run
logged through the run's own routes; logged models and registered models through
`POST /api/v1/import/logged-models` and `.../registered-models` (ids and version numbers
kept), a logged model's files through the MLflow artifact routes. Every write is safe to
send again."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mltrail import artifacts
from mltrail.encoding import decode_value, encode_value
from mltrail.errors import MltrailError, NotFound
from mltrail.imports.checksum import Point
from mltrail.transport import Transport

__all__ = ["DEFAULT_EXPERIMENT", "Target", "v1_experiment_id"]

ML = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts/artifacts"
PROXIED = "mlflow-artifacts:"
DEFAULT_EXPERIMENT = "0"
BATCH_POINTS = 10_000  # /api/v1/runs/{id}/batch limits
BATCH_KEYS = 1_000
HISTORY_PAGE = 25_000


def v1_experiment_id(experiment_id: str) -> str:
    """The /api/v1 spelling (a UUID) of an experiment id the MLflow wire gave: MLflow's
    default experiment "0" is the nil UUID there."""
    return "0" * 32 if experiment_id == DEFAULT_EXPERIMENT else experiment_id


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Target:
    """One server; `transport` carries the admin's key (see mltrail.config)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def url(self) -> str:
        return self.transport.settings.url

    def check_admin(self) -> None:
        """Refuse early, before anything is copied, a key that is not an admin's."""
        me = self.transport.json("GET", "/api/v1/me")
        if me.get("authenticated") and me.get("role") != "admin":
            raise MltrailError(
                f"an import writes runs with their own ids, which only an admin may: the key "
                f"of {me.get('name')!r} ({me.get('role')}) is not an admin's "
                "(set MLTRAIL_API_KEY to an admin's key)"
            )

    # -- experiments ---------------------------------------------------------------------------

    def find_experiment(self, name: str) -> dict[str, Any] | None:
        try:
            found = self.transport.json(
                "GET", f"{ML}/experiments/get-by-name", params={"experiment_name": name}
            )
        except NotFound:
            return None
        experiment: dict[str, Any] = found["experiment"]
        return experiment if experiment.get("lifecycle_stage") == "active" else None

    def ensure_experiment(self, name: str, tags: Mapping[str, str]) -> str:
        """The MLflow id of the live experiment `name` here, created if missing, with `tags`."""
        found = self.find_experiment(name)
        if found is None:
            body = {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]}
            created = self.transport.json("POST", f"{ML}/experiments/create", json=body)
            return str(created["experiment_id"])
        experiment_id = str(found["experiment_id"])
        self._set_tags(experiment_id, found, tags)
        return experiment_id

    def ensure_default_experiment(self, tags: Mapping[str, str]) -> str:
        """MLflow's default experiment "0" here, with `tags` added."""
        found = self.transport.json(
            "GET", f"{ML}/experiments/get", params={"experiment_id": DEFAULT_EXPERIMENT}
        )["experiment"]
        self._set_tags(DEFAULT_EXPERIMENT, found, tags)
        return DEFAULT_EXPERIMENT

    def _set_tags(
        self, experiment_id: str, found: Mapping[str, Any], tags: Mapping[str, str]
    ) -> None:
        have = {tag["key"]: tag["value"] for tag in found.get("tags", [])}
        for key, value in tags.items():
            if have.get(key) != value:
                body = {"experiment_id": experiment_id, "key": key, "value": value}
                self.transport.json("POST", f"{ML}/experiments/set-experiment-tag", json=body)

    # -- runs ------------------------------------------------------------------------------------

    def import_run(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create the run as given, or make the existing one match; the run as v1 shows it."""
        run: dict[str, Any] = self.transport.json("POST", "/api/v1/import/runs", json=body)
        return run

    def log_params_and_tags(
        self, run_id: str, params: Mapping[str, str], tags: Mapping[str, str]
    ) -> None:
        items = [("params", k, v) for k, v in params.items()]
        items += [("tags", k, v) for k, v in tags.items()]
        for chunk in _chunks(items, BATCH_KEYS):
            body: dict[str, dict[str, str]] = {"params": {}, "tags": {}}
            for kind, key, value in chunk:
                body[kind][key] = value
            self.transport.json("POST", f"/api/v1/runs/{run_id}/batch", json=body)

    def log_points(self, run_id: str, key: str, points: Sequence[Point]) -> None:
        """Send a series; points the server holds already are not stored twice."""
        for chunk in _chunks(points, BATCH_POINTS):
            metrics = [
                {"key": key, "step": step, "timestamp": timestamp, "value": encode_value(value)}
                for step, timestamp, value in chunk
            ]
            self.transport.json("POST", f"/api/v1/runs/{run_id}/batch", json={"metrics": metrics})

    def history(self, run_id: str, key: str) -> list[Point]:
        points: list[Point] = []
        cursor: str | None = None
        while True:
            page = self.transport.json(
                "GET",
                f"/api/v1/runs/{run_id}/metrics/history",
                params={"key": key, "cursor": cursor, "limit": HISTORY_PAGE},
            )
            points.extend(
                (int(p["step"]), int(p["timestamp"]), decode_value(p["value"]))
                for p in page.get("points", [])
            )
            cursor = page.get("next_cursor")
            if not cursor:
                return points

    def mlflow_run(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.transport.json(
            "GET", f"{ML}/runs/get", params={"run_id": run_id}
        )["run"]
        return run

    def log_inputs(self, run_id: str, datasets: Sequence[Mapping[str, Any]]) -> None:
        """Datasets a run used (an input the run has already is replaced, not doubled)."""
        for chunk in _chunks(datasets, 1000):
            body = {"run_id": run_id, "datasets": list(chunk)}
            self.transport.json("POST", f"{ML}/runs/log-inputs", json=body)

    def delete_run(self, run_id: str) -> None:
        self.transport.request("DELETE", f"/api/v1/runs/{run_id}")

    # -- artifacts -------------------------------------------------------------------------------

    def artifact_files(self, run_id: str) -> dict[str, int]:
        """Every file of a run's artifacts: path -> size."""
        files: dict[str, int] = {}
        pending = [""]
        while pending:
            directory = pending.pop()
            try:
                listed = artifacts.list_artifacts(self.transport, run_id, directory or None)
            except NotFound:
                continue
            for item in listed:
                if item.is_dir:
                    pending.append(item.path)
                else:
                    files[item.path] = item.size or 0
        return files

    def upload(self, run_id: str, local: Path, path: str) -> None:
        """Upload `local` as the artifact `path` (streamed from disk)."""
        directory, _, name = path.rpartition("/")
        if name != local.name:
            renamed = local.with_name(name)
            os.replace(local, renamed)
            local = renamed
        artifacts.upload_file(self.transport, run_id, local, directory or None)

    # -- logged models and the registry ----------------------------------------------------------

    def import_logged_model(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create the logged model as given, or make the existing one match; v1's view."""
        model: dict[str, Any] = self.transport.json(
            "POST", "/api/v1/import/logged-models", json=body
        )
        return model

    def mlflow_logged_model(self, model_id: str) -> dict[str, Any]:
        model: dict[str, Any] = self.transport.json("GET", f"{ML}/logged-models/{model_id}")[
            "model"
        ]
        return model

    def import_registered_model(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create the registered model with the versions sent, or make it match; v1's view."""
        model: dict[str, Any] = self.transport.json(
            "POST", "/api/v1/import/registered-models", json=body
        )
        return model

    def model_versions(self, name: str) -> dict[int, dict[str, Any]]:
        """A registered model's versions here, by number (v1's view)."""
        found: dict[int, dict[str, Any]] = {}
        page = 1
        while True:
            listed = self.transport.json(
                "GET",
                f"/api/v1/models/{quote(name, safe='')}/versions",
                params={"page": page, "per_page": 100},
            )
            found.update({int(item["version"]): item for item in listed["items"]})
            if page >= int(listed.get("pages") or 1):
                return found
            page += 1

    @staticmethod
    def store_path(location: str) -> str:
        """The path in this server's artifact store of a location it gave out."""
        if not location.startswith(PROXIED):
            raise MltrailError(
                f"{location} is not in this server's artifact store ({PROXIED}/...): the "
                "experiment here has an artifact location of its own, so the files are not copied"
            )
        return location[len(PROXIED) :].strip("/")

    def stored_files(self, location: str) -> dict[str, int]:
        """Every file under a location of this server's artifact store: path -> size."""
        root = self.store_path(location)
        files: dict[str, int] = {}
        pending = [""]
        while pending:
            directory = pending.pop()
            path = f"{root}/{directory}" if directory else root
            listed = self.transport.json("GET", ARTIFACTS_API, params={"path": path})
            for item in listed.get("files") or []:
                relative = f"{directory}/{item['path']}" if directory else item["path"]
                if item.get("is_dir"):
                    pending.append(relative)
                else:
                    files[relative] = int(item.get("file_size") or 0)
        return files

    def store_file(self, location: str, local: Path, path: str) -> None:
        """Upload `local` as `path` under a location of this server's artifact store."""
        size = local.stat().st_size
        target = quote(f"{self.store_path(location)}/{path}", safe="/")
        self.transport.request(
            "PUT",
            f"{ARTIFACTS_API}/{target}",
            body=artifacts.file_body(local, size),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
