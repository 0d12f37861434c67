"""Where artifact files live: a small interface (`ArtifactStore`) and its local-directory
implementation. An object-storage backend implements the same interface."""

from app.storage.base import ArtifactDownload, ArtifactStore, FileInfo, TooLarge
from app.storage.local import LocalArtifactStore

__all__ = ["ArtifactDownload", "ArtifactStore", "FileInfo", "LocalArtifactStore", "TooLarge"]
