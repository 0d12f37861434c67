"""The `mltrail` command line: a client of the SDK (tables for people, `--json` for
scripts, exit code 1 with a one-line reason on failure), plus `server` and `db upgrade`,
which run the server itself."""

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mltrail.cli import experiments, models, runs
from mltrail.cli.access import grants_app, keys_app, users_app
from mltrail.cli.context import CLI_RETRY_SECONDS, State
from mltrail.cli.doctor import doctor
from mltrail.cli.export import export
from mltrail.cli.gc import gc
from mltrail.cli.imports import import_app
from mltrail.cli.output import fail
from mltrail.cli.search import search
from mltrail.cli.server import db_app, server
from mltrail.cli.sync import sync
from mltrail.config import adopt_deprecated_environment
from mltrail.errors import MltrailError

__all__ = ["app", "main"]


class _Commands(TyperGroup):
    """Turns the SDK's errors into `error: <reason>` and exit code 1, in every command."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        try:
            return super().invoke(ctx)
        except MltrailError as exc:
            raise fail(str(exc)) from None


app = typer.Typer(
    cls=_Commands,
    name="mltrail",
    help="Experiment Tracker: query and manage experiments and runs, sync the spool, manage "
    "users and API keys, run the server.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from mltrail import __version__

        typer.echo(f"mltrail {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(envvar="MLTRAIL_URL", help="The server. [default: http://127.0.0.1:8000]"),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="MLTRAIL_API_KEY", help="Sent as Authorization: Bearer.")
    ] = None,
    retry_for: Annotated[
        float,
        typer.Option(min=0, help="Seconds to keep retrying an unreachable server before failing."),
    ] = CLI_RETRY_SECONDS,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    ctx.obj = State(url=url, api_key=api_key, retry_for=retry_for)


app.add_typer(experiments.app, name="experiments")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.command("search")(search)
app.command("export")(export)
app.add_typer(import_app, name="import")
app.command("sync")(sync)
app.command("server")(server)
app.add_typer(db_app, name="db")
app.command("doctor")(doctor)
app.command("gc")(gc)
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(grants_app, name="grants")


def main() -> None:
    """The console script's entry point."""
    adopt_deprecated_environment()  # before the options read MLTRAIL_* variables
    app(prog_name="mltrail")
