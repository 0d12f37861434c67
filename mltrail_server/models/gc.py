"""The wire models of garbage collection (`POST /api/v1/admin/gc`)."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

MAX_GC_AGE_SECONDS = 1000 * 365 * 86400


class GcRequest(BaseModel):
    """What `POST /api/v1/admin/gc` purges: soft-deleted runs and experiments deleted more
    than `older_than_seconds` ago; with `run_ids` and/or `experiment_ids`, only those."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="List what would go; change nothing")
    older_than_seconds: float = Field(
        default=0,
        ge=0,
        le=MAX_GC_AGE_SECONDS,
        description="Only what was deleted at least this long ago (at most 1000 years)",
    )
    run_ids: list[UUID] | None = Field(default=None, max_length=1000)
    experiment_ids: list[UUID] | None = Field(default=None, max_length=1000)


class GcItem(BaseModel):
    kind: str = Field(description="run or experiment")
    id: UUID
    experiment_id: UUID
    name: str
    deleted_at: datetime | None
    kept_because: str | None = Field(
        default=None, description="Why it stays: the model version registered from it"
    )


class GcPointsDropped(BaseModel):
    experiment_id: UUID
    retention_days: float
    points: int


class GcReport(BaseModel):
    dry_run: bool
    ran: bool = Field(description="False when another collector was running: nothing done")
    purged: list[GcItem] = Field(description="Gone for good (with dry_run: would go)")
    kept: list[GcItem] = Field(description="Deleted and old enough, but still referenced")
    metric_points: list[GcPointsDropped] = Field(
        default_factory=list,
        description="Raw metric points dropped (dry_run: would be) per experiment tagged "
        "mltrail.metric_retention_days; rollups kept",
    )
