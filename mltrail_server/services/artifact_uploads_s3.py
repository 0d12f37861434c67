"""Multipart uploads of one artifact file straight into an S3 bucket (MLflow's `mpu` protocol
as its server runs it on S3): `create` starts S3's own multipart upload on the file's final key
and hands the client one presigned `upload_part` URL per part; the client PUTs the parts to the
bucket and gives their ETags to `complete`, which has S3 join them; `abort` drops them.

S3 holds the upload's whole state, so any host over the bucket can complete or abort it, and
the file is not visible before S3 completes it. The size limit holds at `complete`: the parts
named are summed as S3 lists them, and an upload past ARTIFACT_MAX_BYTES is aborted (413,
nothing visible). The ETags checked there are the ones S3 then joins, so a part replaced
after the check makes S3 refuse the join rather than slip past the limit.
"""

from dataclasses import dataclass
from datetime import timedelta

from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.services.artifact_paths import ArtifactLocation
from mltrail_server.services.artifacts import ArtifactService
from mltrail_server.storage import NoSuchUpload, ObjectArtifactStore, PartsRefused, UploadedPart

__all__ = ["PART_URL_LIFETIME", "RequestedPart", "S3Uploads"]

# How long a part's presigned URL may be used: the client sends every part within it.
PART_URL_LIFETIME = timedelta(hours=1)
_MAX_UPLOAD_ID = 1024


@dataclass(frozen=True)
class RequestedPart:
    number: int
    etag: str | None


def _upload_id(text: str) -> str:
    if not text or len(text) > _MAX_UPLOAD_ID or not text.isprintable():
        raise NotFound(f"upload_id: no multipart upload {text[:64]!r}")
    return text


def _no_upload(upload_id: str) -> NotFound:
    return NotFound(f"upload_id: no multipart upload {upload_id[:64]!r} of this file")


def _conflict(path: str) -> InvalidInput:
    return InvalidInput(
        f"path: {path!r} cannot be written: a directory and a file would share a name"
    )


def _same_etag(given: str, held: str) -> bool:
    return given.strip('"') == held.strip('"')


@dataclass
class S3Uploads:
    artifacts: ArtifactService
    store: ObjectArtifactStore

    async def create(self, target: ArtifactLocation, num_parts: int) -> tuple[str, list[str]]:
        """The S3 upload id and the presigned URL of each part, 1 to `num_parts`."""
        try:
            return await self.store.start_upload(target.store_path, num_parts, PART_URL_LIFETIME)
        except (IsADirectoryError, NotADirectoryError):
            raise _conflict(target.relative) from None

    async def complete(
        self, target: ArtifactLocation, upload_id: str, requested: list[RequestedPart]
    ) -> None:
        path = target.store_path
        upload_id = _upload_id(upload_id)
        try:
            held = await self.store.uploaded_parts(path, upload_id)
        except NoSuchUpload:
            raise _no_upload(upload_id) from None
        etags: dict[int, str | None] = {}
        for part in requested:
            etags[part.number] = part.etag or etags.get(part.number)
        parts: list[UploadedPart] = []
        for number in sorted(etags):
            found = held.get(number)
            if found is None:
                raise InvalidInput(f"parts: part {number} of upload {upload_id} was not uploaded")
            given = etags[number]
            if given and not _same_etag(given, found.etag):
                raise InvalidInput(
                    f"parts: part {number} has etag {given}, but the store holds {found.etag} "
                    "(the part was sent again since); give the etag of its last upload"
                )
            parts.append(found)
        if sum(part.size for part in parts) > self.artifacts.max_bytes:
            await self.store.abort_upload(path, upload_id)  # it can never complete
            raise self.artifacts.too_large()
        try:
            await self.store.complete_upload(path, upload_id, parts)
        except NoSuchUpload:
            raise _no_upload(upload_id) from None
        except PartsRefused as exc:
            raise InvalidInput(f"parts: the store refused them: {exc}") from None
        except (IsADirectoryError, NotADirectoryError):
            raise _conflict(target.relative) from None

    async def abort(self, target: ArtifactLocation, upload_id: str) -> None:
        await self.store.abort_upload(target.store_path, _upload_id(upload_id))
