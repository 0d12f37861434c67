"""`mltrail server` and `mltrail db upgrade`: the two commands that run the server itself,
imported lazily so that the SDK installs and works without it."""

import asyncio
import importlib.util
import os
import re
from typing import Annotated

import typer

from mltrail.cli.output import fail, stdout

__all__ = ["DatabaseUrlOption", "db_app", "masked", "require_server", "server"]

db_app = typer.Typer(help="The server's database.", no_args_is_help=True)

FALSE_VALUES = {"0", "false", "f", "no", "n", "off"}

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


def masked(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def server(
    host: Annotated[str, typer.Option(envvar="HOST", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="PORT", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    database_url: DatabaseUrlOption = None,
    redis_url: Annotated[
        str | None,
        typer.Option(envvar="REDIS_URL", help="Shared cache, needed for --workers > 1."),
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Run the tracking server (uvicorn mltrail_server.main:app)."""
    cache_enabled = os.environ.get("CACHE_ENABLED", "true").strip().lower() not in FALSE_VALUES
    if workers > 1 and not redis_url and cache_enabled:
        raise fail(
            f"--workers {workers} needs a shared cache: without Redis each worker keeps its own "
            "in-memory cache and would serve reads that miss other workers' writes. Set "
            "REDIS_URL (or --redis-url redis://host:6379/0), or turn the cache off with "
            "CACHE_ENABLED=false.",
            code=2,
        )
    if workers > 1 and reload:
        raise fail("--reload runs a single process; drop --workers or --reload", code=2)
    require_server()
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    if redis_url is not None:
        os.environ["REDIS_URL"] = redis_url
    # The server's own settings (and so whether auth is on) see where it really listens.
    os.environ["HOST"] = host
    os.environ["PORT"] = str(port)
    import uvicorn

    uvicorn.run("mltrail_server.main:app", host=host, port=port, workers=workers, reload=reload)


@db_app.command("upgrade")
def upgrade(database_url: DatabaseUrlOption = None) -> None:
    """Apply the server's database migrations (the server also does it at start)."""
    require_server()
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    from mltrail_server.config import load_settings
    from mltrail_server.db.engine import Database

    url = load_settings().resolved_database_url

    async def migrate() -> None:
        database = Database(url, pooled=False)
        try:
            await database.migrate()
        finally:
            await database.dispose()

    asyncio.run(migrate())
    stdout().print(f"The database {masked(url)} is at the latest schema.")
