"""How the CLI shows things: rich tables for people, `--json` for scripts, and one-line
errors on stderr with a non-zero exit code."""

import dataclasses
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "JsonOption",
    "fail",
    "format_time",
    "format_value",
    "jsonable",
    "make_table",
    "print_json",
    "stderr",
    "stdout",
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def stdout() -> Console:
    """The console for results; wide when not a terminal, so ids are never cut."""
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", 0) or 200)
    return Console(width=width, highlight=False, soft_wrap=False)


def stderr() -> Console:
    """The console for messages and progress."""
    return Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: <message>` on stderr and return the exit to raise."""
    # The message is text, not markup: `pip install 'mltrail[server]'` must keep its brackets.
    stderr().print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    return typer.Exit(code)


def jsonable(value: Any) -> Any:
    """Dataclasses, datetimes and non-finite floats as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def print_json(value: Any) -> None:
    """Print a value as indented JSON on stdout."""
    sys.stdout.write(json.dumps(jsonable(value), indent=2) + "\n")
    sys.stdout.flush()


def format_time(value: datetime | None) -> str:
    """A timestamp in local time, to the second; empty for None."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def format_value(value: float | None) -> str:
    """A metric value in at most 6 significant digits; empty for None."""
    return "" if value is None else f"{value:.6g}"


def make_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> Table:
    """A table with a header row. Id columns keep their full width (an id is for copying);
    other columns fold when the terminal is narrow."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    table = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        if column.endswith("ID"):
            width = max([len(column), *(len(row[index]) for row in cells)])
            table.add_column(column, no_wrap=True, min_width=width)
        else:
            table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    return table
