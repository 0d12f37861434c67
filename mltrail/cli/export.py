"""`mltrail export`: runs and their full metric histories to CSV or Parquet files."""

import csv
import importlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from mltrail.cli.context import client
from mltrail.cli.output import JsonOption, fail, print_json, stdout
from mltrail.client import Client
from mltrail.models import MetricHistory, Run, RunList
from mltrail.progress import progress_bar

__all__ = ["export"]

POINT_COLUMNS = ["run_id", "key", "step", "timestamp", "value"]


class Format(StrEnum):
    csv = "csv"
    parquet = "parquet"


class _PointWriter(Protocol):
    def write(self, history: MetricHistory) -> None: ...

    def close(self) -> None: ...


class _CsvPoints:
    def __init__(self, path: Path) -> None:
        self._file = path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(POINT_COLUMNS)

    def write(self, history: MetricHistory) -> None:
        self._writer.writerows(
            (history.run_id, history.key, p.step, p.timestamp, p.value) for p in history.points
        )

    def close(self) -> None:
        self._file.close()


class _ParquetPoints:
    def __init__(self, path: Path, arrow: Any, parquet: Any) -> None:
        self._arrow = arrow
        self._schema = arrow.schema(
            [
                ("run_id", arrow.string()),
                ("key", arrow.string()),
                ("step", arrow.int64()),
                ("timestamp", arrow.int64()),
                ("value", arrow.float64()),
            ]
        )
        self._writer = parquet.ParquetWriter(str(path), self._schema)

    def write(self, history: MetricHistory) -> None:
        if history.points:
            table = self._arrow.Table.from_pylist(history.to_rows(), schema=self._schema)
            self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


def _pyarrow() -> tuple[Any, Any]:
    try:
        return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise fail(
            "Parquet export needs pyarrow: pip install pyarrow (or use --format csv)"
        ) from None


def _write_runs(path: Path, runs: RunList, arrow: tuple[Any, Any] | None) -> None:
    rows = runs.to_rows()
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    if arrow is not None:
        table = arrow[0].Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        arrow[1].write_table(table, str(path))
        return
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _gather(api: Client, experiments: list[str], run_ids: list[str], filter: str | None) -> RunList:
    runs = RunList()
    if filter is not None:
        runs.extend(api.search(filter, experiment_ids=experiments or None, max_results=1_000_000))
    else:
        for experiment in experiments:
            runs.extend(api.runs.list(experiment))
    seen = {run.id for run in runs}
    runs.extend(api.runs.get(run_id) for run_id in run_ids if run_id not in seen)
    return runs


def _series(runs: list[Run]) -> Iterator[tuple[str, str]]:
    for run in runs:
        for key in sorted(run.metrics):
            yield run.id, key


def export(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write into.")],
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", help="Export this experiment's runs (repeat)."),
    ] = None,
    run: Annotated[
        list[str] | None, typer.Option("--run", "-r", help="Export this run (repeat).")
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option("--filter", "-f", help="Export the runs matching this search filter."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="File format.")] = Format.csv,
    as_json: JsonOption = False,
) -> None:
    """Export runs and their full metric histories to CSV or Parquet.

    Writes runs.<format> (one row per run: attributes, params.*, tags.*, latest metrics.*)
    and metrics.<format> (one row per point: run_id, key, step, timestamp, value)."""
    if not experiment and not run and filter is None:
        raise typer.BadParameter("name what to export: --experiment, --run or --filter")
    arrow = _pyarrow() if fmt is Format.parquet else None
    output.mkdir(parents=True, exist_ok=True)
    runs_path = output / f"runs.{fmt.value}"
    points_path = output / f"metrics.{fmt.value}"
    points = 0
    with client(ctx) as api:
        runs = _gather(api, experiment or [], run or [], filter)
        series = list(_series(runs))
        writer: _PointWriter = (
            _ParquetPoints(points_path, *arrow) if arrow else _CsvPoints(points_path)
        )
        try:
            with progress_bar(len(series), "Exporting metric histories", unit="series") as advance:
                for run_id, key in series:
                    history = api.metric_history(run_id, key)
                    writer.write(history)
                    points += len(history)
                    advance(1)
        finally:
            writer.close()
    _write_runs(runs_path, runs, arrow)
    summary = {"runs": len(runs), "points": points, "files": [str(runs_path), str(points_path)]}
    if as_json:
        print_json(summary)
    else:
        stdout().print(
            f"Exported {len(runs):,} runs and {points:,} metric points to "
            f"{runs_path} and {points_path}."
        )
