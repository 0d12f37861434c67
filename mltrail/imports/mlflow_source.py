"""An MLflow tracking store read with the mlflow client's own stores: a tracking server
(`http[s]://...`), a database MLflow wrote (`sqlite:///...`, `postgresql://...`,
`mysql://...`), or an `mlruns` folder. mlflow comes with `pip install 'mltrail[import]'`."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from mltrail.errors import MltrailError
from mltrail.imports.checksum import Point

__all__ = ["MlflowSource", "SourceError", "open_source"]

PAGE = 1000
DATABASE_SCHEMES = ("sqlite:", "postgresql", "postgres:", "mysql", "mssql")
PROBE_SECONDS = 10.0


class SourceError(MltrailError):
    """The source cannot be read: unreachable, not MLflow, or a version mlflow cannot open."""


def _mlflow() -> Any:
    try:
        return importlib.import_module("mlflow.tracking")
    except ImportError:
        raise SourceError(
            "reading an MLflow store needs the mlflow client: pip install 'mltrail[import]'"
        ) from None


def tracking_uri(location: str) -> str:
    """The tracking URI for `--from`: URLs as given, a folder as a `file://` URI."""
    if location.startswith(("http://", "https://")):
        return location.rstrip("/")
    if location.startswith(DATABASE_SCHEMES):
        return location
    folder = Path(location[len("file://") :] if location.startswith("file://") else location)
    if not folder.is_dir():
        raise SourceError(
            f"{location}: no such folder; --from takes an MLflow tracking URI (http[s]://...), "
            "a database URL (sqlite:///path.db, postgresql://...) or an mlruns folder"
        )
    return folder.resolve().as_uri()


def _probe(uri: str) -> None:
    """Fail fast and clearly on a server that is down or is not MLflow (the mlflow client
    would retry for minutes)."""
    headers = {}
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        headers["Authorization"] = f"Bearer {token}"
    auth = None
    if user := os.environ.get("MLFLOW_TRACKING_USERNAME"):
        auth = (user, os.environ.get("MLFLOW_TRACKING_PASSWORD", ""))
    url = f"{uri}/api/2.0/mlflow/experiments/search"
    try:
        response = httpx.get(
            url, params={"max_results": 1}, headers=headers, auth=auth, timeout=PROBE_SECONDS
        )
    except httpx.HTTPError as exc:
        raise SourceError(f"cannot reach the MLflow server at {uri}: {exc}") from None
    if response.status_code in (401, 403):
        raise SourceError(
            f"the MLflow server at {uri} refused the request ({response.status_code}): set "
            "MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        )
    try:
        response.raise_for_status()
        response.json()
    except (httpx.HTTPStatusError, ValueError):
        raise SourceError(
            f"{uri} answered {url} with HTTP {response.status_code}: is it an MLflow "
            "tracking server (2.x or 3.x)?"
        ) from None


def open_source(location: str) -> MlflowSource:
    """The store at `location`, checked to answer."""
    tracking = _mlflow()
    uri = tracking_uri(location)
    if uri.startswith("http"):
        _probe(uri)
    elif uri.startswith("file:"):
        # mlflow 3 refuses to open a folder store unless told to: reading one to move away
        # from it is what its message asks for.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    exceptions = importlib.import_module("mlflow.exceptions")
    try:
        client = tracking.MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
    except exceptions.MlflowException as exc:
        raise SourceError(f"cannot read the MLflow store {location}: {exc.message}") from None
    return MlflowSource(uri, client)


class MlflowSource:
    """Reads experiments, runs, metric histories and artifacts (thread-safe: the workers of
    an import share it)."""

    def __init__(self, uri: str, client: Any) -> None:
        self.uri = uri
        self.client = client
        self._view = importlib.import_module("mlflow.entities").ViewType

    def experiments(self) -> list[Any]:
        """The live experiments."""
        found: list[Any] = []
        token = None
        while True:
            page = self.client.search_experiments(
                view_type=self._view.ACTIVE_ONLY, max_results=PAGE, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                return found

    def runs(self, experiment_id: str, since_ms: int | None) -> list[Any]:
        """The experiment's runs, live and deleted, oldest first."""
        found: list[Any] = []
        token = None
        where = "" if since_ms is None else f"attributes.start_time >= {since_ms}"
        while True:
            page = self.client.search_runs(
                [experiment_id],
                filter_string=where,
                run_view_type=self._view.ALL,
                max_results=PAGE,
                order_by=["attributes.start_time ASC"],
                page_token=token,
            )
            found.extend(page)
            token = page.token
            if not token:
                return found

    def history(self, run_id: str, key: str) -> list[Point]:
        """Every point of a series (the client pages through the server's answers)."""
        return [
            (int(m.step), int(m.timestamp), float(m.value))
            for m in self.client.get_metric_history(run_id, key)
        ]

    def artifact_files(self, run_id: str) -> dict[str, int]:
        """Every file among a run's artifacts: path -> size."""
        files: dict[str, int] = {}
        for info in self._walk(run_id, None):
            files[info.path] = int(info.file_size or 0)
        return files

    def _walk(self, run_id: str, path: str | None) -> Iterator[Any]:
        for info in self.client.list_artifacts(run_id, path):
            if info.is_dir:
                yield from self._walk(run_id, info.path)
            else:
                yield info

    def download(self, run_id: str, path: str, into: Path) -> Path:
        """One artifact file, into the folder `into`."""
        return Path(self.client.download_artifacts(run_id, path, dst_path=str(into)))

    # -- models ----------------------------------------------------------------------------------

    def logged_models(self, experiment_ids: list[str]) -> list[Any]:
        """The live logged models (MLflow 3) of these experiments, with their metrics; none
        from a store older than MLflow 3."""
        if not experiment_ids or not hasattr(self.client, "search_logged_models"):
            return []
        found: list[Any] = []
        token = None
        while True:
            page = self.client.search_logged_models(
                experiment_ids=experiment_ids, max_results=PAGE // 10, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                return found

    def logged_model_files(self, model: Any) -> dict[str, int]:
        """Every file of a logged model's artifacts: path -> size."""
        files: dict[str, int] = {}
        pending: list[str | None] = [None]
        while pending:
            path = pending.pop()
            for info in self.client.list_logged_model_artifacts(model.model_id, path):
                if info.is_dir:
                    pending.append(info.path)
                else:
                    files[info.path] = int(info.file_size or 0)
        return files

    def download_logged_model_file(self, model: Any, path: str, into: Path) -> Path:
        """One file of a logged model's artifacts, into the folder `into`."""
        artifacts = importlib.import_module("mlflow.artifacts")
        local = artifacts.download_artifacts(
            artifact_uri=f"{model.artifact_location.rstrip('/')}/{path}",
            dst_path=str(into),
            tracking_uri=self.uri,
        )
        return Path(local)

    def registered_models(self) -> list[Any]:
        """Every registered model (not prompts, which the mlflow client leaves out)."""
        found: list[Any] = []
        token = None
        while True:
            page = self.client.search_registered_models(max_results=PAGE, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found

    def versions(self, name: str) -> list[Any]:
        """A registered model's versions, oldest first."""
        found: list[Any] = []
        token = None
        quoted = f'"{name}"' if "'" in name else f"'{name}'"
        while True:
            page = self.client.search_model_versions(
                f"name = {quoted}", max_results=PAGE // 5, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                return sorted(found, key=lambda version: int(version.version))
