"""Schemas of `/api/v1/import/...` beyond runs (admins only): MLflow 3's logged models with
their ids, and registered models with their versions' numbers, as another MLflow held them."""

import math
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from mltrail_server.models.registry import ModelName

__all__ = [
    "LoggedModelImport",
    "LoggedModelMetricImport",
    "ModelVersionImport",
    "RegisteredModelImport",
]

MAX_METRICS = 10_000
MAX_VERSIONS = 1_000
MAX_NAME_LENGTH = 500
LOGGED_MODEL_ID = r"^m-[0-9A-Za-z_-]{1,62}$"
VersionNumber = Annotated[int, Field(ge=1, lt=2**31)]


class LoggedModelMetricImport(BaseModel):
    """A point logged with the model's id; it is the run's point too (the run's import
    sends it among the run's metrics)."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=250)
    value: float | Literal["NaN", "Infinity", "-Infinity"]
    timestamp: int = Field(ge=-(2**63), lt=2**63)
    step: int = Field(default=0, ge=-(2**63), lt=2**63)
    run_id: UUID = Field(description="The run that logged it; a run not here drops the point")
    dataset_name: str | None = Field(default=None, max_length=500)
    dataset_digest: str | None = Field(default=None, max_length=36)

    @property
    def number(self) -> float:
        if isinstance(self.value, str):
            return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[self.value]
        return self.value


class LoggedModelImport(BaseModel):
    """A logged model copied from another MLflow (`POST /api/v1/import/logged-models`): its
    `m-…` id, times and status are kept, so `models:/m-…` URIs keep working. Its files
    follow through the artifact routes, under the `artifact_location` the answer gives."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=LOGGED_MODEL_ID, description="Kept: `models:/<id>` keeps working")
    experiment_id: UUID
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)
    model_type: str | None = Field(default=None, max_length=MAX_NAME_LENGTH)
    source_run_id: UUID | None = Field(
        default=None, description="Kept when that run is here (whatever its lifecycle)"
    )
    status: Literal["UNSPECIFIED", "PENDING", "READY", "FAILED"] = "READY"
    status_message: str | None = Field(default=None, max_length=5000)
    tags: dict[str, str] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    metrics: list[LoggedModelMetricImport] = Field(default_factory=list, max_length=MAX_METRICS)
    created_at: AwareDatetime
    updated_at: AwareDatetime


class ModelVersionImport(BaseModel):
    """One version, with the number it had there."""

    model_config = ConfigDict(extra="forbid")

    version: VersionNumber
    source: str = Field(
        min_length=1,
        description="runs:/<run id>/<path>, models:/m-<logged model id>, models:/<name>/<n> "
        "or an artifact URI; where its files are is resolved here, as at a create",
    )
    run_id: UUID | None = None
    logged_model_id: str | None = Field(default=None, pattern=LOGGED_MODEL_ID)
    run_link: str | None = Field(default=None, max_length=5000)
    user: str | None = Field(default=None, max_length=255)
    status: Literal["READY", "PENDING_REGISTRATION", "FAILED_REGISTRATION"] = "READY"
    stage: str = Field(default="None", description="None, Staging, Production or Archived")
    description: str | None = Field(default=None, max_length=5000)
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: AwareDatetime
    updated_at: AwareDatetime


class RegisteredModelImport(BaseModel):
    """A registered model copied from another MLflow (`POST /api/v1/import/registered-models`):
    created when missing, else made to match; the versions sent are created with their
    numbers or made to match (versions not sent stay as they are, so a model with many
    versions goes in several requests); then `aliases` are set."""

    model_config = ConfigDict(extra="forbid")

    name: ModelName
    description: str | None = Field(default=None, max_length=100_000)
    tags: dict[str, str] = Field(default_factory=dict)
    versions: list[ModelVersionImport] = Field(default_factory=list, max_length=MAX_VERSIONS)
    aliases: dict[str, VersionNumber] = Field(
        default_factory=dict, description="alias -> version; the version must be here"
    )
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @field_validator("versions")
    @classmethod
    def _one_each(cls, versions: list[ModelVersionImport]) -> list[ModelVersionImport]:
        numbers = [version.version for version in versions]
        if len(set(numbers)) != len(numbers):
            raise ValueError("versions: each version number at most once")
        return versions
