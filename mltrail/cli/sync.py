"""`mltrail sync`: upload what runs left in the spool."""

from pathlib import Path
from typing import Annotated

import typer

from mltrail.cli.context import State
from mltrail.cli.output import JsonOption, fail, print_json, stdout
from mltrail.config import current_settings
from mltrail.progress import progress_bar
from mltrail.sync import pending, sync_spool
from mltrail.transport import Transport

__all__ = ["sync"]


def sync(
    ctx: typer.Context,
    spool_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="MLTRAIL_SPOOL_DIR",
            help="The spool directory. [default: ~/.mltrail/spool]",
            show_default=False,
        ),
    ] = None,
    run: Annotated[str | None, typer.Option(help="Only this run's spooled data.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Upload what runs spooled to disk while the server was unreachable.

    Runs killed before they could send their points leave them there too. Safe to repeat:
    the server stores each point once. Files still being written by a live run are left
    to it."""
    state = ctx.find_object(State) or State()
    settings = current_settings(
        url=state.url,
        api_key=state.api_key,
        spool_dir=spool_dir,
        give_up_after=state.retry_for,
    )
    files, points = pending(settings.spool_dir, run)
    if not files:
        if as_json:
            print_json({"files": 0, "points": 0, "spool_dir": str(settings.spool_dir)})
        else:
            stdout().print(f"Nothing to sync in {settings.spool_dir}.")
        return
    with Transport(settings) as transport, progress_bar(points, "Uploading the spool") as advance:
        report = sync_spool(
            transport, settings.spool_dir, run_id=run, on_points=lambda n, _: advance(n)
        )
    if as_json:
        print_json(
            {
                "files": report.files,
                "batches": report.batches,
                "points": report.points,
                "statuses": report.statuses,
                "rejected": report.rejected,
                "files_in_use": report.skipped_files,
                "left_points": report.left_points,
                "error": report.error,
                "spool_dir": str(settings.spool_dir),
            }
        )
    else:
        stdout().print(
            f"Uploaded {report.points:,} points in {report.batches:,} batches "
            f"from {report.files:,} spool files."
        )
        if report.skipped_files:
            stdout().print(
                f"{report.skipped_files} file(s) are still being written by a running process "
                "and were left for it."
            )
    if report.error is not None:
        raise fail(f"{report.error}; {report.left_points:,} points stay in the spool")
    if report.rejected:
        kept = ", ".join(str(p) for p in report.rejected_paths)
        raise fail(f"the server refused {report.rejected} batch(es); they were moved to {kept}")
