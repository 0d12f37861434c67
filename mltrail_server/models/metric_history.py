"""Reading metric series back: pages of raw points, and min/max-preserving downsamples of one
run's series or of many runs' series at once (for comparison charts).

Values use `MetricValue`, so NaN and the infinities travel as "NaN", "Infinity", "-Infinity".
"""

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from mltrail_server.models.tracking import Key, MetricValue

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 25_000
DEFAULT_SAMPLE_POINTS = 1000
MAX_SAMPLE_POINTS = 10_000
MAX_COMPARED_RUNS = 100


class StepRange(BaseModel):
    """An optional inclusive range of steps."""

    start_step: int | None = Field(
        default=None, ge=-(2**63), lt=2**63, description="First step included; none when omitted"
    )
    end_step: int | None = Field(
        default=None, ge=-(2**63), lt=2**63, description="Last step included; none when omitted"
    )


class HistoryQuery(StepRange):
    """Which page of a series to read."""

    key: Key = Field(description="The metric's key")
    limit: int = Field(
        default=DEFAULT_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"Points per page, 1-{MAX_PAGE_SIZE:,}",
    )
    cursor: str | None = Field(
        default=None, description="`next_cursor` of the previous page; omit for the first page"
    )


class DownsampleQuery(StepRange):
    """Which series to downsample, and to how many points."""

    key: Key = Field(description="The metric's key")
    points: int = Field(
        default=DEFAULT_SAMPLE_POINTS,
        ge=1,
        le=MAX_SAMPLE_POINTS,
        description=f"At most this many points come back, 1-{MAX_SAMPLE_POINTS:,}",
    )


class RunsHistoryRequest(DownsampleQuery):
    """The same metric of several runs, downsampled over one shared grid of steps."""

    run_ids: list[UUID] = Field(
        min_length=1,
        max_length=MAX_COMPARED_RUNS,
        description=f"1-{MAX_COMPARED_RUNS} runs; a run that is missing or deleted is left out",
    )


class HistoryPoint(TypedDict):
    """One logged point. (A typed dict, not a model: a page holds up to 25,000 of them, and
    building a model per point cost more than reading the points from the database.)"""

    step: int
    timestamp: Annotated[int, Field(description="Milliseconds since the Unix epoch")]
    value: MetricValue


class MetricHistory(BaseModel):
    """One page of a series, in (step, timestamp) order."""

    key: str
    points: list[HistoryPoint]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class SampledPoint(BaseModel):
    """One bucket of steps: its last point (step, timestamp, value), and the smallest and
    largest value in it, so a spike or a dip survives the downsample."""

    step: int = Field(description="Step of the bucket's last point")
    timestamp: int = Field(description="Timestamp of the bucket's last point")
    value: MetricValue = Field(description="Value of the bucket's last point (may be NaN)")
    min: MetricValue | None = Field(description="Smallest value in the bucket; NaN excluded")
    max: MetricValue | None = Field(description="Largest value in the bucket; NaN excluded")


class DownsampledHistory(BaseModel):
    """A series reduced to at most `points` buckets of equal step width."""

    key: str
    points: list[SampledPoint]
    sampled: bool = Field(
        description="False when the range holds no more than `points` points: they are "
        "returned as they are, one per point, with min = max = value"
    )
    total: int = Field(description="Points in the step range")


class RunHistory(DownsampledHistory):
    """One run's downsampled series."""

    run_id: UUID


class RunsHistory(BaseModel):
    """One entry per live run asked for, in the order asked."""

    series: list[RunHistory]
