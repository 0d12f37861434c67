"""The `mltrail` console script. The SDK installs without the CLI's libraries (typer, rich),
so the command says how to get them instead of failing with a traceback."""

import sys

__all__ = ["main"]

# The top-level modules that `pip install 'mltrail[cli]'` brings.
CLI_MODULES = frozenset({"typer", "rich"})
INSTALL_CLI = "pip install 'mltrail[cli]'"


def main() -> None:
    """Run the CLI, or exit with code 2 and a one-line hint when `mltrail[cli]` is missing."""
    try:
        from mltrail.cli import main as cli_main
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in CLI_MODULES:
            raise
        print(
            f"error: the mltrail command needs the CLI ({missing} is not installed): {INSTALL_CLI}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    cli_main()
