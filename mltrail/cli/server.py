"""`mltrail server` and `mltrail db upgrade`: the two commands that run the server itself,
imported lazily so that the SDK installs and works without it.

Both read the server's own settings (environment variables and a `.env` file in the working
directory, the command's options winning), so a check made here sees what the server will."""

import asyncio
import importlib.util
import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mltrail.cli.output import fail, print_json, stdout

if TYPE_CHECKING:
    from mltrail_server.config import Settings

__all__ = [
    "DatabaseUrlOption",
    "db_app",
    "require_server",
    "server",
    "server_settings",
    "shared_cache_problem",
]

db_app = typer.Typer(help="The server's database.", no_args_is_help=True)

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        envvar="DATABASE_URL",
        help="sqlite:///path.db or postgresql://user:pass@host/db. [default: ./data/tracker.db]",
        show_default=False,
    ),
]


def require_server() -> None:
    if (
        importlib.util.find_spec("mltrail_server") is None
        or importlib.util.find_spec("uvicorn") is None
    ):
        raise fail("the server is not installed here: pip install 'mltrail[server]'")


def server_settings(**options: object) -> "Settings":
    """The settings the server will run with: `options` given on the command line (None:
    not given) over the environment and `.env`. A bad value exits with the server's own
    message naming the variable (status 2, a usage error)."""
    from mltrail_server.config import SettingsError, load_settings

    try:
        return load_settings(
            **{name: value for name, value in options.items() if value is not None}
        )
    except SettingsError as exc:
        raise fail(str(exc), code=2) from None


def shared_cache_problem(settings: "Settings", workers: int) -> str | None:
    """Why `workers` processes cannot share these settings' cache, or None if they can."""
    if workers <= 1 or settings.redis_url or not settings.cache_enabled:
        return None
    return (
        f"--workers {workers} needs a shared cache: without Redis each worker keeps its own "
        "in-memory cache and would serve reads that miss other workers' writes. Set "
        "REDIS_URL (or --redis-url redis://host:6379/0), or turn the cache off with "
        "CACHE_ENABLED=false (in the environment or .env)."
    )


def _cache(settings: "Settings") -> str:
    if not settings.cache_enabled:
        return "off"
    return "redis" if settings.redis_url else "memory"


def _json_log_config() -> dict[str, Any]:
    """uvicorn's own log lines as JSON objects on stderr, like the server's."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "mltrail_server.logs.JsonFormatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }


def server(
    host: Annotated[
        str | None,
        typer.Option(envvar="HOST", help="Interface to listen on. [default: 127.0.0.1]"),
    ] = None,
    port: Annotated[
        int | None, typer.Option(envvar="PORT", min=1, max=65535, help="[default: 8000]")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    database_url: DatabaseUrlOption = None,
    redis_url: Annotated[
        str | None,
        typer.Option(envvar="REDIS_URL", help="Shared cache, needed for --workers > 1."),
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the start-up line as JSON on stdout, and uvicorn's log lines as JSON "
            "on stderr (the server's own are JSON always).",
        ),
    ] = False,
) -> None:
    """Run the tracking server (uvicorn mltrail_server.main:app).

    Settings come from the environment and a .env file, as for the server itself; the
    options here win over both."""
    if workers > 1 and reload:
        raise fail("--reload runs a single process; drop --workers or --reload", code=2)
    require_server()
    settings = server_settings(host=host, port=port, database_url=database_url, redis_url=redis_url)
    problem = shared_cache_problem(settings, workers)
    if problem is not None:
        raise fail(problem, code=2)
    # The server's processes read their settings again: hand them what was decided here,
    # and the address (whether auth is on follows where the server really listens).
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    if redis_url is not None:
        os.environ["REDIS_URL"] = redis_url
    os.environ["HOST"] = settings.host
    os.environ["PORT"] = str(settings.port)
    url = f"http://{settings.host}:{settings.port}"
    if as_json:
        started = {
            "url": url,
            "workers": workers,
            "database": settings.shown_database_url,
            "cache": _cache(settings),
        }
        sys.stdout.write(json.dumps(started) + "\n")
        sys.stdout.flush()
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    uvicorn.run(
        "mltrail_server.main:app",
        host=settings.host,
        port=settings.port,
        workers=workers,
        reload=reload,
        log_config=_json_log_config() if as_json else LOGGING_CONFIG,
    )


@db_app.command("upgrade")
def upgrade(
    database_url: DatabaseUrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Apply the server's database migrations (the server also does it at start).

    With --json: {"database": <url, password hidden>, "revision": <the schema's revision>}."""
    require_server()
    from alembic.script import ScriptDirectory

    from mltrail_server.db.engine import Database
    from mltrail_server.db.migrate import alembic_config

    settings = server_settings(database_url=database_url)
    url = settings.resolved_database_url

    async def migrate() -> None:
        database = Database(
            url,
            pooled=False,
            statement_timeout=settings.database_statement_timeout_seconds,
            busy_timeout=settings.database_busy_timeout_seconds,
        )
        try:
            await database.migrate()
        finally:
            await database.dispose()

    asyncio.run(migrate())
    if as_json:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        print_json({"database": settings.shown_database_url, "revision": head})
    else:
        stdout().print(f"The database {settings.shown_database_url} is at the latest schema.")
