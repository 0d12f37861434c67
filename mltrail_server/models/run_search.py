"""Searching runs across experiments with MLflow's filter language (plus OR and parentheses)."""

from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, Field

from mltrail_server.models.run import Run

MAX_EXPERIMENTS = 100
MAX_RESULTS = 1000
MAX_ORDER_BY = 20


class RunView(StrEnum):
    """Which runs by lifecycle: live ones, soft-deleted ones, or both."""

    ACTIVE = "active"
    DELETED = "deleted"
    ALL = "all"


class RunSearch(BaseModel):
    """A search over the runs of one or more experiments."""

    experiment_ids: list[UUID] = Field(
        min_length=1,
        max_length=MAX_EXPERIMENTS,
        description="Experiments to search; a deleted or unknown experiment contributes no runs",
    )
    filter: str | None = Field(
        default=None,
        description="MLflow's filter language, plus OR and parentheses; empty matches every run "
        "(at most 10,000 characters and 50 conditions)",
        examples=["metrics.acc > 0.9 AND (params.lr = '0.01' OR tags.team ILIKE 'nlp%')"],
    )
    order_by: list[str] = Field(
        default_factory=list,
        max_length=MAX_ORDER_BY,
        description="Clauses such as `metrics.acc DESC` or `params.lr` (ASC by default); "
        "ties, and an empty list, fall back to start_time DESC, then run id",
        examples=[["metrics.acc DESC", "params.lr", "attributes.start_time"]],
    )
    max_results: int = Field(default=100, ge=1, le=MAX_RESULTS, description="Runs per page")
    page_token: str | None = Field(
        default=None,
        max_length=1000,
        description="`next_page_token` of the previous page, sent with the same search",
    )
    view: RunView = RunView.ACTIVE


class RunSearchResult(BaseModel):
    """One page of matching runs."""

    runs: list[Run]
    next_page_token: str | None = Field(description="Null on the last page")
