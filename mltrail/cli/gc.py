"""`mltrail gc`: purge for good the runs and experiments deleted long enough ago (or those
named), through the server (an admin's key): their rows at once, their artifact files in
the server's background. Unlike MLflow's `gc`, `--older-than` alone covers every deleted
run, and a run or experiment that a registered model version was made from is kept (and
listed, with the version) rather than leaving the version without its files."""

import re
from typing import Annotated, Any

import typer

from mltrail.cli.context import client
from mltrail.cli.output import JsonOption, fail, make_table, print_json, stderr, stdout

__all__ = ["gc", "parse_age"]

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def parse_age(text: str) -> float:
    """`30d`, `12h`, `1d2h30m`, `90s` (MLflow's `--older-than` form) as seconds."""
    compact = text.strip().lower()
    parts = _AGE.findall(compact)
    if not compact or "".join(number + unit for number, unit in parts) != compact:
        raise typer.BadParameter(
            f"{text!r}: give an age such as 30d, 12h, 1d2h30m or 90s (days, hours, minutes, "
            "seconds)",
            param_hint="--older-than",
        )
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _table(items: list[dict[str, Any]], title: str, *, kept: bool) -> None:
    columns = ["KIND", "ID", "NAME", "DELETED"] + (["KEPT BECAUSE"] if kept else [])
    rows = [
        [item["kind"], item["id"], item["name"], item["deleted_at"] or ""]
        + ([item["kept_because"]] if kept else [])
        for item in items
    ]
    stdout().print(make_table(columns, rows, title=title))


def gc(
    ctx: typer.Context,
    older_than: Annotated[
        str,
        typer.Option(
            help="Only what was deleted at least this long ago: 30d, 12h, 1d2h30m, 90s. "
            "[default: everything deleted]"
        ),
    ] = "0s",
    run_ids: Annotated[
        str | None,
        typer.Option(help="Only these deleted runs (comma-separated ids)."),
    ] = None,
    experiment_ids: Annotated[
        str | None,
        typer.Option(help="Only these deleted experiments, with all their runs (comma-separated)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="List what would be purged; change nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Purge deleted runs and experiments for good: rows, metrics, datasets, artifacts."""
    seconds = parse_age(older_than)
    with client(ctx) as api:
        report = api.gc(
            older_than_seconds=seconds,
            run_ids=_split(run_ids),
            experiment_ids=_split(experiment_ids),
            dry_run=dry_run,
        )
    if not report["ran"]:
        raise fail(
            "another gc is running (the server's background task or another host); try again"
        )
    if as_json:
        print_json(report)
        return
    verb = "Would purge" if dry_run else "Purged"
    if report["purged"]:
        _table(report["purged"], f"{verb} {len(report['purged'])}", kept=False)
    else:
        stdout().print("Nothing to purge." if dry_run else "Nothing purged.")
    if report["kept"]:
        _table(report["kept"], f"Kept {len(report['kept'])}", kept=True)
    for dropped in report.get("metric_points", []):
        stdout().print(
            f"{'Would drop' if dry_run else 'Dropped'} {dropped['points']} raw metric points "
            f"older than {dropped['retention_days']:g} days in experiment "
            f"{dropped['experiment_id']} (rollups kept)."
        )
    if report["purged"] and not dry_run:
        stderr().print("Their artifact files are being deleted by the server in the background.")
