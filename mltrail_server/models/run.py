"""Runs: one execution of training code inside an experiment."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from mltrail_server.models.common import Page, reject_nulls
from mltrail_server.models.tracking import (
    MAX_BATCH_PARAMS,
    MAX_BATCH_TAGS,
    Key,
    LatestMetric,
    ParamValue,
    TagValue,
)

# MLflow's note of a run (its client's `set_tag`, its UI's Notes): the one place a run's
# `description` lives; v1 reads and writes it as `description`.
NOTE_TAG = "mlflow.note.content"


class RunStatus(StrEnum):
    RUNNING = "running"
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    FAILED = "failed"
    KILLED = "killed"


TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.KILLED})


class RunCreate(BaseModel):
    """Schema for starting a run."""

    name: str | None = Field(
        default=None, min_length=1, max_length=250, description="Generated when omitted"
    )
    user: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    parent_run_id: UUID | None = Field(default=None, description="Makes this a nested run")
    started_at: AwareDatetime | None = Field(
        default=None, description="Defaults to now; with a time zone (e.g. `Z`)"
    )
    params: dict[Key, ParamValue] = Field(
        default_factory=dict, max_length=MAX_BATCH_PARAMS, description="Write-once params"
    )
    tags: dict[Key, TagValue] = Field(default_factory=dict, max_length=MAX_BATCH_TAGS)


class RunImport(BaseModel):
    """A run copied from another tracker (`POST /api/v1/import/runs`, admins only): its id,
    times and status are kept as given. Params, tags and metrics follow through the run's
    batch route."""

    id: UUID = Field(description="Kept: links such as `runs:/<id>` keep working")
    experiment_id: UUID
    name: str = Field(min_length=1, max_length=250)
    status: RunStatus
    user: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=5000)
    parent_run_id: UUID | None = Field(
        default=None, description="Kept when that run is in the same experiment here"
    )
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ends_after_it_starts(self) -> "RunImport":
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at: must not be before started_at")
        if self.parent_run_id == self.id:
            raise ValueError("parent_run_id: a run cannot be its own parent")
        return self


class RunUpdate(BaseModel):
    """Fields to change; only the fields sent are changed. Moving to `completed`, `failed`
    or `killed` sets `ended_at` (now, unless given); moving back to `running` clears it."""

    status: RunStatus | None = None
    name: str | None = Field(default=None, min_length=1, max_length=250)
    description: str | None = Field(default=None, max_length=5000)
    ended_at: AwareDatetime | None = Field(default=None, description="With a time zone")

    @model_validator(mode="after")
    def _no_null_required_fields(self) -> "RunUpdate":
        reject_nulls(self, "status", "name")
        return self


class RunSummary(BaseModel):
    """Brief run info for an experiment's page."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    status: RunStatus
    started_at: datetime
    ended_at: datetime | None


class Run(BaseModel):
    """A run."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    experiment_id: UUID
    name: str
    status: RunStatus
    user: str | None
    description: str | None
    parent_run_id: UUID | None
    started_at: datetime
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, LatestMetric] = Field(
        default_factory=dict, description="Per key: the latest point and the min and max"
    )


RunPage = Page[Run]
