"""Multipart uploads of one artifact file (MLflow's `mpu` protocol), staged in the artifact
store itself, so any host behind the same store can take any part or finish the upload.

`create` checks that the run or logged model exists (the route's permission check has
already run on the same canonical path) and writes a manifest (the file's path, the number
of parts) at `<run's artifacts>/.upload-<id>/manifest`; each part goes to
`.upload-<id>/part-<n>` beside it. The
`.upload-` marker keeps them out of every listing and out of reach of every artifact route
(canonical paths refuse it). The random upload id is the capability a part's URL carries,
as a presigned URL's signature is: the client sends parts without its API key.

`complete` streams the parts, in order, into the file (the store's own multipart upload, so
memory stays bounded), then removes the staging; until then nothing is visible. `abort`
removes the staging; aborting an upload that is gone already is fine (a retried abort).

That is the path through this server, for local roots, `gs://` and `az://`, and for `s3://`
with ARTIFACT_PRESIGNED_UPLOADS=false. On `s3://` otherwise the parts go straight to the
bucket through presigned URLs (`artifact_uploads_s3`), and this class hands over to it.
"""

import json
import posixpath
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from mltrail_server.errors import InvalidInput, NotFound, PayloadTooLarge
from mltrail_server.services.artifact_paths import (
    UPLOAD_MARKER,
    ArtifactLocation,
    canonical_path,
)
from mltrail_server.services.artifact_uploads_s3 import RequestedPart, S3Uploads
from mltrail_server.services.artifacts import ArtifactService
from mltrail_server.storage import ArtifactDownload, ObjectArtifactStore

__all__ = ["ArtifactUploads", "RequestedPart", "StartedUpload"]

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_READ_BYTES = 1024 * 1024


@dataclass(frozen=True)
class StartedUpload:
    upload_id: str
    owner_prefix: str  # the run's (or model's) artifacts folder in the store
    num_parts: int
    # The presigned URL of each part in the bucket; None: the parts go through this server.
    part_urls: list[str] | None = None


def staging_of(owner_prefix: str, upload_id: str) -> str:
    """Where an upload's manifest and parts wait: a hidden folder of the run (or model)."""
    return f"{owner_prefix}/{UPLOAD_MARKER}{upload_id}"


def _upload_id(text: str) -> str:
    if not _UPLOAD_ID.match(text):
        raise NotFound(f"upload_id: no multipart upload {text[:64]!r}")
    return text


async def _chunks(download: ArtifactDownload) -> AsyncIterator[bytes]:
    if download.chunks is not None:
        async for chunk in download.chunks:
            yield chunk
        return
    assert download.local_path is not None
    async with await anyio.open_file(download.local_path, "rb") as file:
        while chunk := await file.read(_READ_BYTES):
            yield chunk


async def _single(chunk: bytes) -> AsyncIterator[bytes]:
    yield chunk


@dataclass
class ArtifactUploads:
    artifacts: ArtifactService
    presigned: bool = False  # ARTIFACT_PRESIGNED_UPLOADS

    @property
    def _s3(self) -> S3Uploads | None:
        """The uploads straight into the bucket, when the store and the setting allow them."""
        store = self.artifacts.store
        if self.presigned and isinstance(store, ObjectArtifactStore) and store.signs_part_uploads:
            return S3Uploads(self.artifacts, store)
        return None

    def _file(self, directory: ArtifactLocation, local_file: str) -> ArtifactLocation:
        """The file the upload writes: the client's file name in the directory of the route."""
        name = canonical_path(posixpath.basename(local_file.replace("\\", "/")), field="path")
        if not name:
            raise InvalidInput("path: give the local file's name")
        relative = f"{directory.relative}/{name}" if directory.relative else name
        return ArtifactLocation(
            directory.experiment_id, directory.owner, directory.owner_id, relative
        )

    async def create(
        self, directory: ArtifactLocation, local_file: str, num_parts: int
    ) -> StartedUpload:
        target = self._file(directory, local_file)
        await self.artifacts.check_owner(target)
        await self.artifacts.session.close()
        if (s3 := self._s3) is not None:
            upload_id, urls = await s3.create(target, num_parts)
            return StartedUpload(upload_id, target.prefix, num_parts, urls)
        upload_id = secrets.token_hex(16)
        manifest = json.dumps({"path": target.store_path, "num_parts": num_parts}).encode()
        staging = staging_of(target.prefix, upload_id)
        await self.artifacts.store.write(
            f"{staging}/manifest", _single(manifest), max_bytes=len(manifest)
        )
        return StartedUpload(upload_id, target.prefix, num_parts)

    async def _manifest(self, owner_prefix: str, upload_id: str) -> dict[str, object]:
        staging = staging_of(owner_prefix, upload_id)
        found = await self.artifacts.store.download(f"{staging}/manifest")
        if found is None:
            raise NotFound(f"upload_id: no multipart upload {upload_id} here")
        data = await found.read()
        manifest: dict[str, object] = json.loads(data)
        return manifest

    async def put_part(
        self,
        owner_prefix: str,
        upload_id: str,
        part_number: int,
        chunks: AsyncIterator[bytes],
        declared: int | None,
    ) -> int:
        """Store one part (replacing it: a re-sent part is harmless); its size."""
        manifest = await self._manifest(owner_prefix, _upload_id(upload_id))
        num_parts = manifest["num_parts"]
        assert isinstance(num_parts, int)
        if not 1 <= part_number <= num_parts:
            raise InvalidInput(f"part_number: between 1 and {num_parts} (got {part_number})")
        path = f"{staging_of(owner_prefix, upload_id)}/part-{part_number:05d}"
        return (await self.artifacts.write_file(path, chunks, declared)).size or 0

    async def complete(
        self,
        directory: ArtifactLocation,
        local_file: str,
        upload_id: str,
        requested: list[RequestedPart],
    ) -> None:
        target = self._file(directory, local_file)
        await self.artifacts.check_owner(target)
        await self.artifacts.session.close()
        if (s3 := self._s3) is not None:
            await s3.complete(target, upload_id, requested)
            return
        parts = [part.number for part in requested]
        manifest = await self._manifest(target.prefix, _upload_id(upload_id))
        if manifest.get("path") != target.store_path:
            raise InvalidInput(f"path: upload {upload_id} is of {manifest.get('path')!r}")
        staging = staging_of(target.prefix, upload_id)
        store = self.artifacts.store
        numbers = sorted(set(parts))
        for number in numbers:
            if await store.stat(f"{staging}/part-{number:05d}") is None:
                raise InvalidInput(f"parts: part {number} of upload {upload_id} was not uploaded")

        async def joined() -> AsyncIterator[bytes]:
            for number in numbers:
                found = await store.download(f"{staging}/part-{number:05d}")
                if found is None:
                    raise InvalidInput(f"parts: part {number} of upload {upload_id} is gone")
                async for chunk in _chunks(found):
                    yield chunk

        try:
            await self.artifacts.write_file(target.store_path, joined(), None)
        except PayloadTooLarge:
            await store.delete(staging)  # it can never complete
            raise
        await store.delete(staging)

    async def abort(self, directory: ArtifactLocation, local_file: str, upload_id: str) -> None:
        target = self._file(directory, local_file)
        await self.artifacts.check_owner(target)
        await self.artifacts.session.close()
        if (s3 := self._s3) is not None:
            await s3.abort(target, upload_id)
            return
        await self.artifacts.store.delete(staging_of(target.prefix, _upload_id(upload_id)))
