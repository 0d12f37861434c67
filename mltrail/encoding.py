"""How logged values travel: key rules checked at the call site, metric values as JSON
(non-finite numbers as the strings the server expects), params as strings, timestamps in ms."""

from __future__ import annotations

import functools
import json
import math
import posixpath
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MAX_KEY_LENGTH",
    "InvalidKey",
    "Point",
    "check_key",
    "decode_value",
    "dump_json",
    "encode_value",
    "flatten",
    "key_problem",
    "metrics_payload",
    "now_ms",
    "param_value",
]

MAX_KEY_LENGTH = 250
_KEY_CHARS = re.compile(r"^[/\w.\- :]+$")

#: A queued metric point: (key, value, step, timestamp in ms).
Point = tuple[str, float, int, int]


def now_ms() -> int:
    """Milliseconds since the Unix epoch, as the server stores timestamps."""
    return time.time_ns() // 1_000_000


class InvalidKey(ValueError):
    """A metric, param or tag key that breaks the key rule; the message names the rule."""


@functools.lru_cache(maxsize=4096)
def key_problem(key: str) -> str | None:
    """What is wrong with `key` under the key rule (MLflow's), or None if nothing is.
    Cached: a batch repeats the same few keys thousands of times."""
    if not key:
        return "must not be empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"must be at most {MAX_KEY_LENGTH} characters (got {len(key)})"
    if not _KEY_CHARS.fullmatch(key):
        return "may contain only letters, digits, '_', '-', '.', ' ', '/' and ':'"
    if key.startswith(("/", "..")) or key == "." or posixpath.normpath(key) != key:
        return "must be a normalized relative path (no leading '/', no '..', '.' or empty segments)"
    return None


def check_key(key: str, kind: str = "key") -> str:
    """The key rule of the SDK, the v1 API and the MLflow API alike (`kind`: "metric",
    "param", "tag", for the message): `key` back, or InvalidKey naming the rule. The SDK
    checks it where a key is logged, so a bad key fails there instead of making the server
    refuse a whole batch later."""
    if not isinstance(key, str):
        raise InvalidKey(f"{kind} key {key!r} must be a string")
    problem = key_problem(key)
    if problem is not None:
        raise InvalidKey(f"{kind} key {key!r} {problem}")
    return key


def encode_value(value: float) -> float | str:
    """A metric value as JSON: a number, or "NaN", "Infinity", "-Infinity"."""
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_value(value: Any) -> float:
    """A metric value from JSON, the inverse of `encode_value`."""
    if isinstance(value, str):
        return float(value.replace("Infinity", "inf"))
    return float(value)


def param_value(value: object) -> str:
    """A param or tag value as the server stores it (booleans as `true`/`false`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    raise ValueError(
        f"a param value must be a string, number or boolean, not {type(value).__name__}"
    )


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level, their keys joined with `.` (`{"opt": {"lr": 1}}` ->
    `{"opt.lr": 1}`): how a config or a set of hyper-parameters becomes params."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise TypeError(f"keys must be strings, got {key!r}")
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def metrics_payload(points: Iterable[Point]) -> list[dict[str, Any]]:
    """Queued points in the batch endpoint's shape."""
    return [
        {"key": key, "value": encode_value(value), "step": step, "timestamp": timestamp}
        for key, value, step, timestamp in points
    ]


def dump_json(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes; the same payload always gives the same bytes."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
