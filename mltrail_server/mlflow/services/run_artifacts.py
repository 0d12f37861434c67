"""MLflow's `artifacts/list`, `get-artifact` and its UI's `upload-artifact`: a run's artifacts
by run id, as its UI and older clients reach them (paths relative to the run's artifact root,
unlike `mlflow-artifacts`' basenames).

MLflow refuses any path with a `..` segment, a backslash, a `#` or a leading `/` ("Invalid
path", 400), rather than resolving it; a missing directory or a file lists as empty. Its UI's
uploads are at most 10 MB each (400 above that, as MLflow's server answers)."""

import posixpath
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.db.tables import Run as RunRow
from mltrail_server.errors import InvalidInput, InvalidPath
from mltrail_server.mlflow import wire
from mltrail_server.mlflow.errors import missing_value
from mltrail_server.mlflow.services.runs import run_not_found, run_ref
from mltrail_server.mlflow.translate import run_artifact_uri
from mltrail_server.mlflow.wire_artifacts import UploadArtifactQuery
from mltrail_server.services.artifact_paths import canonical_path, run_artifact_prefix
from mltrail_server.services.artifacts import ArtifactService
from mltrail_server.storage import ArtifactDownload

UI_UPLOAD_MAX_BYTES = 10 * 1024 * 1024  # MLflow's limit for its UI's uploads
UI_UPLOAD_TOO_LARGE = "Artifact size is too large. Max size is 10MB."


def safe_relative_path(text: str) -> str:
    """The path as MLflow's server accepts it, canonical; "Invalid path" otherwise."""
    if (
        "#" in text
        or "\\" in text
        or text.startswith("/")
        or ".." in text.split("/")
        or (len(text) >= 2 and text[1] == ":")
    ):
        raise InvalidPath("Invalid path")
    return canonical_path(text)


@dataclass
class MlflowRunArtifactService:
    session: AsyncSession
    artifacts: ArtifactService

    async def list(self, query: wire.ListRunArtifacts) -> wire.ListRunArtifactsResponse:
        relative = safe_relative_path(query.path) if query.path else ""
        row = await self._run(query)
        prefix = run_artifact_prefix(row.experiment_id, row.id)
        files = await list_files(self.artifacts, prefix, relative)
        return wire.ListRunArtifactsResponse(
            root_uri=run_artifact_uri(row.experiment_id, row.id, row.artifact_uri),
            files=files,
        )

    async def download(self, query: wire.GetArtifactQuery) -> tuple[ArtifactDownload, str]:
        """The file at `path` of the run's artifacts (MLflow's `get-artifact`), and its path."""
        if not query.path:
            raise InvalidInput(missing_value("path"))
        relative = safe_relative_path(query.path)
        row = await self._run(query)
        prefix = run_artifact_prefix(row.experiment_id, row.id)
        return await self.artifacts.download(f"{prefix}/{relative}"), relative

    async def upload(
        self, query: UploadArtifactQuery, chunks: AsyncIterable[bytes], declared: int | None
    ) -> None:
        """Store the body as the file at `path` of the run `run_uuid` names (MLflow's UI's
        `upload-artifact`), replacing it; checked in MLflow's order, with its messages."""
        if not query.run_uuid:
            raise InvalidInput("Request must specify run_uuid.")
        if not query.path:
            raise InvalidInput("Request must specify path.")
        relative = safe_relative_path(query.path)
        if not relative:
            raise InvalidPath("Invalid path")
        if declared is not None and declared > UI_UPLOAD_MAX_BYTES:
            raise InvalidInput(UI_UPLOAD_TOO_LARGE)
        data = await _read_at_most(chunks, UI_UPLOAD_MAX_BYTES)
        if not data:
            raise InvalidInput("Request must specify data.")
        row = await self._run(wire.RunRef(run_uuid=query.run_uuid))
        prefix = run_artifact_prefix(row.experiment_id, row.id)
        await self.artifacts.write_file(f"{prefix}/{relative}", _once(data), len(data))

    async def _run(self, ref: wire.RunRef) -> RunRow:
        run_id, text = run_ref(ref)
        row = await runs_repo.get_any(self.session, run_id)
        if row is None:
            raise run_not_found(text)
        return row


async def _read_at_most(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """The whole body, refused as MLflow refuses it once it grows past `limit` bytes."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise InvalidInput(UI_UPLOAD_TOO_LARGE)
    return bytes(body)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def list_files(artifacts: ArtifactService, prefix: str, relative: str) -> list[wire.FileInfo]:
    """The entries directly under `relative` in the store's `prefix` ('' : the prefix
    itself), with paths relative to the prefix, as MLflow lists them."""
    entries = await artifacts.list(f"{prefix}/{relative}" if relative else prefix)
    return [
        wire.FileInfo(
            path=posixpath.join(relative, posixpath.basename(entry.path)),
            is_dir=entry.is_dir,
            file_size=None if entry.is_dir else entry.size,
        )
        for entry in entries
    ]
