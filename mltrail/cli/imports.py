"""`mltrail import`: move history in from another tracker (MLflow) or from our own export."""

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mltrail.cli.context import State
from mltrail.cli.output import JsonOption, fail, make_table, print_json, stderr, stdout
from mltrail.client import Experiments
from mltrail.config import current_settings
from mltrail.imports.export_files import ExportImport, find_files
from mltrail.imports.mlflow_import import ImportReport, MlflowImport, Plan
from mltrail.imports.mlflow_source import open_source
from mltrail.imports.target import Target
from mltrail.imports.tensorboard import TensorboardImport, read_logdir
from mltrail.progress import progress_bar
from mltrail.transport import Transport

__all__ = ["import_app"]

#: Tests only: kill the import (SIGKILL) once this many runs are copied.
STOP_AFTER_VARIABLE = "MLTRAIL_IMPORT_STOP_AFTER_RUNS"

import_app = typer.Typer(
    help="Import experiments and runs from another tracker or from `mltrail export` files.",
    no_args_is_help=True,
)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give a date or time as 2024-01-31 or 2024-01-31T12:00:00",
            param_hint="--since",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _target(ctx: typer.Context, to: str | None) -> Target:
    state = ctx.find_object(State) or State()
    settings = current_settings(
        url=to or state.url, api_key=state.api_key, give_up_after=max(state.retry_for, 30.0)
    )
    return Target(Transport(settings))


def _print_plan(plan: Plan, source: str) -> None:
    rows = [(entity, f"{count:,}") for entity, count in plan.source_counts().items()]
    stdout().print(
        make_table(["entity", "in the source"], rows, title=f"Would import from {source}")
    )


def _print_report(report: ImportReport) -> None:
    rows = [
        (entity, f"{source:,}", f"{target:,}", "✓" if source == target else "✗")
        for entity, (source, target) in report.counts.items()
    ]
    stdout().print(make_table(["entity", "source", "here", ""], rows, title="Imported"))
    sent = sum(outcome.points_sent for outcome in report.runs)
    files = sum(outcome.files_sent for outcome in report.runs)
    files += sum(outcome.files_sent for outcome in report.models)
    stdout().print(f"Sent {sent:,} metric points and {files:,} artifact files in this pass.")
    for outcome in report.skipped_models:
        stdout().print(f"Skipped {outcome.kind} {outcome.id!r}: {outcome.skipped}.")


@import_app.command("mlflow")
def import_mlflow(
    ctx: typer.Context,
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="MLflow tracking URI (http\\[s]://...), database URL (sqlite:///mlflow.db, "
            "postgresql://...) or mlruns folder.",
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", help="This server's URL. [default: the SDK's configured server]"),
    ] = None,
    experiments: Annotated[
        list[str] | None,
        typer.Option("--experiments", "-e", help="Only this experiment (by name; repeat)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only runs started at or after this date.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be imported; write nothing.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=32, help="Runs copied at a time.")
    ] = 4,
    as_json: JsonOption = False,
) -> None:
    """Copy an MLflow tracking store here: experiments, runs (ids kept), params, tags,
    notes, full metric histories, datasets and artifacts; then logged models (ids kept, with
    their files) and registered models (version numbers, aliases and tags kept; sources
    pointed at the copies here, so models:/name@alias loads from this server). Safe to run
    again: only what is missing is copied. Exits 1 naming the runs and models whose copy
    does not match the source.

    Needs an admin's API key (MLTRAIL_API_KEY) and the mlflow client:
    pip install 'mltrail\\[import]'."""
    started = _since(since)
    reader = open_source(source)
    stop = os.environ.get(STOP_AFTER_VARIABLE)
    target = _target(ctx, to)
    job = MlflowImport(reader, target, workers=workers, stop_after_runs=int(stop) if stop else None)
    with stderr().status(f"Reading {reader.uri}"):
        plan = job.plan(experiments or (), started)
    if dry_run:
        if as_json:
            print_json({"dry_run": True, "source": plan.source_counts()})
        else:
            _print_plan(plan, reader.uri)
        return
    report = job.run(plan)
    mismatched = report.mismatched
    models = report.mismatched_models
    if as_json:
        print_json(
            {
                "counts": {k: {"source": s, "target": t} for k, (s, t) in report.counts.items()},
                "runs": report.runs,
                "models": report.models,
                "mismatched": [outcome.run_id for outcome in mismatched],
                "mismatched_models": [outcome.id for outcome in models],
            }
        )
    else:
        _print_report(report)
    problems = [
        f"run {o.run_id} ({o.error or 'metric checksum or counts differ'})" for o in mismatched
    ]
    problems += [f"{o.kind} {o.id!r} ({o.error or 'counts differ'})" for o in models]
    if problems:
        raise fail(f"{len(problems)} do not match the source: {', '.join(problems)}")


@import_app.command("export")
def import_export(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="What `mltrail export` wrote: its folder, or its runs and metrics files."
        ),
    ],
    to: Annotated[
        str | None,
        typer.Option("--to", help="The server's URL. [default: the SDK's configured server]"),
    ] = None,
    experiment: Annotated[
        str | None,
        typer.Option(
            "--experiment",
            "-e",
            help="Experiment (name; created if missing) for runs whose own is not on the server.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import `mltrail export` files (CSV or Parquet): runs with their ids, status, times,
    params and tags, and every metric point. Safe to run again. Exits 1 naming the runs
    whose histories do not match the files. Needs an admin's API key."""
    found = find_files(files)
    target = _target(ctx, to)
    job = ExportImport(target, Experiments(target.transport, target.transport.settings), experiment)
    with progress_bar(job.count_runs(found), "Runs", unit="runs") as advance:
        outcomes = job.run(found, advance)
    mismatched = [outcome for outcome in outcomes if not outcome.equal]
    if as_json:
        print_json({"runs": outcomes, "mismatched": [o.run_id for o in mismatched]})
    else:
        points = sum(o.counts["points"][1] for o in outcomes)
        stdout().print(f"Imported {len(outcomes):,} runs and {points:,} metric points.")
    if mismatched:
        raise fail(
            f"{len(mismatched)} run(s) do not match the files: "
            + ", ".join(o.run_id for o in mismatched)
        )


@import_app.command("tensorboard")
def import_tensorboard(
    ctx: typer.Context,
    logdir: Annotated[Path, typer.Argument(help="The log directory (its sub-folders are runs).")],
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", "-e", help="Experiment name. [default: the folder's name]"),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="The server's URL. [default: the SDK's configured server]"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Import TensorBoard event files: one run per folder holding them, scalars as metrics
    (step, wall time), hparams as params. Safe to run again. Needs an admin's API key and
    tbparse: pip install 'mltrail\\[tensorboard]'."""
    runs = read_logdir(logdir)
    name = experiment or logdir.resolve().name
    target = _target(ctx, to)
    target.check_admin()
    experiment_id = target.ensure_experiment(name, {})
    with progress_bar(len(runs), "Runs", unit="runs") as advance:
        outcomes = TensorboardImport(target, experiment_id, name).run(runs, advance)
    mismatched = [outcome for outcome in outcomes if not outcome.equal]
    if as_json:
        print_json(
            {
                "experiment_id": experiment_id,
                "runs": outcomes,
                "mismatched": [o.run_id for o in mismatched],
            }
        )
    else:
        points = sum(o.points[1] for o in outcomes)
        stdout().print(
            f"Imported {len(outcomes):,} runs and {points:,} metric points into {name!r}."
        )
    if mismatched:
        raise fail(
            f"{len(mismatched)} run(s) do not match the event files: "
            + ", ".join(f"{o.run_id} ({o.name})" for o in mismatched)
        )
