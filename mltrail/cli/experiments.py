"""`mltrail experiments ls|create|show|rename|rm`."""

from typing import Annotated

import typer

from mltrail.cli.context import client
from mltrail.cli.output import JsonOption, format_time, make_table, print_json, stdout
from mltrail.models import Experiment

__all__ = ["app"]

app = typer.Typer(help="List, create, show, rename and delete experiments.", no_args_is_help=True)

IdOrName = Annotated[str, typer.Argument(help="The experiment's id or name.")]


def _table(experiments: list[Experiment]) -> None:
    rows = [
        (e.id, e.name, e.owner, e.status, e.run_count, format_time(e.created_at))
        for e in experiments
    ]
    stdout().print(make_table(["ID", "NAME", "OWNER", "STATUS", "RUNS", "CREATED"], rows))


@app.command("ls")
def list_experiments(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option(help="Only this owner's experiments.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List live experiments, newest first."""
    with client(ctx) as api:
        experiments = api.experiments.list(owner=owner)
    if as_json:
        print_json(experiments)
    elif not experiments:
        stdout().print("No experiments.")
    else:
        _table(experiments)


@app.command("create")
def create_experiment(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="ASCII letters, digits, '_' and '-'.")],
    description: Annotated[str | None, typer.Option(help="What it is about.")] = None,
    owner: Annotated[
        str | None,
        typer.Option(
            help="An existing user (admins only). Default: the API key's user; without a key, "
            "$MLTRAIL_USER, else your login name."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an experiment."""
    with client(ctx) as api:
        experiment = api.experiments.create(name, owner=owner, description=description)
    if as_json:
        print_json(experiment)
    else:
        stdout().print(f"Created experiment {experiment.name} ({experiment.id}).")


@app.command("show")
def show_experiment(ctx: typer.Context, experiment: IdOrName, as_json: JsonOption = False) -> None:
    """Show an experiment and its most recent runs."""
    with client(ctx) as api:
        found = api.experiments.get(experiment)
    if as_json:
        print_json(found)
        return
    console = stdout()
    console.print(f"[bold]{found.name}[/]  {found.id}")
    console.print(f"owner: {found.owner}   status: {found.status}   runs: {found.run_count}")
    console.print(
        f"created: {format_time(found.created_at)}   updated: {format_time(found.updated_at)}"
    )
    if found.description:
        console.print(found.description)
    if found.recent_runs:
        rows = [
            (r.id, r.name, r.status, format_time(r.started_at), format_time(r.ended_at))
            for r in found.recent_runs
        ]
        console.print(make_table(["RUN ID", "NAME", "STATUS", "STARTED", "ENDED"], rows))


@app.command("rename")
def rename_experiment(
    ctx: typer.Context,
    experiment: IdOrName,
    new_name: Annotated[str, typer.Argument(help="The new name.")],
    as_json: JsonOption = False,
) -> None:
    """Rename an experiment."""
    with client(ctx) as api:
        renamed = api.experiments.rename(experiment, new_name)
    if as_json:
        print_json(renamed)
    else:
        stdout().print(f"Renamed experiment {renamed.id} to {renamed.name}.")


@app.command("rm")
def delete_experiment(
    ctx: typer.Context,
    experiment: IdOrName,
    purge: Annotated[
        bool, typer.Option(help="Remove it and all its runs for good (no restore).")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --purge.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete an experiment and its runs (restorable through the API, unless --purge).
    With --json: `{"id", "name", "purged"}` of the deleted experiment."""
    if purge and not yes:
        typer.confirm(f"Delete experiment {experiment} and all its runs for good?", abort=True)
    with client(ctx) as api:
        found = api.experiments.get(experiment)
        api.experiments.delete(found.id, purge=purge)
    if as_json:
        print_json({"id": found.id, "name": found.name, "purged": purge})
    else:
        stdout().print(
            f"Deleted experiment {found.name} ({found.id}){' for good' if purge else ''}."
        )
