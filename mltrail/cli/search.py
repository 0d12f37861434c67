"""`mltrail search "<filter>"`."""

from typing import Annotated

import typer

from mltrail.cli.context import client
from mltrail.cli.output import JsonOption, print_json, stdout
from mltrail.cli.runs import runs_table

__all__ = ["search"]


def search(
    ctx: typer.Context,
    filter: Annotated[
        str,
        typer.Argument(help="e.g. \"metrics.acc > 0.9 AND params.lr = '0.01'\"; '' for all."),
    ],
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", help="Only in this experiment (id or name; repeat)."),
    ] = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", help="e.g. 'metrics.acc DESC' (repeat for ties)."),
    ] = None,
    max_results: Annotated[int, typer.Option(min=1, help="At most this many runs.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Search runs with a filter, in all experiments unless --experiment is given."""
    with client(ctx) as api:
        runs = api.search(
            filter, experiment_ids=experiment or None, order_by=order_by, max_results=max_results
        )
    if as_json:
        print_json({"runs": list(runs), "next_page_token": runs.next_page_token})
    elif not runs:
        stdout().print("No runs match.")
    else:
        runs_table(runs)
