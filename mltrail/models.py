"""What the query client returns: typed, read-only records of the server's JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mltrail.encoding import decode_value

__all__ = [
    "ApiKey",
    "ArtifactFile",
    "Experiment",
    "MetricHistory",
    "MetricPoint",
    "MetricSummary",
    "Run",
    "RunList",
    "RunSummary",
    "User",
]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _required_time(value: Any) -> datetime:
    parsed = _time(value)
    if parsed is None:
        raise ValueError(f"expected a timestamp, got {value!r}")
    return parsed


def _optional_value(value: Any) -> float | None:
    return None if value is None else decode_value(value)


@dataclass(frozen=True)
class MetricSummary:
    """A metric of a run: its latest point (greatest step, then timestamp) and the min and
    max over the series (NaN excluded; None when every value is NaN)."""

    value: float
    step: int
    timestamp: int
    min: float | None
    max: float | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MetricSummary:
        """Parse the server's JSON."""
        return cls(
            value=decode_value(data["value"]),
            step=int(data["step"]),
            timestamp=int(data["timestamp"]),
            min=_optional_value(data.get("min")),
            max=_optional_value(data.get("max")),
        )


@dataclass(frozen=True)
class Run:
    """A run with its params, tags and metric summaries."""

    id: str
    experiment_id: str
    name: str
    status: str
    user: str | None
    description: str | None
    parent_run_id: str | None
    started_at: datetime
    ended_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricSummary] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        """Parse the server's JSON."""
        return cls(
            id=str(data["id"]),
            experiment_id=str(data["experiment_id"]),
            name=str(data.get("name") or ""),
            status=str(data.get("status") or ""),
            user=data.get("user"),
            description=data.get("description"),
            parent_run_id=data.get("parent_run_id"),
            started_at=_required_time(data.get("started_at")),
            ended_at=_time(data.get("ended_at")),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
            params={str(k): str(v) for k, v in (data.get("params") or {}).items()},
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            metrics={
                str(k): MetricSummary.from_json(v) for k, v in (data.get("metrics") or {}).items()
            },
        )

    def to_row(self) -> dict[str, Any]:
        """One flat row: attributes, then `params.<k>`, `tags.<k>`, `metrics.<k>` (latest)."""
        row: dict[str, Any] = {
            "run_id": self.id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "status": self.status,
            "user": self.user,
            "description": self.description,
            "parent_run_id": self.parent_run_id,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }
        row.update({f"params.{k}": v for k, v in sorted(self.params.items())})
        row.update({f"tags.{k}": v for k, v in sorted(self.tags.items())})
        row.update({f"metrics.{k}": m.value for k, m in sorted(self.metrics.items())})
        return row


class RunList(list[Run]):
    """Runs, as returned by a search or a listing; `next_page_token` is set when the server
    has more than was asked for."""

    next_page_token: str | None = None

    def to_rows(self) -> list[dict[str, Any]]:
        """Flat rows (see `Run.to_row`), one per run."""
        return [run.to_row() for run in self]

    def to_pandas(self) -> Any:
        """A pandas DataFrame, one row per run (needs pandas)."""
        from mltrail.frames import require_pandas

        return require_pandas().DataFrame(self.to_rows())


@dataclass(frozen=True)
class RunSummary:
    """A run as listed in its experiment."""

    id: str
    name: str
    status: str
    started_at: datetime
    ended_at: datetime | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSummary:
        """Parse the server's JSON."""
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            status=str(data.get("status") or ""),
            started_at=_required_time(data.get("started_at")),
            ended_at=_time(data.get("ended_at")),
        )


@dataclass(frozen=True)
class Experiment:
    """An experiment; `recent_runs` is filled by `get` (at most 100, newest first)."""

    id: str
    name: str
    owner: str
    description: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    run_count: int
    recent_runs: tuple[RunSummary, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Experiment:
        """Parse the server's JSON."""
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            owner=str(data.get("owner") or ""),
            description=data.get("description"),
            status=str(data.get("status") or ""),
            created_at=_required_time(data.get("created_at")),
            updated_at=_required_time(data.get("updated_at")),
            run_count=int(data.get("run_count") or 0),
            recent_runs=tuple(RunSummary.from_json(r) for r in data.get("runs") or ()),
        )


@dataclass(frozen=True)
class MetricPoint:
    """One point of a metric series."""

    step: int
    timestamp: int
    value: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MetricPoint:
        """Parse the server's JSON."""
        return cls(int(data["step"]), int(data["timestamp"]), decode_value(data["value"]))


@dataclass(frozen=True)
class MetricHistory:
    """Every point of one metric of one run, ordered as the server returns them."""

    run_id: str
    key: str
    points: list[MetricPoint]

    def __len__(self) -> int:
        return len(self.points)

    def to_rows(self) -> list[dict[str, Any]]:
        """Flat rows: run_id, key, step, timestamp, value."""
        return [
            {
                "run_id": self.run_id,
                "key": self.key,
                "step": p.step,
                "timestamp": p.timestamp,
                "value": p.value,
            }
            for p in self.points
        ]

    def to_pandas(self) -> Any:
        """A pandas DataFrame with columns step, timestamp, value (needs pandas)."""
        from mltrail.frames import require_pandas

        pandas = require_pandas()
        return pandas.DataFrame(
            {
                "step": [p.step for p in self.points],
                "timestamp": [p.timestamp for p in self.points],
                "value": [p.value for p in self.points],
            }
        )


@dataclass(frozen=True)
class ArtifactFile:
    """A file or directory among a run's artifacts; `path` is relative to the run's artifact
    root, '/'-separated; `size` is in bytes, None for a directory."""

    path: str
    is_dir: bool
    size: int | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ArtifactFile:
        """Parse the server's JSON."""
        size = data.get("size")
        return cls(
            path=str(data["path"]),
            is_dir=bool(data.get("is_dir")),
            size=None if size is None else int(size),
        )


@dataclass(frozen=True)
class User:
    """A user of the server, with its role: `admin`, `member` or `viewer`."""

    id: str
    name: str
    role: str
    created_at: datetime

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> User:
        """Parse the server's JSON."""
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            role=str(data["role"]),
            created_at=_required_time(data.get("created_at")),
        )


@dataclass(frozen=True)
class ApiKey:
    """An API key as the server lists it: never the secret, only its first characters
    (`prefix`). `key`, the secret itself, is set only on the key just created: it is shown
    that once."""

    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    key: str | None = None

    @property
    def revoked(self) -> bool:
        """True once the key was revoked: it no longer works."""
        return self.revoked_at is not None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApiKey:
        """Parse the server's JSON."""
        return cls(
            id=str(data["id"]),
            user_id=str(data["user_id"]),
            name=str(data.get("name") or ""),
            prefix=str(data.get("prefix") or ""),
            created_at=_required_time(data.get("created_at")),
            revoked_at=_time(data.get("revoked_at")),
            key=data.get("key"),
        )
