"""Errors of the search language, its size bounds, and how an API reports them.

A filter is bounded so that one search cannot tie up the database: at most
`MAX_FILTER_LENGTH` characters and `MAX_FILTER_CONDITIONS` comparisons, `order_by` at most
`MAX_ORDER_BY_CLAUSES` clauses. Each comparison on a keyed field becomes a subquery; the
bounds sit far above what people write by hand or the MLflow UI and client send (several
values of one key fit in a single `IN (...)` comparison).
"""

from mltrail_server.errors import InvalidInput

__all__ = [
    "MAX_FILTER_CONDITIONS",
    "MAX_FILTER_LENGTH",
    "MAX_ORDER_BY_CLAUSES",
    "FilterSyntaxError",
    "FilterTooLarge",
    "invalid_input",
]

MAX_FILTER_LENGTH = 10_000
MAX_FILTER_CONDITIONS = 50
MAX_ORDER_BY_CLAUSES = 20


class FilterSyntaxError(ValueError):
    """A filter or order_by clause that cannot be parsed.

    `position` is the 0-based offset in `text` where parsing broke, `reason` the message without
    the position, and `snippet` the input with a caret under that offset.
    """

    def __init__(self, reason: str, position: int, text: str) -> None:
        super().__init__(f"{reason} at position {position}")
        self.reason = reason
        self.position = position
        self.text = text

    @property
    def snippet(self) -> str:
        flat = "".join(" " if c.isspace() else c for c in self.text)
        return f"{flat}\n{' ' * self.position}^"


class FilterTooLarge(FilterSyntaxError):
    """A filter or order_by past one of the size bounds; `reason` names the bound."""


def invalid_input(error: FilterSyntaxError, field: str) -> InvalidInput:
    """The error both APIs answer with (v1: 422, MLflow: 400 INVALID_PARAMETER_VALUE), naming
    the request field: `filter: <reason> at position <n>`; a size bound without a position."""
    if isinstance(error, FilterTooLarge):
        return InvalidInput(f"{field}: {error.reason}")
    return InvalidInput(f"{field}: {error}")
