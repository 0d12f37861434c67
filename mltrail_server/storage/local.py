"""Artifacts as files under one local directory.

An upload streams into a temporary file beside its target and is renamed over it at the end,
so a reader never sees half a file and a re-sent upload (the MLflow client retries PUTs)
simply replaces the first. File system calls run in worker threads, off the event loop.

A write that fails for any reason (a full disk, a client that went away, a size limit) removes
its temporary file and the directories it created for it: the store looks as before the write.
A full disk or quota (ENOSPC, EDQUOT) is raised as `StorageFull`.
"""

import errno
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterable
from pathlib import Path

import anyio
from anyio import to_thread

from mltrail_server.storage.base import ArtifactDownload, FileInfo, StorageFull, TooLarge

logger = logging.getLogger(__name__)

_TEMP_SUFFIX = ".upload-"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
STORAGE_FULL_MESSAGE = (
    "Artifact storage is full (no space left on the server's artifact disk or quota); "
    "nothing was stored. Free space or ask the operator to, then retry the upload."
)


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _resolve(self, path: str) -> Path:
        target = (self.root / path).resolve() if path else self.root
        if target != self.root and not target.is_relative_to(self.root):
            raise ValueError(f"path {path!r} leaves the artifact root")
        return target

    async def write(self, path: str, chunks: AsyncIterable[bytes], *, max_bytes: int) -> int:
        target = self._resolve(path)
        temporary = target.with_name(f"{target.name}{_TEMP_SUFFIX}{uuid.uuid4().hex}")
        created: list[Path] = []
        written = 0
        try:
            await to_thread.run_sync(_make_parent, target, created)
            async with await anyio.open_file(temporary, "wb") as file:
                async for chunk in chunks:
                    written += len(chunk)
                    if written > max_bytes:
                        raise TooLarge(max_bytes)
                    await file.write(chunk)
            await to_thread.run_sync(os.replace, temporary, target)
        except BaseException as exc:
            # Shielded: a cancelled request (the client went away) still cleans up.
            with anyio.CancelScope(shield=True):
                await to_thread.run_sync(_remove_quietly, temporary, created)
            if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
                # The operator has to act (the client only gets a 507): one line, no traceback.
                logger.error("artifact storage is full under %s: %s", self.root, exc.strerror)
                raise StorageFull(STORAGE_FULL_MESSAGE) from exc
            raise
        return written

    async def download(self, path: str) -> ArtifactDownload | None:
        target = self._resolve(path)
        info = await to_thread.run_sync(_stat, target, path)
        if info is None or info.is_dir:
            return None
        return ArtifactDownload(size=info.size or 0, local_path=target, chunks=None)

    async def list(self, path: str) -> list[FileInfo] | None:
        return await to_thread.run_sync(_list, self._resolve(path), path)

    async def stat(self, path: str) -> FileInfo | None:
        return await to_thread.run_sync(_stat, self._resolve(path), path)

    async def delete(self, path: str) -> bool:
        return await to_thread.run_sync(_delete, self._resolve(path), self.root)


def _make_parent(target: Path, created: list[Path]) -> None:
    """Create the missing directories above `target`, recording each in `created` (outermost
    first) so that a failed write can take them away again."""
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(str(parent))
    missing = [directory for directory in (parent, *parent.parents) if not directory.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue  # another upload made it meanwhile; it is not ours to remove
        created.append(directory)
    if not parent.is_dir():
        raise NotADirectoryError(str(parent))
    if target.is_dir():
        raise IsADirectoryError(str(target))


def _remove_quietly(path: Path, created: list[Path]) -> None:
    path.unlink(missing_ok=True)
    for directory in reversed(created):
        try:
            directory.rmdir()
        except OSError:
            return  # another upload has put a file there meanwhile: keep it and its parents


def _stat(target: Path, path: str) -> FileInfo | None:
    try:
        result = target.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if target.is_dir():
        return FileInfo(path, True, None)
    return FileInfo(path, False, result.st_size)


def _list(target: Path, path: str) -> list[FileInfo] | None:
    if not target.is_dir():
        return None
    entries = []
    with os.scandir(target) as scan:
        for entry in scan:
            if _TEMP_SUFFIX in entry.name:
                continue  # an upload in progress
            child = f"{path}/{entry.name}" if path else entry.name
            if entry.is_dir():
                entries.append(FileInfo(child, True, None))
            else:
                entries.append(FileInfo(child, False, entry.stat().st_size))
    return sorted(entries, key=lambda info: info.path)


def _delete(target: Path, root: Path) -> bool:
    if target == root:
        raise ValueError("refusing to delete the artifact root")
    if target.is_dir():
        shutil.rmtree(target)
        return True
    try:
        target.unlink()
    except (FileNotFoundError, NotADirectoryError):
        return False
    return True
