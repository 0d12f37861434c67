"""The spool: what could not be sent yet, on disk, so it survives the server being down and
the process being killed.

A spool file is append-only JSON lines; each line is one record for one run, either a batch
(the exact body of `POST /runs/{id}/batch`) or a final status. A line is written with one
`write` and `fsync`'d before the call returns. The writing process holds an exclusive `flock`
on its file, so `mltrail sync` (or another run's start) never uploads a file still being
written; the kernel drops the lock when the process dies, however it dies. A torn last line
(the process killed inside `write`) is skipped: its points were never reported as spooled.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mltrail.encoding import dump_json

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, sync may race a writer
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "REJECTED_DIR",
    "Record",
    "SpoolWriter",
    "batch_record",
    "claim",
    "read_records",
    "reject",
    "rewrite",
    "spool_files",
    "status_record",
]

SUFFIX = ".jsonl"
REJECTED_DIR = "rejected"
VERSION = 1


@dataclass(frozen=True)
class Record:
    """One line of a spool file."""

    run_id: str
    batch: dict[str, Any] | None
    points: int
    status: dict[str, Any] | None
    line: bytes

    @property
    def body(self) -> bytes:
        """The batch request body: the same bytes as when it was first sent."""
        return dump_json(self.batch or {})


def batch_record(run_id: str, batch: Mapping[str, Any], points: int) -> dict[str, Any]:
    """A spool line carrying a batch of `points` metric points (and maybe params, tags)."""
    return {"v": VERSION, "run_id": run_id, "points": points, "batch": batch}


def status_record(run_id: str, update: Mapping[str, Any]) -> dict[str, Any]:
    """A spool line carrying the run's final `PATCH /runs/{id}` body."""
    return {"v": VERSION, "run_id": run_id, "status": update}


def _lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _fsync_dir(directory: Path) -> None:
    # The new file's name must survive a crash too, not only its contents.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class SpoolWriter:
    """Appends records for one run to this process's own spool file, created on first use
    and locked while open. Thread-safe."""

    def __init__(self, directory: Path, run_id: str) -> None:
        self.directory = directory
        self.run_id = run_id
        self._lock = threading.Lock()
        self._fd: int | None = None
        self.path: Path | None = None

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write records durably: on return they are on disk."""
        if not records:
            return
        data = b"".join(dump_json(record) + b"\n" for record in records)
        with self._lock:
            fd = self._fd if self._fd is not None else self._open()
            _write_all(fd, data)
            os.fsync(fd)

    def _open(self) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{self.run_id}.{os.getpid()}.{uuid.uuid4().hex[:12]}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _lock(fd)  # a fresh unique name: nobody else can hold it
        _fsync_dir(self.directory)
        self._fd, self.path = fd, path
        return fd

    def close(self) -> None:
        """Close (and unlock) the current file; the next append starts a new one."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None
            self.path = None


def spool_files(directory: Path, run_id: str | None = None) -> list[Path]:
    """The spool files waiting in `directory` (only `run_id`'s when given), oldest first."""
    if not directory.is_dir():
        return []
    pattern = f"{run_id}.*{SUFFIX}" if run_id else f"*{SUFFIX}"
    files = [p for p in directory.glob(pattern) if p.is_file()]

    def age(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:
            return 0.0

    return sorted(files, key=age)


@contextlib.contextmanager
def claim(path: Path) -> Iterator[IO[bytes] | None]:
    """Open and lock a spool file for uploading; yields None when another process holds it
    (it is still being written, or another sync has it) or it is gone."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the lock lives as long as this handle
    except FileNotFoundError:
        yield None
        return
    with handle:
        yield handle if _lock(handle.fileno()) else None


def read_records(data: bytes) -> tuple[list[Record], int]:
    """The records in a spool file's bytes, and the number of unreadable lines skipped
    (a torn last line after a crash)."""
    records: list[Record] = []
    bad = 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            record = Record(
                run_id=str(raw["run_id"]),
                batch=raw.get("batch"),
                points=int(raw.get("points", 0)),
                status=raw.get("status"),
                line=line,
            )
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        records.append(record)
    return records, bad


def rewrite(path: Path, records: Sequence[Record]) -> None:
    """Replace a spool file by the records still to send (atomically, durably)."""
    if not records:
        path.unlink(missing_ok=True)
        return
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(b"".join(record.line + b"\n" for record in records))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def reject(directory: Path, run_id: str, entry: Mapping[str, Any], reason: str) -> Path:
    """Keep a record the server refused (a deleted run, a param conflict) for a human to look
    at, in `rejected/<run_id>.jsonl`, with the reason."""
    folder = directory / REJECTED_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run_id}{SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        _write_all(fd, dump_json({**entry, "error": reason}) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return path
