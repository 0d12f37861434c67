"""`mltrail runs ls|show|compare|artifacts|rm`."""

from typing import Annotated, Any

import typer

from mltrail.cli.context import client
from mltrail.cli.output import (
    JsonOption,
    format_time,
    format_value,
    make_table,
    print_json,
    stdout,
)
from mltrail.client import Client
from mltrail.models import ArtifactFile, Run

__all__ = ["app", "runs_table"]

app = typer.Typer(
    help="List, show, compare and delete runs, and list their artifacts.", no_args_is_help=True
)

#: At most this many metric columns in a run list, to keep it readable.
MAX_METRIC_COLUMNS = 6


def nested_order(runs: list[Run]) -> list[tuple[Run, int]]:
    """Each run with its depth, followed by the runs nested under it (in the order given);
    a run whose parent is not among `runs` stands at the top level."""
    listed = {run.id for run in runs}
    children: dict[str, list[Run]] = {}
    top: list[Run] = []
    for run in runs:
        if run.parent_run_id in listed and run.parent_run_id != run.id:
            children.setdefault(run.parent_run_id, []).append(run)
        else:
            top.append(run)
    ordered: list[tuple[Run, int]] = []
    seen: set[str] = set()
    # `runs` after `top`: runs whose parents form a cycle (bad data) are listed all the same.
    for root in [*top, *runs]:
        stack = [(root, 0)]
        while stack:
            run, depth = stack.pop()
            if run.id in seen:
                continue
            seen.add(run.id)
            ordered.append((run, depth))
            stack.extend((child, depth + 1) for child in reversed(children.get(run.id, [])))
    return ordered


def _nested_name(name: str, depth: int) -> str:
    return f"{'  ' * (depth - 1)}↳ {name}" if depth else name


def runs_table(runs: list[Run]) -> None:
    """Print runs as a table, with the latest value of their first few metrics; nested runs
    are indented under their parent, and a PARENT column names it (its id's first 8 digits)."""
    keys = sorted({key for run in runs for key in run.metrics})[:MAX_METRIC_COLUMNS]
    nested = any(run.parent_run_id for run in runs)
    columns = ["RUN ID", "NAME", *(["PARENT"] if nested else []), "STATUS", "STARTED", "ENDED"]
    rows = [
        (
            run.id,
            _nested_name(run.name, depth),
            *([(run.parent_run_id or "")[:8]] if nested else []),
            run.status,
            format_time(run.started_at),
            format_time(run.ended_at),
            *(format_value(run.metrics[k].value) if k in run.metrics else "" for k in keys),
        )
        for run, depth in nested_order(runs)
    ]
    stdout().print(make_table([*columns, *keys], rows))


@app.command("ls")
def list_runs(
    ctx: typer.Context,
    experiment: Annotated[str, typer.Argument(help="The experiment's id or name.")],
    as_json: JsonOption = False,
) -> None:
    """List an experiment's runs, most recently started first, nested runs under their
    parent."""
    with client(ctx) as api:
        runs = api.runs.list(experiment)
    if as_json:
        print_json(list(runs))
    elif not runs:
        stdout().print("No runs.")
    else:
        runs_table(runs)


@app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    as_json: JsonOption = False,
) -> None:
    """Show a run: attributes, params, tags and metrics (latest, min, max)."""
    with client(ctx) as api:
        run = api.runs.get(run_id)
    if as_json:
        print_json(run)
        return
    console = stdout()
    console.print(f"[bold]{run.name}[/]  {run.id}")
    console.print(
        f"experiment: {run.experiment_id}   status: {run.status}   user: {run.user or ''}"
    )
    console.print(f"started: {format_time(run.started_at)}   ended: {format_time(run.ended_at)}")
    if run.params:
        console.print(make_table(["PARAM", "VALUE"], sorted(run.params.items()), title="Params"))
    if run.tags:
        console.print(make_table(["TAG", "VALUE"], sorted(run.tags.items()), title="Tags"))
    if run.metrics:
        rows = [
            (k, format_value(m.value), m.step, format_value(m.min), format_value(m.max))
            for k, m in sorted(run.metrics.items())
        ]
        console.print(make_table(["METRIC", "LAST", "STEP", "MIN", "MAX"], rows, title="Metrics"))


def comparison(runs: list[Run]) -> dict[str, Any]:
    """Params side by side (with the keys whose values differ) and metrics' last/min/max."""
    param_keys = sorted({k for run in runs for k in run.params})
    metric_keys = sorted({k for run in runs for k in run.metrics})
    params = {k: {run.id: run.params.get(k) for run in runs} for k in param_keys}
    metrics = {
        k: {
            run.id: (
                {"last": m.value, "step": m.step, "min": m.min, "max": m.max}
                if (m := run.metrics.get(k))
                else None
            )
            for run in runs
        }
        for k in metric_keys
    }
    return {
        "runs": [{"id": run.id, "name": run.name, "status": run.status} for run in runs],
        "params": params,
        "differing_params": [k for k, values in params.items() if len(set(values.values())) > 1],
        "metrics": metrics,
    }


@app.command("compare")
def compare_runs(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    as_json: JsonOption = False,
) -> None:
    """Compare runs: params side by side (* marks differences), metrics' last/min/max."""
    if len(run_ids) < 2:
        raise typer.BadParameter("give at least two run ids", param_hint="RUN_IDS")
    with client(ctx) as api:
        runs = [api.runs.get(run_id) for run_id in run_ids]
    result = comparison(runs)
    if as_json:
        print_json(result)
        return
    console = stdout()
    names = [f"{run.name}\n{run.id[:8]}" for run in runs]
    differing = set(result["differing_params"])
    if result["params"]:
        rows = [
            ("*" if key in differing else "", key, *(values[run.id] or "" for run in runs))
            for key, values in result["params"].items()
        ]
        console.print(make_table(["", "PARAM", *names], rows, title="Params (* = differs)"))
    if result["metrics"]:
        metric_rows: list[tuple[str, ...]] = []
        for key, per_run in result["metrics"].items():
            for stat in ("last", "min", "max"):
                cells = [
                    format_value(summary[stat]) if (summary := per_run[run.id]) else ""
                    for run in runs
                ]
                metric_rows.append((key if stat == "last" else "", stat, *cells))
        console.print(make_table(["METRIC", "", *names], metric_rows, title="Metrics"))
    if not result["params"] and not result["metrics"]:
        console.print("These runs have no params and no metrics.")


def _walk(api: Client, run_id: str, path: str | None) -> list[ArtifactFile]:
    found = []
    for entry in api.list_artifacts(run_id, path):
        found.append(entry)
        if entry.is_dir:
            found.extend(_walk(api, run_id, entry.path))
    return found


def _size(entry: ArtifactFile) -> str:
    if entry.size is None:
        return ""
    size = float(entry.size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # pragma: no cover


@app.command("artifacts")
def list_run_artifacts(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    path: Annotated[
        str | None, typer.Option("--path", "-p", help="A directory among the run's artifacts.")
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Also what is in subdirectories.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List a run's artifacts: the files and directories under its root (or --path)."""
    with client(ctx) as api:
        entries = _walk(api, run_id, path) if recursive else api.list_artifacts(run_id, path)
    if as_json:
        print_json(entries)
    elif not entries:
        stdout().print("No artifacts.")
    else:
        rows = [
            (f"{e.path}/" if e.is_dir else e.path, "dir" if e.is_dir else "file", _size(e))
            for e in entries
        ]
        table = make_table(["PATH", "TYPE", "SIZE"], rows)
        table.columns[2].justify = "right"
        stdout().print(table)


@app.command("rm")
def delete_runs(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="The runs' ids.")],
    purge: Annotated[bool, typer.Option(help="Remove them and all they logged for good.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --purge.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete runs, in the order given (soft: restorable through the API, unless --purge);
    the first one refused stops the command. With --json: `{"deleted": [ids], "purged"}`."""
    if purge and not yes:
        typer.confirm(f"Delete {len(run_ids)} run(s) for good?", abort=True)
    deleted: list[str] = []
    with client(ctx) as api:
        for run_id in run_ids:
            api.runs.delete(run_id, purge=purge)
            deleted.append(run_id)
            if not as_json:
                stdout().print(f"Deleted run {run_id}{' for good' if purge else ''}.")
    if as_json:
        print_json({"deleted": deleted, "purged": purge})
