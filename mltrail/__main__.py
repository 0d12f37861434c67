"""`python -m mltrail`: the CLI."""

from mltrail._entry import main

main()
