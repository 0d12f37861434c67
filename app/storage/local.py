"""Artifacts as files under one local directory.

An upload streams into a temporary file beside its target and is renamed over it at the end,
so a reader never sees half a file and a re-sent upload (the MLflow client retries PUTs)
simply replaces the first. File system calls run in worker threads, off the event loop.
"""

import os
import shutil
import uuid
from collections.abc import AsyncIterable
from pathlib import Path

import anyio
from anyio import to_thread

from app.storage.base import ArtifactDownload, FileInfo, TooLarge

_TEMP_SUFFIX = ".upload-"


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
        await to_thread.run_sync(_make_parent, target)
        temporary = target.with_name(f"{target.name}{_TEMP_SUFFIX}{uuid.uuid4().hex}")
        written = 0
        try:
            async with await anyio.open_file(temporary, "wb") as file:
                async for chunk in chunks:
                    written += len(chunk)
                    if written > max_bytes:
                        raise TooLarge(max_bytes)
                    await file.write(chunk)
            await to_thread.run_sync(os.replace, temporary, target)
        except BaseException:
            await to_thread.run_sync(_remove_quietly, temporary)
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


def _make_parent(target: Path) -> None:
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise NotADirectoryError(str(parent))
    parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        raise IsADirectoryError(str(target))


def _remove_quietly(path: Path) -> None:
    path.unlink(missing_ok=True)


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
