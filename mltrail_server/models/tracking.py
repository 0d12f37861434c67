"""What runs log: metric points, params and tags, and how they are read back.

Metric values travel as JSON numbers, or as the strings "NaN", "Infinity" and "-Infinity",
which JSON cannot otherwise express; they are stored and returned exactly.
"""

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    StrictFloat,
    StrictInt,
)

from mltrail.encoding import MAX_KEY_LENGTH, check_key
from mltrail_server.errors import PayloadTooLarge

MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_BATCH_POINTS = 10_000
MAX_BATCH_PARAMS = 1000
MAX_BATCH_TAGS = 1000

KEY_PATTERN = r"^[/\w.\- :]+$"
NonFinite = Literal["NaN", "Infinity", "-Infinity"]
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def metric_float(value: float | int | str) -> float:
    """A validated metric value as a float; the non-finite spellings become NaN and ±inf."""
    return _NON_FINITE[value] if isinstance(value, str) else float(value)


def dump_metric_value(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def param_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ValueError("value must be a string, number or boolean")


Key = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=KEY_PATTERN,
        description="Letters, digits, '_', '-', '.', ' ', '/' and ':'; at most 250",
    ),
    AfterValidator(check_key),
]
# Validated in Rust (no per-point Python): numbers, not booleans, or a non-finite spelling.
MetricValueIn = Annotated[
    StrictFloat | Annotated[StrictInt, Field(ge=-(2**63), lt=2**63)] | NonFinite,
    Field(description='A number, or "NaN", "Infinity", "-Infinity"'),
]
MetricValue = Annotated[
    float,
    PlainSerializer(dump_metric_value, return_type=float | str, when_used="json"),
    Field(
        json_schema_extra={
            "anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]
        }
    ),
]
ParamValue = Annotated[str, BeforeValidator(param_value), Field(max_length=MAX_PARAM_VALUE_LENGTH)]
TagValue = Annotated[str, Field(max_length=MAX_TAG_VALUE_LENGTH)]
Step = Annotated[int, Field(ge=-(2**63), lt=2**63, description="An integer; 0 when omitted")]
Timestamp = Annotated[
    int, Field(ge=0, lt=2**63, description="Milliseconds since the Unix epoch; now when omitted")
]


class MetricPoint(BaseModel):
    """One point of a metric series."""

    key: Key
    value: MetricValueIn
    step: Step = 0
    timestamp: Timestamp | None = None


class ParamWrite(BaseModel):
    key: Key
    value: ParamValue


class TagWrite(BaseModel):
    value: TagValue


def _at_most(limit: int, field: str, what: str) -> BeforeValidator:
    """A batch field's bound, checked on the raw JSON before any item is validated: a 413
    naming the field, the limit and the count, instead of a validation error that would
    echo every item back."""

    def check(value: Any) -> Any:
        if isinstance(value, list | dict) and len(value) > limit:
            raise PayloadTooLarge(
                f"{field}: a batch holds at most {limit} {what}, got {len(value)}; "
                "split them across requests"
            )
        return value

    return BeforeValidator(check)


class BatchLog(BaseModel):
    """Metrics, params and tags of one run, stored all together or not at all."""

    metrics: Annotated[
        list[MetricPoint], _at_most(MAX_BATCH_POINTS, "metrics", "metric points")
    ] = Field(default_factory=list, max_length=MAX_BATCH_POINTS)
    params: Annotated[dict[Key, ParamValue], _at_most(MAX_BATCH_PARAMS, "params", "params")] = (
        Field(default_factory=dict, max_length=MAX_BATCH_PARAMS)
    )
    tags: Annotated[dict[Key, TagValue], _at_most(MAX_BATCH_TAGS, "tags", "tags")] = Field(
        default_factory=dict, max_length=MAX_BATCH_TAGS
    )


class BatchResult(BaseModel):
    metrics: int = Field(description="Points accepted (a point already stored is not stored again)")
    params: int
    tags: int


class LatestMetric(BaseModel):
    """The latest point of a series (greatest step, then timestamp), and its min and max."""

    value: MetricValue
    step: int
    timestamp: int
    min: MetricValue | None = Field(description="Smallest value, NaN excluded")
    max: MetricValue | None = Field(description="Largest value, NaN excluded")
