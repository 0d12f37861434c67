"""Users, API keys, grants and audit events."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from mltrail_server.services.auth import Role


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role = Role.MEMBER


class User(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None = Field(
        default=None, description="When an admin disabled the user (its keys are refused)"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


class UserUpdate(BaseModel):
    """What an admin changes about a user; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: bool | None = Field(
        default=None, description="true: the user's keys are refused; false: they work again"
    )

    @model_validator(mode="after")
    def _something_to_change(self) -> "UserUpdate":
        if self.role is None and self.disabled is None:
            raise ValueError("give at least one of the fields role and disabled")
        return self


class UserDeleted(BaseModel):
    """What went with a deleted user."""

    id: UUID
    name: str
    keys_deleted: int
    experiments_transferred: int = Field(description="Experiments the user owned")
    new_owner: str = Field(description="Who owns those experiments now")


class KeyCreate(BaseModel):
    name: str = Field(default="default", min_length=1, max_length=255)


class ApiKey(BaseModel):
    """An API key as listed: never the key itself."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    user_id: UUID
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it")
    created_at: datetime
    revoked_at: datetime | None


class NewApiKey(ApiKey):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


class GrantCreate(BaseModel):
    user_id: UUID


class Grant(BaseModel):
    """A user allowed to write to an experiment (or a registered model) it does not own."""

    user_id: UUID
    name: str
    role: Role
    granted_at: datetime


class Me(BaseModel):
    name: str
    role: Role
    authenticated: bool = Field(description="False when the server runs without auth")


class AuditEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    principal: str | None
    method: str
    path: str
    status: int
    client: str | None
    request_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEvent]
    next_before_id: int | None = Field(description="Pass as before_id for the next page")


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
