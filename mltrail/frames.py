"""DataFrame helpers, for when pandas is installed (it is not a dependency of the SDK)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from mltrail.errors import MltrailError

__all__ = ["histories_to_pandas", "require_pandas", "runs_to_pandas"]


def require_pandas() -> Any:
    """The pandas module, or an error saying how to get it."""
    try:
        return importlib.import_module("pandas")
    except ImportError:
        raise MltrailError("DataFrames need pandas: pip install pandas") from None


def runs_to_pandas(runs: Iterable[Any]) -> Any:
    """One row per run: attributes, `params.<k>`, `tags.<k>`, `metrics.<k>` (latest value)."""
    return require_pandas().DataFrame([run.to_row() for run in runs])


def histories_to_pandas(histories: Iterable[Any]) -> Any:
    """Long format, one row per point: run_id, key, step, timestamp, value."""
    rows: list[dict[str, Any]] = []
    for history in histories:
        rows.extend(history.to_rows())
    columns = ["run_id", "key", "step", "timestamp", "value"]
    return require_pandas().DataFrame(rows, columns=columns)
