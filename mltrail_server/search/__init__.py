"""One search language for every search in both APIs: runs, experiments, logged models, and
the model registry's searches to come.

- `ast`: the one tree (`Comparison`, `And`, `Or`, `OrderBy`).
- `spec`, `specs`: what each searchable entity lets a filter name (`SearchSpec`; `RUNS`,
  `EXPERIMENTS`, `LOGGED_MODELS`, `REGISTERED_MODELS`, `MODEL_VERSIONS`).
- `parser`, `order`: the one parser of filters and `order_by` clauses, configured by a spec.
- `like`: LIKE patterns, read one way (`\\` escapes).
- `page_token`: the one page-token codec (offset tokens of searches, keyset cursors of
  metric histories).

The SQL compiler lives with the rest of the SQL, in `mltrail_server.db.search_sql`: the
repositories hand it their columns and keyed tables.
"""

from mltrail_server.search.ast import And, Comparison, Entity, Expr, Or, OrderBy, Value
from mltrail_server.search.errors import (
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_LENGTH,
    MAX_ORDER_BY_CLAUSES,
    FilterSyntaxError,
    FilterTooLarge,
    invalid_input,
)
from mltrail_server.search.like import like_regex
from mltrail_server.search.order import (
    parse_order_by,
    parse_order_fields,
    read_order_by,
    read_order_fields,
)
from mltrail_server.search.page_token import (
    decode_cursor,
    decode_page_token,
    encode_cursor,
    encode_page_token,
    search_fingerprint,
)
from mltrail_server.search.parser import parse_filter, read_filter
from mltrail_server.search.spec import Field, KeyedField, SearchSpec, ValueType
from mltrail_server.search.specs import (
    EXPERIMENTS,
    LOGGED_MODELS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    RUNS,
)

__all__ = [
    "EXPERIMENTS",
    "LOGGED_MODELS",
    "MAX_FILTER_CONDITIONS",
    "MAX_FILTER_LENGTH",
    "MAX_ORDER_BY_CLAUSES",
    "MODEL_VERSIONS",
    "REGISTERED_MODELS",
    "RUNS",
    "And",
    "Comparison",
    "Entity",
    "Expr",
    "Field",
    "FilterSyntaxError",
    "FilterTooLarge",
    "KeyedField",
    "Or",
    "OrderBy",
    "SearchSpec",
    "Value",
    "ValueType",
    "decode_cursor",
    "decode_page_token",
    "encode_cursor",
    "encode_page_token",
    "invalid_input",
    "like_regex",
    "parse_filter",
    "parse_order_by",
    "parse_order_fields",
    "read_filter",
    "read_order_by",
    "read_order_fields",
    "search_fingerprint",
]
