"""Where artifact files live: a small interface (`ArtifactStore`) and its local-directory
implementation. An object-storage backend implements the same interface."""

from mltrail_server.storage.base import ArtifactDownload, ArtifactStore, FileInfo, TooLarge
from mltrail_server.storage.local import LocalArtifactStore

__all__ = ["ArtifactDownload", "ArtifactStore", "FileInfo", "LocalArtifactStore", "TooLarge"]
