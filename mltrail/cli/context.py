"""What every CLI command shares: where the server is, and the client to reach it."""

from dataclasses import dataclass

import typer

from mltrail.client import Client

__all__ = ["CLI_RETRY_SECONDS", "State", "client"]

#: How long a CLI command keeps retrying an unreachable server before failing, by default.
CLI_RETRY_SECONDS = 3.0


@dataclass
class State:
    """The global options (`--url`, `--api-key`, `--retry-for`)."""

    url: str | None = None
    api_key: str | None = None
    retry_for: float = CLI_RETRY_SECONDS


def client(ctx: typer.Context) -> Client:
    """A client for the server named by the global options or the environment."""
    state = ctx.find_object(State) or State()
    return Client(state.url, state.api_key, give_up_after=state.retry_for)
