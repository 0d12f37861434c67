"""Schemas of the model registry in /api/v1 (`/models`)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from mltrail_server.errors import InvalidInput
from mltrail_server.models.common import Page, reject_nulls
from mltrail_server.services.registry_rules import ALL_STAGES, check_name


def _model_name(value: str) -> str:
    try:
        return check_name(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


ModelName = Annotated[
    str,
    AfterValidator(_model_name),
    Field(
        description="Any text but '/' and ':', at most 256 characters, kept as given "
        "(MLflow's rule)",
        examples=["churn-classifier"],
    ),
]


class ModelVersion(BaseModel):
    name: str
    version: int
    source: str = Field(description="What was registered: runs:/…, models:/m-…, or a URI")
    run_id: UUID | None
    logged_model_id: str | None
    status: str
    stage: str = Field(description="None, Staging, Production or Archived (MLflow's stages)")
    description: str | None
    tags: dict[str, str]
    aliases: list[str]
    created_at: datetime
    updated_at: datetime


class LoggedModel(BaseModel):
    """A model logged by the MLflow 3 client (`<flavor>.log_model`), by or into a run."""

    id: str = Field(description="MLflow's model id (`m-…`)")
    name: str
    model_type: str | None
    status: str = Field(description="PENDING, READY or FAILED (MLflow's statuses)")
    source_run_id: UUID | None = Field(description="The run that logged it, if any")
    artifact_location: str
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str]
    params: dict[str, str]


class RegisteredModel(BaseModel):
    name: str
    description: str | None
    owner: str
    created_at: datetime
    updated_at: datetime
    tags: dict[str, str]
    aliases: dict[str, int] = Field(description="alias -> version")
    latest_version: int | None
    versions_count: int


class RegisteredModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ModelName
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class RegisteredModelUpdate(BaseModel):
    """Only the fields sent change; `name` renames (versions and aliases stay)."""

    model_config = ConfigDict(extra="forbid")

    name: ModelName | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _no_null_name(self) -> "RegisteredModelUpdate":
        reject_nulls(self, "name")
        return self


class ModelVersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        description="runs:/<run id>/<path>, models:/m-<logged model id>, or an artifact URI",
    )
    run_id: UUID | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class ModelVersionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    stage: str | None = Field(default=None, description=f"One of {', '.join(ALL_STAGES)}")

    @model_validator(mode="after")
    def _no_null_stage(self) -> "ModelVersionUpdate":
        reject_nulls(self, "stage")
        return self


class TagValue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str


class AliasTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)


RegisteredModelPage = Page[RegisteredModel]
ModelVersionPage = Page[ModelVersion]
