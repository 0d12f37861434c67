"""What runs log: metric points, params and tags, and how they are read back.

Metric values travel as JSON numbers, or as the strings "NaN", "Infinity" and "-Infinity",
which JSON cannot otherwise express; they are stored and returned exactly.
"""

import math
import posixpath
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, PlainSerializer

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_BATCH_POINTS = 10_000
MAX_BATCH_PARAMS = 1000
MAX_BATCH_TAGS = 1000

_KEY_CHARS = re.compile(r"^[/\w.\- :]+$")
_NON_FINITE = {
    "nan": math.nan,
    "infinity": math.inf,
    "inf": math.inf,
    "-infinity": -math.inf,
    "-inf": -math.inf,
}


def check_key(key: str) -> str:
    """MLflow's key rule: letters, digits, `_ - . space / :`, and no path tricks."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ValueError(f"key must be 1-{MAX_KEY_LENGTH} characters")
    if not _KEY_CHARS.fullmatch(key):
        raise ValueError(
            f"key {key!r} may contain only letters, digits, '_', '-', '.', ' ', '/' and ':'"
        )
    if key.startswith("/") or posixpath.normpath(key) != key or key.startswith(".."):
        raise ValueError(f"key {key!r} must be a normalized relative path (no '/', '..' tricks)")
    return key


def parse_metric_value(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("value must be a number, not a boolean")
    if isinstance(value, str):
        special = _NON_FINITE.get(value.strip().lower())
        if special is None:
            raise ValueError('value must be a number or one of "NaN", "Infinity", "-Infinity"')
        return special
    if isinstance(value, int | float):
        return float(value)
    raise ValueError("value must be a number")


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


Key = Annotated[str, BeforeValidator(lambda v: check_key(v) if isinstance(v, str) else v)]
MetricValue = Annotated[
    float,
    BeforeValidator(parse_metric_value),
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
    value: MetricValue
    step: Step = 0
    timestamp: Timestamp | None = None


class ParamWrite(BaseModel):
    key: Key
    value: ParamValue


class TagWrite(BaseModel):
    value: TagValue


class BatchLog(BaseModel):
    """Metrics, params and tags of one run, stored all together or not at all."""

    metrics: list[MetricPoint] = Field(default_factory=list, max_length=MAX_BATCH_POINTS)
    params: dict[Key, ParamValue] = Field(default_factory=dict, max_length=MAX_BATCH_PARAMS)
    tags: dict[Key, TagValue] = Field(default_factory=dict, max_length=MAX_BATCH_TAGS)


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
