"""The one canonical form of an artifact path, and where in the store a path belongs.

Every artifact path a request carries is canonicalized here once, before authorization,
storage and audit see it: the server has already percent-decoded the URL (once, as HTTP
defines); backslashes count as separators; empty and `.` segments are dropped; `..` removes
the segment before it. A path that would climb above its root, or that holds a NUL or our
upload-in-progress marker, is refused with a 400 naming the field. Two spellings of the same
file therefore always reach the same canonical path, or neither is accepted.

In the store, a run's files live under `<experiment>/<run>/artifacts/` and a logged model's
under `<experiment>/models/<model>/artifacts/` (MLflow's layout); `locate` parses a store path
into that owner, with the ids in their canonical spelling.
"""

import uuid
from dataclasses import dataclass
from enum import StrEnum

from mltrail_server.db.tables import DEFAULT_EXPERIMENT_UUID
from mltrail_server.errors import InvalidPath
from mltrail_server.services.access import Targets

__all__ = [
    "UPLOAD_MARKER",
    "ArtifactLocation",
    "Owner",
    "canonical_path",
    "experiment_folder",
    "locate",
    "model_artifact_prefix",
    "run_artifact_prefix",
]

# The store's layout is MLflow's, so a bucket can be shared with its server: an experiment's
# folder is "0" for the default experiment, else the hex of its id.
DEFAULT_EXPERIMENT_FOLDER = "0"


def experiment_folder(experiment_id: uuid.UUID) -> str:
    if experiment_id == DEFAULT_EXPERIMENT_UUID:
        return DEFAULT_EXPERIMENT_FOLDER
    return experiment_id.hex


def run_artifact_prefix(experiment_id: uuid.UUID, run_id: uuid.UUID) -> str:
    """Where a run's artifacts are kept in the artifact store."""
    return f"{experiment_folder(experiment_id)}/{run_id.hex}/artifacts"


def model_artifact_prefix(experiment_id: uuid.UUID, model_id: str) -> str:
    """Where a logged model's artifacts are kept in the artifact store."""
    return f"{experiment_folder(experiment_id)}/models/{model_id}/artifacts"


# Part of the temporary name of a file being uploaded (mltrail_server/storage); never a user's name.
UPLOAD_MARKER = ".upload-"
MAX_PATH_LENGTH = 4096


def canonical_path(text: str, *, field: str = "path") -> str:
    """The canonical relative form of `text` ('' for the root); InvalidPath when unsafe."""
    if "\x00" in text:
        raise InvalidPath(f"{field}: must not contain the NUL character")
    if len(text) > MAX_PATH_LENGTH:
        raise InvalidPath(f"{field}: at most {MAX_PATH_LENGTH} characters (got {len(text)})")
    segments: list[str] = []
    for segment in text.replace("\\", "/").split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                raise InvalidPath(f"{field}: {text!r} climbs above its root ('..')")
            segments.pop()
            continue
        if UPLOAD_MARKER in segment:
            raise InvalidPath(
                f"{field}: {segment!r} contains {UPLOAD_MARKER!r}, which names uploads in progress"
            )
        segments.append(segment)
    return "/".join(segments)


class Owner(StrEnum):
    RUN = "run"
    MODEL = "model"


@dataclass(frozen=True)
class ArtifactLocation:
    """A canonical store path inside one run's or one logged model's artifacts."""

    experiment_id: uuid.UUID
    owner: Owner
    owner_id: str  # a run's UUID in hex, or a logged model's id
    relative: str  # below the owner's `artifacts/` directory; '' for that directory

    @property
    def run_id(self) -> uuid.UUID | None:
        return uuid.UUID(self.owner_id) if self.owner == Owner.RUN else None

    @property
    def prefix(self) -> str:
        if self.owner == Owner.RUN:
            return run_artifact_prefix(self.experiment_id, uuid.UUID(self.owner_id))
        return model_artifact_prefix(self.experiment_id, self.owner_id)

    @property
    def store_path(self) -> str:
        return f"{self.prefix}/{self.relative}" if self.relative else self.prefix

    def access_targets(self) -> Targets:
        """The run or logged model written to, and its experiment."""
        targets = Targets(experiments={self.experiment_id})
        if self.owner == Owner.RUN:
            targets.runs.add(uuid.UUID(self.owner_id))
        else:
            targets.models.add(self.owner_id)
        return targets


def _experiment(segment: str) -> uuid.UUID | None:
    if segment == DEFAULT_EXPERIMENT_FOLDER:
        return DEFAULT_EXPERIMENT_UUID
    return _uuid(segment)


def _uuid(segment: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(segment)
    except ValueError:
        return None


def locate(path: str) -> ArtifactLocation | None:
    """The run or logged model a canonical store path belongs to, or None for a path that
    belongs to neither (the store's root, an experiment's folder, any other shape)."""
    parts = path.split("/")
    experiment_id = _experiment(parts[0]) if parts else None
    if experiment_id is None or len(parts) < 3:
        return None
    if parts[1] == "models" and len(parts) >= 4 and parts[3] == "artifacts" and parts[2]:
        return ArtifactLocation(experiment_id, Owner.MODEL, parts[2], "/".join(parts[4:]))
    run_id = _uuid(parts[1])
    if run_id is not None and parts[2] == "artifacts":
        return ArtifactLocation(experiment_id, Owner.RUN, run_id.hex, "/".join(parts[3:]))
    return None
