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
