"""Artifacts as objects in a bucket (S3 or S3-compatible, Google Cloud Storage, Azure Blob),
through obstore.

A run's files keep the same relative paths as on a local disk: the key of `a/b.txt` is
`<prefix>/a/b.txt`. Directories are key prefixes, so they exist while they hold a file.

An upload streams: the body goes up in parts of `PART_BYTES` with at most `PART_CONCURRENCY`
parts in flight, so memory stays bounded whatever the file's size. The object appears only when
the store completes the multipart upload; a failed upload (the size limit, a client that went
away, the store going down) is aborted and leaves no object behind, and a file it was to
replace is unchanged. A download is a stream of chunks read from the store as the client takes
them.

The store being unreachable, or failing, is `Unavailable` (503 with Retry-After in both
APIs): a client retries, and the next request reaches the store again once it is back.
"""

import asyncio
import builtins
import logging
import os
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import obstore
from anyio import to_thread
from obstore.exceptions import BaseError as StoreError
from obstore.store import AzureStore, GCSStore, S3Store

from mltrail_server.errors import Unavailable
from mltrail_server.services.artifact_paths import UPLOAD_MARKER
from mltrail_server.storage.base import ArtifactDownload, FileInfo, TooLarge
from mltrail_server.storage.s3_multipart import (
    NoSuchUpload,
    PartsRefused,
    S3Multipart,
    StoreFailed,
    UploadedPart,
    boto3_session,
)

__all__ = [
    "NoSuchUpload",
    "ObjectArtifactStore",
    "ObjectStoreUnreachable",
    "PartsRefused",
    "UploadedPart",
    "open_object_store",
]

logger = logging.getLogger(__name__)

PART_BYTES = 8 * 1024 * 1024
PART_CONCURRENCY = 4
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
DELETE_BATCH = 1000
RETRY_AFTER_SECONDS = 5
SCHEMES = ("s3", "gs", "az")
_UNAVAILABLE = (
    "Artifact storage ({where}) cannot be reached or failed: {reason}. Nothing was changed; "
    "retry in a few seconds"
)

ObjectStore = S3Store | GCSStore | AzureStore


class ObjectStoreUnreachable(Exception):
    """The store named by ARTIFACT_ROOT answered no request at start."""


def open_object_store(url: str, *, s3_endpoint_url: str = "") -> "ObjectArtifactStore":
    """The store for `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`.
    Credentials come from the environment, as each provider's tools read them. For S3:
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION; without
    those, the shared files the AWS tools write (`~/.aws/credentials`, `~/.aws/config`, or
    AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE, with AWS_PROFILE), read by botocore;
    without either, the instance's role."""
    scheme, _, rest = url.partition("://")
    bucket, _, path = rest.partition("/")
    prefix = path.strip("/") or None
    # A whole request (a large download included) may take long; connecting may not.
    client: dict[str, Any] = {
        "timeout": timedelta(hours=1),
        "connect_timeout": timedelta(seconds=5),
    }
    retry: dict[str, Any] = {"max_retries": 3, "retry_timeout": timedelta(seconds=10)}
    store: ObjectStore
    multipart = None
    if scheme == "s3":
        config: dict[str, Any] = {}
        if s3_endpoint_url:
            config["endpoint"] = s3_endpoint_url
            # Path-style addressing: what S3-compatible servers expect.
            config["virtual_hosted_style_request"] = False
            if s3_endpoint_url.startswith("http://"):
                client["allow_http"] = True
        store = S3Store(
            bucket,
            prefix=prefix,
            config=config,  # type: ignore[arg-type]
            client_options=client,  # type: ignore[arg-type]
            retry_config=retry,  # type: ignore[arg-type]
            credential_provider=_aws_profile_credentials(os.environ),
        )
        multipart = S3Multipart(bucket, prefix or "", s3_endpoint_url, os.environ)
    elif scheme == "gs":
        store = GCSStore(bucket, prefix=prefix, client_options=client, retry_config=retry)  # type: ignore[arg-type]
    elif scheme == "az":
        store = AzureStore(bucket, prefix=prefix, client_options=client, retry_config=retry)  # type: ignore[arg-type]
    else:
        raise ValueError(f"scheme {scheme!r} is not one of {', '.join(SCHEMES)}")
    return ObjectArtifactStore(store, url, multipart)


def _aws_profile_credentials(env: Mapping[str, str]) -> Any:
    """botocore's reading of the AWS shared files, when the keys are not in the environment
    but a profile or one of those files is there (obstore reads only the variables). A
    profile that is missing or holds no keys fails the start's probe with botocore's reason."""
    if env.get("AWS_ACCESS_KEY_ID"):
        return None
    home = os.path.expanduser("~/.aws")
    files = [
        env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, "credentials"),
        env.get("AWS_CONFIG_FILE") or os.path.join(home, "config"),
    ]
    profile = env.get("AWS_PROFILE") or None
    if profile is None and not any(os.path.isfile(name) for name in files):
        return None
    from botocore.exceptions import BotoCoreError
    from obstore.auth.boto3 import Boto3CredentialProvider

    try:
        return Boto3CredentialProvider(boto3_session(env))
    except (BotoCoreError, ValueError) as exc:
        return _NoCredentials(f"AWS_PROFILE={profile or 'default'}: {exc}")


class _NoCredentials:
    """A credential provider that refuses with the reason the shared files gave none."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __call__(self) -> Any:
        raise PermissionError(self.reason)


def _check(path: str) -> str:
    if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"path {path!r} leaves the artifact root")
    return path


def _visible(key: str) -> bool:
    return UPLOAD_MARKER not in key


class ObjectArtifactStore:
    def __init__(
        self, store: ObjectStore, where: str, multipart: S3Multipart | None = None
    ) -> None:
        self.store = store
        self.where = where
        # S3's own multipart upload, for parts sent straight to the bucket (s3:// only).
        self.multipart = multipart

    def _unavailable(self, exc: BaseException) -> Unavailable:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        logger.warning("artifact store %s failed: %s", self.where, reason)
        return Unavailable(
            _UNAVAILABLE.format(where=self.where, reason=reason[:300]), RETRY_AFTER_SECONDS
        )

    async def probe(self) -> None:
        """One listing of the root: raises ObjectStoreUnreachable with the store's reason.
        The blocking call in a worker thread: a failed async call can leave obstore's runtime
        with work that crashes the interpreter at exit, which a short-lived command (doctor)
        would report as its exit status."""
        try:
            await to_thread.run_sync(obstore.list_with_delimiter, self.store)
        except (StoreError, OSError) as exc:
            raise ObjectStoreUnreachable(str(exc).splitlines()[0] if str(exc) else "") from exc
        if self.multipart is not None:
            await self.multipart.warm()

    async def write(self, path: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        _check(path)
        await self._refuse_conflicts(path)
        written = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal written
            async for chunk in chunks:
                written += len(chunk)
                if written > max_bytes:
                    raise TooLarge(max_bytes)
                yield chunk

        try:
            await obstore.put_async(
                self.store,
                path,
                counted(),
                chunk_size=PART_BYTES,
                max_concurrency=PART_CONCURRENCY,
            )
        except (StoreError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return written

    async def _refuse_conflicts(self, path: str) -> None:
        """A file and a directory never share a name, as on a disk: no file at any parent of
        `path`, and no files below `path` itself."""
        parts = path.split("/")
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        try:
            found = await asyncio.gather(
                *(self._head(parent) for parent in parents), self._has_children(path)
            )
        except (StoreError, OSError) as exc:
            raise self._unavailable(exc) from exc
        if found[-1]:
            raise IsADirectoryError(path)
        if any(found[:-1]):
            raise NotADirectoryError(path)

    async def _head(self, path: str) -> bool:
        try:
            await obstore.head_async(self.store, path)
        except FileNotFoundError:
            return False
        return True

    async def _has_children(self, path: str) -> bool:
        stream = obstore.list(self.store, prefix=path, chunk_size=2)
        async for batch in stream:
            if any(_visible(m["path"]) and m["path"] != path for m in batch):
                return True
        return False

    async def download(self, path: str) -> ArtifactDownload | None:
        if not path:
            return None
        _check(path)
        try:
            result = await obstore.get_async(self.store, path)
        except FileNotFoundError:
            return None
        except (StoreError, OSError) as exc:
            raise self._unavailable(exc) from exc
        size = result.meta["size"]
        stream = result.stream(min_chunk_size=DOWNLOAD_CHUNK_BYTES)

        async def chunks() -> AsyncIterator[bytes]:
            # Once the headers are out a failure can only end the response early, which
            # the client sees as a short body (the Content-Length is not met).
            async for chunk in stream:
                yield bytes(chunk)

        return ArtifactDownload(size=size, local_path=None, chunks=chunks())

    async def list(self, path: str) -> list[FileInfo] | None:
        if path:
            _check(path)
        try:
            # The store pages through the listing (1,000 keys a page on S3) and returns all.
            listing = await obstore.list_with_delimiter_async(self.store, prefix=path or None)
        except FileNotFoundError:
            listing = {"common_prefixes": [], "objects": []}
        except (StoreError, OSError) as exc:
            raise self._unavailable(exc) from exc
        entries = [
            FileInfo(prefix, True, None)
            for prefix in listing["common_prefixes"]
            if _visible(prefix)
        ]
        entries += [
            FileInfo(meta["path"], False, meta["size"])
            for meta in listing["objects"]
            if _visible(meta["path"]) and meta["path"] != path
        ]
        if not entries and path:
            return None
        return sorted(entries, key=lambda info: info.path)

    async def stat(self, path: str) -> FileInfo | None:
        if not path:
            return FileInfo("", True, None)
        _check(path)
        try:
            meta = await obstore.head_async(self.store, path)
        except FileNotFoundError:
            try:
                has_children = await self._has_children(path)
            except (StoreError, OSError) as exc:
                raise self._unavailable(exc) from exc
            return FileInfo(path, True, None) if has_children else None
        except (StoreError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return FileInfo(path, False, meta["size"])

    async def delete(self, path: str) -> bool:
        if not path:
            raise ValueError("refusing to delete the artifact root")
        _check(path)
        try:
            found = await self._head(path)
            if found:
                await obstore.delete_async(self.store, path)
            # Everything below it, in batches (one request per batch where the store can).
            stream = obstore.list(self.store, prefix=path, chunk_size=DELETE_BATCH)
            async for batch in stream:
                keys = [meta["path"] for meta in batch if meta["path"] != path]
                if keys:
                    found = True
                    await obstore.delete_async(self.store, keys)
        except (StoreError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return found

    async def sign_download(self, path: str, expires: timedelta) -> str:
        """A URL that reads the file at `path` straight from the store until `expires`."""
        _check(path)
        try:
            url: str = await obstore.sign_async(self.store, "GET", path, expires)
        except (StoreError, OSError) as exc:
            raise self._unavailable(exc) from exc
        return url

    # -- S3's own multipart upload (parts sent by the client through presigned URLs) ----------

    @property
    def signs_part_uploads(self) -> bool:
        """Whether clients can send an upload's parts straight to the store (S3)."""
        return self.multipart is not None

    def _s3(self) -> S3Multipart:
        if self.multipart is None:
            raise ValueError(f"{self.where} takes no presigned part uploads")
        return self.multipart

    async def start_upload(
        self, path: str, num_parts: int, expires: timedelta
    ) -> tuple[str, "builtins.list[str]"]:
        """Start S3's multipart upload of the file at `path`: its upload id and one presigned
        URL per part. Refused like `write` when a directory or a file is in the way."""
        _check(path)
        await self._refuse_conflicts(path)
        s3 = self._s3()
        try:
            upload_id = await s3.create(path)
            return upload_id, await s3.sign_parts(path, upload_id, num_parts, expires)
        except StoreFailed as exc:
            raise self._unavailable(exc) from exc

    async def uploaded_parts(self, path: str, upload_id: str) -> dict[int, UploadedPart]:
        """The parts S3 holds of the upload; `NoSuchUpload` when it knows none."""
        _check(path)
        try:
            return await self._s3().parts(path, upload_id)
        except StoreFailed as exc:
            raise self._unavailable(exc) from exc

    async def complete_upload(
        self, path: str, upload_id: str, parts: "builtins.list[UploadedPart]"
    ) -> None:
        """Join the parts into the file at `path`, which appears only now. Refused like `write`
        (the upload then aborted) when a directory or a file came in the way meanwhile."""
        _check(path)
        try:
            await self._refuse_conflicts(path)
        except (IsADirectoryError, NotADirectoryError):
            await self.abort_upload(path, upload_id)
            raise
        try:
            await self._s3().complete(path, upload_id, parts)
        except StoreFailed as exc:
            raise self._unavailable(exc) from exc

    async def abort_upload(self, path: str, upload_id: str) -> None:
        """Drop the upload and every part of it; an upload already gone is fine."""
        _check(path)
        try:
            await self._s3().abort(path, upload_id)
        except StoreFailed as exc:
            raise self._unavailable(exc) from exc
