"""Artifact rules: which paths are allowed, where a run's files live, and the size limit.

A path is relative and '/'-separated: no `..` segment, no leading `/`, no drive letter, no
backslash and no NUL (MLflow's `validate_path_is_safe`); empty and `.` segments are dropped.
A run's files live under `<experiment id>/<run id>/artifacts/` in the store, the same place
the MLflow client uploads to through `mlflow-artifacts:/`, so both APIs see the same files.
"""

import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories import runs as runs_repo
from app.errors import InvalidInput, NotFound, PayloadTooLarge
from app.services.mlflow_translate import run_artifact_prefix
from app.storage import ArtifactDownload, ArtifactStore, FileInfo, TooLarge

__all__ = ["ArtifactFile", "ArtifactListing", "ArtifactService", "clean_path"]


class ArtifactFile(BaseModel):
    """A file or directory among a run's artifacts."""

    path: str = Field(description="Relative to the run's artifact root, '/'-separated")
    is_dir: bool
    size: int | None = Field(description="Bytes; null for a directory")


class ArtifactListing(BaseModel):
    """The entries directly under one directory of a run's artifacts."""

    path: str = Field(description="The directory listed; empty for the root")
    files: list[ArtifactFile]


def clean_path(path: str, *, field: str = "path") -> str:
    """The path normalized ('a//b/./c' -> 'a/b/c'); InvalidInput when it is not safe."""
    if "\x00" in path or "\\" in path:
        raise InvalidInput(f"{field}: {path!r} must not contain backslashes or NUL characters")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise InvalidInput(f"{field}: {path!r} must be a relative path")
    segments = [segment for segment in path.split("/") if segment not in ("", ".")]
    if ".." in segments:
        raise InvalidInput(f"{field}: {path!r} must not contain '..'")
    return "/".join(segments)


def _join(prefix: str, path: str) -> str:
    return f"{prefix}/{path}" if path else prefix


@dataclass
class ArtifactService:
    session: AsyncSession
    store: ArtifactStore
    max_bytes: int

    # -- by store path (the MLflow proxied-artifact API) --------------------------------------

    async def upload(
        self, path: str, chunks: AsyncIterable[bytes], declared_length: int | None
    ) -> FileInfo:
        path = clean_path(path)
        if not path:
            raise InvalidInput("path: give the file's path")
        if declared_length is not None and declared_length > self.max_bytes:
            raise self._too_large()
        try:
            size = await self.store.write(path, chunks, max_bytes=self.max_bytes)
        except TooLarge:
            raise self._too_large() from None
        except (IsADirectoryError, NotADirectoryError, FileExistsError):
            raise InvalidInput(
                f"path: {path!r} cannot be written: a directory and a file would share a name"
            ) from None
        return FileInfo(path, False, size)

    async def download(self, path: str) -> ArtifactDownload:
        path = clean_path(path)
        found = await self.store.download(path) if path else None
        if found is None:
            raise NotFound(f"No artifact file at {path!r}")
        return found

    async def list(self, path: str) -> list[FileInfo]:
        """The directory's entries; empty for a missing path or a file (as MLflow does)."""
        return await self.store.list(clean_path(path)) or []

    async def delete(self, path: str) -> None:
        path = clean_path(path)
        if not path:
            raise InvalidInput("path: refusing to delete every artifact")
        if not await self.store.delete(path):
            raise NotFound(f"No artifact at {path!r}")

    # -- by run (the v1 API) ------------------------------------------------------------------

    async def run_prefix(self, run_id: uuid.UUID) -> str:
        run = await runs_repo.get(self.session, run_id)
        if run is None:
            raise NotFound(f"Run {run_id} not found")
        return run_artifact_prefix(run.experiment_id, run.id)

    async def upload_to_run(
        self,
        run_id: uuid.UUID,
        path: str,
        chunks: AsyncIterable[bytes],
        declared_length: int | None,
    ) -> ArtifactFile:
        relative = clean_path(path)
        if not relative:
            raise InvalidInput("path: give the file's path")
        prefix = await self.run_prefix(run_id)
        # The run exists: release the connection before a long upload.
        await self.session.close()
        stored = await self.upload(_join(prefix, relative), chunks, declared_length)
        return ArtifactFile(path=relative, is_dir=False, size=stored.size)

    async def list_run(self, run_id: uuid.UUID, path: str) -> ArtifactListing:
        relative = clean_path(path)
        prefix = await self.run_prefix(run_id)
        entries = await self.store.list(_join(prefix, relative))
        if entries is None:
            if relative and await self.store.stat(_join(prefix, relative)) is not None:
                raise InvalidInput(f"path: {relative!r} is a file, not a directory")
            if relative:
                raise NotFound(f"Run {run_id} has no artifact directory {relative!r}")
            entries = []
        cut = len(prefix) + 1
        return ArtifactListing(
            path=relative,
            files=[ArtifactFile(path=e.path[cut:], is_dir=e.is_dir, size=e.size) for e in entries],
        )

    async def download_from_run(self, run_id: uuid.UUID, path: str) -> ArtifactDownload:
        relative = clean_path(path)
        prefix = await self.run_prefix(run_id)
        found = await self.store.download(_join(prefix, relative)) if relative else None
        if found is None:
            raise NotFound(f"Run {run_id} has no artifact file {relative!r}")
        return found

    async def delete_from_run(self, run_id: uuid.UUID, path: str) -> None:
        relative = clean_path(path)
        if not relative:
            raise InvalidInput("path: give the file or directory to delete")
        prefix = await self.run_prefix(run_id)
        if not await self.store.delete(_join(prefix, relative)):
            raise NotFound(f"Run {run_id} has no artifact {relative!r}")

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"Artifact larger than the limit of {self.max_bytes} bytes (ARTIFACT_MAX_BYTES)"
        )
