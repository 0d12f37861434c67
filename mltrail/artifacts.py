"""A run's files: uploads streamed from disk, listings, and downloads streamed to disk, through
the server's `/api/v1/runs/{run_id}/artifacts` API (the same files the MLflow client logs).

```python
run.log_artifact("model.pt", artifact_path="checkpoints")   # -> checkpoints/model.pt
run.log_artifacts("plots/")                                 # every file under plots/
client.list_artifacts(run.id, "checkpoints")
client.download_artifact(run.id, "checkpoints/model.pt", "restored/")
```

A file is never read whole into memory: it is sent in chunks as it is read, with its size as
`Content-Length` (so the server refuses one over its limit before it is sent). An upload
replaces any file at the same path, so retrying one (as on 429, 5xx or a lost connection,
like every other request) is harmless.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from mltrail.errors import MltrailError, NotFound
from mltrail.models import ArtifactFile
from mltrail.transport import Body, Transport

__all__ = [
    "artifact_dir",
    "download_artifact",
    "file_body",
    "list_artifacts",
    "upload_directory",
    "upload_file",
]

UPLOAD_CHUNK_BYTES = 1024 * 1024


def artifact_dir(artifact_path: str | None) -> str:
    """A directory under the run's artifact root, normalized (`a//b/` -> `a/b`; None and ''
    are the root). Raises ValueError for a path the server would refuse: absolute, with
    `..`, a backslash or a NUL."""
    if not artifact_path:
        return ""
    if "\x00" in artifact_path or "\\" in artifact_path:
        raise ValueError(f"artifact path {artifact_path!r} must not contain '\\' or NUL")
    if artifact_path.startswith("/") or (len(artifact_path) > 1 and artifact_path[1] == ":"):
        raise ValueError(f"artifact path {artifact_path!r} must be relative to the run's root")
    segments = [s for s in artifact_path.split("/") if s not in ("", ".")]
    if ".." in segments:
        raise ValueError(f"artifact path {artifact_path!r} must not contain '..'")
    return "/".join(segments)


def _join(directory: str, name: str) -> str:
    return f"{directory}/{name}" if directory else name


def _url(run_id: str, path: str = "") -> str:
    base = f"/api/v1/runs/{quote(run_id, safe='')}/artifacts"
    return f"{base}/{quote(path, safe='/')}" if path else base


def file_body(local: Path, size: int) -> Body:
    """The file's bytes in chunks, from its start each time it is called; exactly `size`
    of them, as declared in Content-Length."""

    def chunks() -> Iterator[bytes]:
        with open(local, "rb") as handle:
            left = size
            while left > 0:
                chunk = handle.read(min(UPLOAD_CHUNK_BYTES, left))
                if not chunk:
                    raise MltrailError(f"{local} got shorter while it was being uploaded")
                left -= len(chunk)
                yield chunk

    return chunks


def upload_file(
    transport: Transport, run_id: str, local: str | os.PathLike[str], artifact_path: str | None
) -> ArtifactFile:
    """Upload the file `local` as `<artifact_path>/<its name>` among the run's artifacts."""
    source = Path(local)
    if source.is_dir():
        raise IsADirectoryError(f"{source} is a directory: use log_artifacts to upload one")
    size = source.stat().st_size  # FileNotFoundError for a missing file, before any request
    target = _join(artifact_dir(artifact_path), source.name)
    response = transport.request(
        "PUT",
        _url(run_id, target),
        body=file_body(source, size),
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
    )
    return ArtifactFile.from_json(response.json())


def _files(directory: Path) -> Iterator[Path]:
    """Every regular file under `directory` (following links to files), in a stable order."""
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            if path.is_file():
                yield path


def upload_directory(
    transport: Transport, run_id: str, local: str | os.PathLike[str], artifact_path: str | None
) -> list[ArtifactFile]:
    """Upload every file under the directory `local`, keeping their relative paths, under
    `artifact_path` (the run's root by default). Empty directories are not recorded."""
    source = Path(local)
    if not source.is_dir():
        raise NotADirectoryError(f"{source} is not a directory: use log_artifact for a file")
    base = artifact_dir(artifact_path)
    uploaded = []
    for path in _files(source):
        relative = path.parent.relative_to(source).as_posix()
        where = _join(base, relative) if relative != "." else base
        uploaded.append(upload_file(transport, run_id, path, where))
    return uploaded


def list_artifacts(
    transport: Transport, run_id: str, path: str | None = None
) -> list[ArtifactFile]:
    """The files and directories directly under `path` (the run's root by default); their
    paths are relative to the run's root. NotFound for a directory that does not exist."""
    body = transport.json("GET", _url(run_id), params={"path": artifact_dir(path) or None})
    return [ArtifactFile.from_json(item) for item in body.get("files", [])]


def _names_a_directory(dest: str | os.PathLike[str]) -> bool:
    """Whether `dest` means "into this directory": it exists as one, or it is spelled with
    a trailing separator (`restored/`)."""
    spelled = os.fspath(dest)
    separators = tuple(s for s in (os.sep, os.altsep, "/") if s)
    return spelled.endswith(separators) or Path(spelled).is_dir()


def _target(dest: Path, into: bool, path: str) -> Path:
    """Where the artifact `path` goes: inside `dest` (created if missing) when `into`,
    else at `dest` itself."""
    if into:
        dest.mkdir(parents=True, exist_ok=True)
        return dest / path.rsplit("/", 1)[-1]
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest


def _download_tree(transport: Transport, run_id: str, path: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for entry in list_artifacts(transport, run_id, path):
        name = entry.path.rsplit("/", 1)[-1]
        if entry.is_dir:
            _download_tree(transport, run_id, entry.path, dest / name)
        else:
            transport.download(_url(run_id, entry.path), dest / name)
    return dest


def download_artifact(
    transport: Transport, run_id: str, path: str, dest: str | os.PathLike[str]
) -> Path:
    """Download the artifact `path` (a file, or a directory with everything under it; '' is
    the whole run) to `dest`, streamed to disk. When `dest` is an existing directory or ends
    with `/`, the artifact keeps its name inside it (`restored/` -> `restored/model.pt`,
    the directory created if missing); otherwise `dest` is the new file's (or directory's)
    path. Returns where it was written."""
    relative = artifact_dir(path)
    target = Path(dest)
    if not relative:
        return _download_tree(transport, run_id, relative, target)
    into = _names_a_directory(dest)
    file_target = _target(target, into, relative)
    try:
        transport.download(_url(run_id, relative), file_target)
        return file_target
    except NotFound as missing:
        try:
            entries = list_artifacts(transport, run_id, relative)
        except MltrailError:
            raise missing from None
        if not entries:
            raise missing from None
    return _download_tree(transport, run_id, relative, file_target)
