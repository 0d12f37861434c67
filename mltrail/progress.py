"""A progress bar on stderr for long waits: rich's when rich is installed, else plain lines."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["Advance", "progress_bar"]

#: Called with the number of units just completed.
Advance = Callable[[int], None]


@contextmanager
def progress_bar(total: int, description: str, *, unit: str = "points") -> Iterator[Advance]:
    """Show progress towards `total` while the block runs; yields the function to call with
    each increment."""
    try:
        rich_progress: Any = importlib.import_module("rich.progress")
        rich_console: Any = importlib.import_module("rich.console")
    except ImportError:
        with _plain(total, description, unit) as advance:
            yield advance
        return
    columns = (
        rich_progress.TextColumn("{task.description}"),
        rich_progress.BarColumn(),
        rich_progress.MofNCompleteColumn(),
        rich_progress.TextColumn(unit),
        rich_progress.TimeRemainingColumn(),
    )
    console = rich_console.Console(stderr=True)
    with rich_progress.Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def _plain(total: int, description: str, unit: str) -> Iterator[Advance]:
    done = 0
    last = 0.0

    def advance(n: int) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= 1.0 or done >= total:
            last = now
            print(f"{description}: {done:,}/{total:,} {unit}", file=sys.stderr, flush=True)

    yield advance
