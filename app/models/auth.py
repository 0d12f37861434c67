"""Users, API keys, grants and audit events."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from app.services.auth import Role


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role = Role.MEMBER


class User(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    role: Role
    created_at: datetime


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
