"""Artifact rules: where a run's files live, who may be written, and the size limit.

Paths arrive canonical (mltrail_server/services/artifact_paths.py). A run's files live under
`<experiment id>/<run id>/artifacts/` in the store, the same place the MLflow client uploads
to through `mlflow-artifacts:/`, so both APIs see the same files. Writes through the MLflow
API must land inside an existing run's or logged model's folder of the experiment the path
names; reads may look anywhere below the root.
"""

import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import logged_models as logged_models_repo
from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.errors import InvalidInput, NotFound, PayloadTooLarge
from mltrail_server.services.artifact_paths import (
    ArtifactLocation,
    Owner,
    experiment_folder,
    run_artifact_prefix,
)
from mltrail_server.storage import (
    ArtifactDownload,
    ArtifactStore,
    FileInfo,
    ObjectArtifactStore,
    TooLarge,
)

__all__ = ["ArtifactFile", "ArtifactListing", "ArtifactService"]

PRESIGNED_LIFETIME = timedelta(minutes=15)


class ArtifactFile(BaseModel):
    """A file or directory among a run's artifacts."""

    path: str = Field(description="Relative to the run's artifact root, '/'-separated")
    is_dir: bool
    size: int | None = Field(description="Bytes; null for a directory")


class ArtifactListing(BaseModel):
    """The entries directly under one directory of a run's artifacts."""

    path: str = Field(description="The directory listed; empty for the root")
    files: list[ArtifactFile]


def _join(prefix: str, path: str) -> str:
    return f"{prefix}/{path}" if path else prefix


@dataclass
class ArtifactService:
    session: AsyncSession
    store: ArtifactStore
    max_bytes: int

    # -- by store path (the MLflow proxied-artifact API) --------------------------------------

    async def check_owner(self, location: ArtifactLocation) -> None:
        """NotFound unless the run or logged model exists in the experiment the path names."""
        if location.owner == Owner.RUN:
            assert location.run_id is not None
            run = await runs_repo.get_any(self.session, location.run_id)
            found = run is not None and run.experiment_id == location.experiment_id
        else:
            model = await logged_models_repo.get(self.session, location.owner_id)
            found = model is not None and model.experiment_id == location.experiment_id
        if not found:
            raise NotFound(
                f"path: no {location.owner.value} {location.owner_id} in experiment "
                f"{location.experiment_id.hex}; artifacts are written below a run's or a "
                "logged model's artifact_uri"
            )

    async def upload(
        self, location: ArtifactLocation, chunks: AsyncIterable[bytes], declared: int | None
    ) -> FileInfo:
        if not location.relative:
            raise InvalidInput("path: give the file's path")
        await self.check_owner(location)
        # The owner exists: release the connection before a long upload.
        await self.session.close()
        return await self.write_file(location.store_path, chunks, declared)

    async def download(self, path: str) -> ArtifactDownload:
        found = await self.store.download(path) if path else None
        if found is None:
            raise NotFound(f"No artifact file at {path!r}")
        return found

    async def presigned_download(self, path: str, *, enabled: bool) -> tuple[str, int]:
        """A URL reading the file at `path` straight from the object store, and its size."""
        store = self.store
        if not enabled or not isinstance(store, ObjectArtifactStore):
            raise NotFound(
                "Presigned downloads are off on this server (ARTIFACT_PRESIGNED_DOWNLOADS, "
                "with a bucket as ARTIFACT_ROOT); download through the server instead"
            )
        found = await store.stat(path) if path else None
        if found is None or found.is_dir:
            raise NotFound(f"No artifact file at {path!r}")
        url = await store.sign_download(path, PRESIGNED_LIFETIME)
        return url, found.size or 0

    async def list(self, path: str) -> list[FileInfo]:
        """The directory's entries; empty for a missing path or a file (as MLflow does)."""
        return await self.store.list(path) or []

    async def delete(self, location: ArtifactLocation) -> None:
        """Remove a file or directory of a run's (or model's) artifacts, all of them when the
        path is the owner's `artifacts` folder itself; nothing there is fine too (MLflow)."""
        await self.check_owner(location)
        await self.store.delete(location.store_path)  # nothing there is fine too (MLflow)

    async def write_file(
        self, path: str, chunks: AsyncIterable[bytes], declared_length: int | None
    ) -> FileInfo:
        if declared_length is not None and declared_length > self.max_bytes:
            raise self.too_large()
        try:
            size = await self.store.write(path, chunks, max_bytes=self.max_bytes)
        except TooLarge:
            raise self.too_large() from None
        except (IsADirectoryError, NotADirectoryError, FileExistsError):
            raise InvalidInput(
                f"path: {path!r} cannot be written: a directory and a file would share a name"
            ) from None
        return FileInfo(path, False, size)

    # -- by run (the v1 API) ------------------------------------------------------------------

    async def run_prefix(self, run_id: uuid.UUID) -> str:
        run = await runs_repo.get(self.session, run_id)
        if run is None:
            raise NotFound(f"Run {run_id} not found")
        return run_artifact_prefix(run.experiment_id, run.id)

    async def purge_prefix_of_run(self, run_id: uuid.UUID) -> str | None:
        """The store folder of all the run's artifacts, whatever its lifecycle; None if no
        run."""
        run = await runs_repo.get_any(self.session, run_id)
        if run is None:
            return None
        return run_artifact_prefix(run.experiment_id, run.id)

    @staticmethod
    def purge_prefix_of_experiment(experiment_id: uuid.UUID) -> str:
        """The store folder of all an experiment's artifacts (runs' and models')."""
        return experiment_folder(experiment_id)

    async def upload_to_run(
        self,
        run_id: uuid.UUID,
        relative: str,
        chunks: AsyncIterable[bytes],
        declared_length: int | None,
    ) -> ArtifactFile:
        if not relative:
            raise InvalidInput("path: give the file's path")
        prefix = await self.run_prefix(run_id)
        # The run exists: release the connection before a long upload.
        await self.session.close()
        stored = await self.write_file(_join(prefix, relative), chunks, declared_length)
        return ArtifactFile(path=relative, is_dir=False, size=stored.size)

    async def list_run(self, run_id: uuid.UUID, relative: str) -> ArtifactListing:
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

    async def download_from_run(self, run_id: uuid.UUID, relative: str) -> ArtifactDownload:
        prefix = await self.run_prefix(run_id)
        found = await self.store.download(_join(prefix, relative)) if relative else None
        if found is None:
            raise NotFound(f"Run {run_id} has no artifact file {relative!r}")
        return found

    async def delete_from_run(self, run_id: uuid.UUID, relative: str) -> None:
        if not relative:
            raise InvalidInput("path: give the file or directory to delete")
        prefix = await self.run_prefix(run_id)
        if not await self.store.delete(_join(prefix, relative)):
            raise NotFound(f"Run {run_id} has no artifact {relative!r}")

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"Artifact larger than the limit of {self.max_bytes} bytes (ARTIFACT_MAX_BYTES)"
        )
