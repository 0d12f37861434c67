"""`mltrail doctor`: checks the server's settings, database, migrations, Redis, artifact store
and auth, here, as the server would see them, and prints what is wrong and how to fix it.
The checks live in the server (`mltrail_server.diagnostics`), imported lazily so that the
SDK installs and works without it."""

import asyncio
import importlib.util

import typer
from rich.table import Table
from rich.text import Text

from mltrail.cli.output import JsonOption, fail, print_json, stdout

__all__ = ["doctor"]

_MARKS = {"ok": ("✓", "green"), "warning": ("!", "yellow"), "error": ("✗", "bold red")}


def doctor(as_json: JsonOption = False) -> None:
    """Check the server's configuration, database, migrations, Redis, artifact store and
    auth. Exit code 1 if anything is wrong (warnings alone: 0), 2 without the server."""
    if importlib.util.find_spec("mltrail_server") is None:
        # 2 tells "could not check" apart from "checked: something is wrong".
        raise fail("the server is not installed here: pip install 'mltrail[server]'", 2)
    from mltrail_server.diagnostics import Status, diagnose

    findings = asyncio.run(diagnose())
    errors = sum(finding.status == Status.ERROR for finding in findings)
    if as_json:
        print_json(findings)
    else:
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for finding in findings:
            mark, style = _MARKS[finding.status]
            table.add_row(Text(mark, style=style), Text(finding.check), Text(finding.detail))
            if finding.fix:
                table.add_row("", "", Text(f"fix: {finding.fix}", style="cyan"))
        console = stdout()
        console.print(table)
        warnings = sum(finding.status == Status.WARNING for finding in findings)
        if errors:
            summary = f"{_count(errors, 'error')}, {_count(warnings, 'warning')}."
            console.print(Text(f"\n{summary}", style="bold red"))
        elif warnings:
            console.print(Text(f"\nNo errors, {_count(warnings, 'warning')}.", style="yellow"))
        else:
            console.print(Text("\nEverything is in order.", style="green"))
    if errors:
        raise typer.Exit(1)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
