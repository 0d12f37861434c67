"""S3's own multipart upload, driven through boto3, for clients that send the parts straight to
the bucket through presigned URLs (MLflow's protocol, as its server does it on S3).

The server only starts an upload, signs one `upload_part` URL per part, and later completes or
aborts it: S3 keeps every part and the upload's state, so any host over the same bucket can
finish what another started, and the object appears only when S3 completes the upload.

boto3 is blocking: each call runs in a worker thread. The client is made on first use (reading
credentials is I/O) and shared; boto3's clients are thread-safe.
"""

import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from anyio import to_thread

__all__ = ["NoSuchUpload", "PartsRefused", "S3Multipart", "UploadedPart"]

LIST_PARTS_PAGE = 1000  # S3's largest page
_NO_UPLOAD = {"NoSuchUpload", "NoSuchKey"}
_REFUSED_PARTS = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML"}


class NoSuchUpload(Exception):
    """S3 knows no upload of that id for that key (never started, completed or aborted)."""


class PartsRefused(Exception):
    """S3 refused the list of parts given to complete the upload; its reason."""


class StoreFailed(Exception):
    """S3 could not be reached, or answered an error that is not the client's; its reason."""


@dataclass(frozen=True)
class UploadedPart:
    number: int
    etag: str
    size: int


def boto3_session(env: Mapping[str, str]) -> Any:
    """The session botocore builds from the environment, as obstore's credentials are read:
    the keys in the environment first, else the profile AWS_PROFILE names (or the default) in
    the AWS shared files. (A profile named explicitly would otherwise win over the keys.)"""
    import boto3

    profile = None if env.get("AWS_ACCESS_KEY_ID") else env.get("AWS_PROFILE") or None
    return boto3.Session(profile_name=profile)


@dataclass
class S3Multipart:
    bucket: str
    prefix: str  # the ARTIFACT_ROOT's prefix inside the bucket, '' for none
    endpoint_url: str
    env: Mapping[str, str]
    _client: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                from botocore.config import Config

                s3: dict[str, str] = {}
                if self.endpoint_url:
                    s3["addressing_style"] = "path"  # what S3-compatible servers expect
                config = Config(
                    signature_version="s3v4",
                    s3=s3,
                    connect_timeout=5,
                    read_timeout=300,  # completing a large upload takes S3 a while
                    retries={"max_attempts": 3, "mode": "standard"},
                    # Checksums only where S3 needs them: S3-compatible servers differ on
                    # the newer defaults, and a presigned part carries none.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                )
                region = self.env.get("AWS_REGION") or self.env.get("AWS_DEFAULT_REGION")
                self._client = boto3_session(self.env).client(
                    "s3",
                    endpoint_url=self.endpoint_url or None,
                    region_name=region or None,
                    config=config,
                )
            return self._client

    async def warm(self) -> None:
        """Make the client now (reading credentials, building it takes a second), so the first
        upload does not wait for it; a failure shows again, with its reason, on first use."""
        from botocore.exceptions import BotoCoreError

        with contextlib.suppress(BotoCoreError, ValueError):
            await to_thread.run_sync(self._s3)

    async def _call(self, operation: str, **params: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        def call() -> Any:
            return getattr(self._s3(), operation)(Bucket=self.bucket, **params)

        try:
            return await to_thread.run_sync(call)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            message = str(error.get("Message", "") or code)
            if code in _NO_UPLOAD:
                raise NoSuchUpload(message) from exc
            if code in _REFUSED_PARTS:
                raise PartsRefused(f"{code}: {message}") from exc
            raise StoreFailed(f"{operation}: {code}: {message}") from exc
        except BotoCoreError as exc:
            raise StoreFailed(f"{operation}: {exc}") from exc

    async def create(self, path: str) -> str:
        """Start an upload of the object at `path`; its S3 upload id."""
        started = await self._call("create_multipart_upload", Key=self.key(path))
        upload_id: str = started["UploadId"]
        return upload_id

    async def sign_parts(
        self, path: str, upload_id: str, num_parts: int, expires: timedelta
    ) -> list[str]:
        """One presigned `upload_part` URL per part, 1 to `num_parts`. Signing is local."""
        key = self.key(path)
        seconds = int(expires.total_seconds())

        def sign() -> list[str]:
            s3 = self._s3()
            return [
                s3.generate_presigned_url(
                    "upload_part",
                    Params={
                        "Bucket": self.bucket,
                        "Key": key,
                        "UploadId": upload_id,
                        "PartNumber": number,
                    },
                    ExpiresIn=seconds,
                )
                for number in range(1, num_parts + 1)
            ]

        from botocore.exceptions import BotoCoreError

        try:
            return await to_thread.run_sync(sign)
        except BotoCoreError as exc:
            raise StoreFailed(f"generate_presigned_url: {exc}") from exc

    async def _started_here(self, path: str, upload_id: str) -> bool:
        """Whether `upload_id` is an upload of `path`'s key. AWS refuses an upload id given
        with another key, but not every S3-compatible server does (moto does not), and the
        permission checked was the one of `path`."""
        key = self.key(path)
        markers: dict[str, str] = {}
        while True:
            page = await self._call(
                "list_multipart_uploads", Prefix=key, MaxUploads=LIST_PARTS_PAGE, **markers
            )
            for upload in page.get("Uploads", []):
                if upload.get("Key") == key and upload.get("UploadId") == upload_id:
                    return True
            if not page.get("IsTruncated"):
                return False
            markers = {
                "KeyMarker": str(page.get("NextKeyMarker", "")),
                "UploadIdMarker": str(page.get("NextUploadIdMarker", "")),
            }

    async def parts(self, path: str, upload_id: str) -> dict[int, UploadedPart]:
        """Every part S3 holds of the upload, by number (all pages)."""
        if not await self._started_here(path, upload_id):
            raise NoSuchUpload(f"no upload {upload_id} of {path}")
        found: dict[int, UploadedPart] = {}
        marker = 0
        while True:
            page = await self._call(
                "list_parts",
                Key=self.key(path),
                UploadId=upload_id,
                MaxParts=LIST_PARTS_PAGE,
                PartNumberMarker=marker,
            )
            for part in page.get("Parts", []):
                number = int(part["PartNumber"])
                found[number] = UploadedPart(number, str(part["ETag"]), int(part["Size"]))
            if not page.get("IsTruncated"):
                return found
            marker = int(page["NextPartNumberMarker"])

    async def complete(self, path: str, upload_id: str, parts: list[UploadedPart]) -> None:
        await self._call(
            "complete_multipart_upload",
            Key=self.key(path),
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [{"PartNumber": part.number, "ETag": part.etag} for part in parts]
            },
        )

    async def abort(self, path: str, upload_id: str) -> None:
        """Drop the upload and its parts; one that is gone already is fine (a retried abort)."""
        if not await self._started_here(path, upload_id):
            return
        with contextlib.suppress(NoSuchUpload):
            await self._call("abort_multipart_upload", Key=self.key(path), UploadId=upload_id)
