"""`python -m mltrail`: the CLI."""

from mltrail.cli import main

main()
