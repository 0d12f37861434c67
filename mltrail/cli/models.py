"""`mltrail models ls|show|register|alias|rm`: the model registry."""

from typing import Annotated

import typer

from mltrail.cli.context import client
from mltrail.cli.output import JsonOption, format_time, make_table, print_json, stdout

__all__ = ["app"]

app = typer.Typer(
    help="List, show, register, alias and delete registered models.", no_args_is_help=True
)

Name = Annotated[str, typer.Argument(help="The registered model's name.")]


@app.command("ls")
def list_models(
    ctx: typer.Context,
    filter: Annotated[
        str | None, typer.Option(help="MLflow's filter language, e.g. \"name LIKE 'clf%'\".")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List registered models, by name."""
    with client(ctx) as api:
        models = api.models.list(filter=filter)
    if as_json:
        print_json(models)
    elif not models:
        stdout().print("No registered models.")
    else:
        rows = [
            (
                m.name,
                m.owner,
                m.latest_version or "",
                m.versions_count,
                " ".join(f"@{a}={v}" for a, v in m.aliases.items()),
                format_time(m.updated_at),
            )
            for m in models
        ]
        headers = ["NAME", "OWNER", "LATEST", "VERSIONS", "ALIASES", "UPDATED"]
        stdout().print(make_table(headers, rows))


@app.command("show")
def show_model(ctx: typer.Context, name: Name, as_json: JsonOption = False) -> None:
    """A registered model with its versions, newest first."""
    with client(ctx) as api:
        model = api.models.get(name)
    if as_json:
        print_json(model)
        return
    console = stdout()
    console.print(f"{model.name}  owner {model.owner}  {model.versions_count} version(s)")
    if model.description:
        console.print(model.description)
    if model.tags:
        console.print("tags: " + ", ".join(f"{k}={v}" for k, v in model.tags.items()))
    rows = [
        (v.version, " ".join(f"@{a}" for a in v.aliases), v.stage, v.source, v.run_id or "")
        for v in model.versions
    ]
    console.print(make_table(["VERSION", "ALIASES", "STAGE", "SOURCE", "RUN"], rows))


@app.command("register")
def register_model(
    ctx: typer.Context,
    run_or_uri: Annotated[
        str, typer.Argument(help="A run id, or a runs:/…, models:/m-… or artifact URI.")
    ],
    name: Name,
    path: Annotated[
        str, typer.Option(help="With a run id: the model's folder in the run's artifacts.")
    ] = "model",
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a new version of NAME (created if needed)."""
    with client(ctx) as api:
        version = api.models.register(run_or_uri, name, path=path, description=description)
    if as_json:
        print_json(version)
    else:
        stdout().print(f"Registered {version.name} version {version.version} ({version.source}).")


@app.command("alias")
def set_alias(
    ctx: typer.Context,
    name: Name,
    alias: Annotated[str, typer.Argument(help="Letters, digits, '_' and '-'.")],
    version: Annotated[int, typer.Argument(help="The version it points at.", min=1)],
    as_json: JsonOption = False,
) -> None:
    """Point ALIAS (models:/NAME@ALIAS) at VERSION."""
    with client(ctx) as api:
        api.models.set_alias(name, alias, version)
    if as_json:
        print_json({"name": name, "alias": alias, "version": version})
    else:
        stdout().print(f"{name}@{alias} -> version {version}.")


@app.command("rm")
def remove_model(
    ctx: typer.Context,
    name: Name,
    version: Annotated[
        int | None, typer.Option("--version", help="Only this version.", min=1)
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a registered model with all its versions, or one version."""
    with client(ctx) as api:
        api.models.delete(name, version=version)
    what = name if version is None else f"{name} version {version}"
    if as_json:
        print_json({"deleted": name, "version": version})
    else:
        stdout().print(f"Deleted {what}.")
