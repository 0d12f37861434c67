"""Experiments: the seed's resource, with its name rules applied on create and on rename."""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mltrail_server.models.common import Page, normalize_name, reject_nulls
from mltrail_server.models.run import RunSummary


class ExperimentStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


NAME_DESCRIPTION = (
    "Unique among live experiments; ASCII letters, digits, '_' and '-'; stored lowercased"
)


class ExperimentCreate(BaseModel):
    """Schema for creating an experiment."""

    name: str = Field(
        min_length=1,
        max_length=100,
        description=NAME_DESCRIPTION,
        examples=["hyperparameter_search_v1"],
    )
    owner: str | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description=(
            "Username of the owner. With auth on, the caller owns it (an admin may name another "
            "existing user instead); with auth off it is required"
        ),
    )
    description: str | None = Field(default=None, max_length=500)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return normalize_name(value)


class ExperimentUpdate(BaseModel):
    """Fields to change; only the fields sent are changed. An empty body changes nothing
    but `updated_at`."""

    name: str | None = Field(
        default=None, min_length=1, max_length=100, description=NAME_DESCRIPTION
    )
    description: str | None = Field(default=None, max_length=500)
    status: ExperimentStatus | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str | None) -> str | None:
        return None if value is None else normalize_name(value)

    @model_validator(mode="after")
    def _no_null_required_fields(self) -> "ExperimentUpdate":
        reject_nulls(self, "name", "status")
        return self


class Experiment(BaseModel):
    """An experiment with its most recent runs."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    owner: str
    description: str | None
    status: ExperimentStatus
    created_at: datetime
    updated_at: datetime
    run_count: int = Field(description="Number of live runs")
    runs: list[RunSummary] = Field(
        default_factory=list,
        description="The most recent runs (at most 100); page through all of them at "
        "/api/v1/experiments/{id}/runs",
    )


class ExperimentListItem(BaseModel):
    """An experiment in a list."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    name: str
    owner: str
    description: str | None
    status: ExperimentStatus
    created_at: datetime
    updated_at: datetime
    run_count: int


ExperimentPage = Page[ExperimentListItem]
