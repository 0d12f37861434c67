"""`python -m exptrack`: the CLI."""

from exptrack.cli import main

main()
