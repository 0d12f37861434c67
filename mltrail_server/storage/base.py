"""The artifact storage interface. Paths are relative, '/'-separated and already checked
(no '..', not absolute) by the caller; a store still refuses any path that would leave its
root."""

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mltrail_server.errors import StorageFull

__all__ = ["ArtifactDownload", "ArtifactStore", "FileInfo", "StorageFull", "TooLarge"]

# A store raises `StorageFull` (a domain error: 507 in both APIs) when its disk or quota has
# no room left; whatever it had written of that file is gone, and a replaced file is intact.


@dataclass(frozen=True)
class FileInfo:
    """One entry of a directory listing; `path` is relative to the store's root."""

    path: str
    is_dir: bool
    size: int | None  # None for a directory


@dataclass(frozen=True)
class ArtifactDownload:
    """A file to send: a local path (sent with sendfile where possible), or chunks."""

    size: int
    local_path: Path | None
    chunks: AsyncIterator[bytes] | None

    async def read(self) -> bytes:
        """The whole file in memory: for small files only (a caller checks `size` first)."""
        if self.local_path is not None:
            return await asyncio.to_thread(self.local_path.read_bytes)
        assert self.chunks is not None
        return b"".join([chunk async for chunk in self.chunks])


class TooLarge(Exception):
    """An upload went past its size limit; nothing was stored."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


class ArtifactStore(Protocol):
    async def write(self, path: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        """Store the chunks as the file at `path` (replacing it), never holding the whole
        file in memory; the number of bytes written. Raises `TooLarge` past `max_bytes`,
        `StorageFull` when no space is left, `IsADirectoryError`/`NotADirectoryError` when a
        directory is in the way. On any failure nothing of the new file stays behind and a
        file it was to replace is unchanged."""

    async def download(self, path: str) -> ArtifactDownload | None:
        """The file at `path`, or None when there is no such file."""

    async def list(self, path: str) -> list[FileInfo] | None:
        """The entries directly under the directory `path` (`""` is the root), sorted by
        path; None when `path` is not a directory."""

    async def stat(self, path: str) -> FileInfo | None:
        """The file or directory at `path`, or None."""

    async def delete(self, path: str) -> bool:
        """Remove the file or the whole directory at `path`; False if there was none."""
