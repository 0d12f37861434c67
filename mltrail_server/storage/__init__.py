"""Where artifact files live: a small interface (`ArtifactStore`), its local-directory
implementation, and the object-storage one (S3, GCS, Azure) for an ARTIFACT_ROOT that is a
bucket URL."""

from mltrail_server.config import Settings
from mltrail_server.storage.base import ArtifactDownload, ArtifactStore, FileInfo, TooLarge
from mltrail_server.storage.local import LocalArtifactStore
from mltrail_server.storage.object_store import (
    NoSuchUpload,
    ObjectArtifactStore,
    ObjectStoreUnreachable,
    PartsRefused,
    UploadedPart,
    open_object_store,
)

__all__ = [
    "ArtifactDownload",
    "ArtifactStore",
    "FileInfo",
    "LocalArtifactStore",
    "NoSuchUpload",
    "ObjectArtifactStore",
    "ObjectStoreUnreachable",
    "PartsRefused",
    "TooLarge",
    "UploadedPart",
    "open_artifact_store",
]


def open_artifact_store(settings: Settings) -> LocalArtifactStore | ObjectArtifactStore:
    """The store ARTIFACT_ROOT names; opening does no I/O (an object store's `probe` does)."""
    url = settings.artifact_store_url
    if url is None:
        return LocalArtifactStore(settings.resolved_artifact_root)
    return open_object_store(url, s3_endpoint_url=settings.artifact_s3_endpoint_url)
