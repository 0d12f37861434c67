"""The bounds a `/graphql` query must stay within before anything runs it, so that one hostile
request cannot make the server resolve a huge tree or batch many reads into one.

MLflow's server (3.1.1 on, "graphql batching attacks") allows at most 10 root fields, 10
aliases at any one level, a depth of 10 and 1,000 selections in all, counted with fragments
expanded where they are spread; these are the same numbers and the same messages. On top of
them, the text is bounded in characters and tokens (parsing is linear in both), one answer
name may be selected at most 10 times at one level (validation's cost grows with the square
of that), and only one operation may be sent: a JSON array of requests is not taken.
"""

from collections import Counter
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_QUERY_CHARS",
    "MAX_REPEATS",
    "MAX_ROOT_FIELDS",
    "MAX_SELECTIONS",
    "MAX_TOKENS",
    "QueryTooLarge",
    "parse_bounded",
]

MAX_ROOT_FIELDS = 10
MAX_ALIASES = 10
MAX_DEPTH = 10
MAX_SELECTIONS = 1000
MAX_REPEATS = 10  # selections of one answer name at one level
# MLflow's UI's largest query (GetRun) is about 1,500 characters and 120 tokens.
MAX_QUERY_CHARS = 100_000
MAX_TOKENS = 10_000


class QueryTooLarge(Exception):
    """A query beyond one of the bounds; its message says which and by how much."""


@dataclass
class _Count:
    selections: int = 0


def parse_bounded(query: str) -> DocumentNode:
    """The parsed `query`, once it is known to stay within every bound. A syntax error is
    graphql-core's `GraphQLError`; a bound passed is `QueryTooLarge`."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryTooLarge(
            f"Query exceeds maximum length of {MAX_QUERY_CHARS} characters (got {len(query)})"
        )
    # Past MAX_TOKENS, graphql-core stops with "Document contains more than ... tokens".
    document = parse(query, no_location=True, max_tokens=MAX_TOKENS)
    _check_shape(document)
    return document


def _check_shape(document: DocumentNode) -> None:
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    count = _Count()
    root_fields = 0
    most_aliases = 0
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        # (selection set, depth, fragments spread on the way here: a cycle stops there)
        stack: list[tuple[SelectionSetNode, int, frozenset[str]]] = [
            (definition.selection_set, 1, frozenset())
        ]
        while stack:
            selection_set, depth, seen = stack.pop()
            if depth > MAX_DEPTH:
                raise QueryTooLarge(f"Query exceeds maximum depth of {MAX_DEPTH}")
            fields, aliases, seen = _fields_of(selection_set, fragments, seen)
            most_aliases = max(most_aliases, aliases)
            _check_repeats(fields)
            for field in fields:
                if depth == 1:
                    root_fields += 1
                count.selections += 1
                if count.selections > MAX_SELECTIONS:
                    raise QueryTooLarge(
                        f"Query exceeds maximum total selections of {MAX_SELECTIONS}"
                    )
                if field.selection_set is not None:
                    stack.append((field.selection_set, depth + 1, seen))
    if root_fields > MAX_ROOT_FIELDS:
        raise QueryTooLarge(_at_most(MAX_ROOT_FIELDS, "root fields", root_fields))
    if most_aliases > MAX_ALIASES:
        raise QueryTooLarge(_at_most(MAX_ALIASES, "aliases", most_aliases))


def _check_repeats(fields: list[FieldNode]) -> None:
    """Validation compares every two fields of one answer name at one level (they must
    merge), so a name sent a thousand times costs a million comparisons."""
    names = Counter((field.alias or field.name).value for field in fields)
    name, times = names.most_common(1)[0] if names else ("", 0)
    if times > MAX_REPEATS:
        raise QueryTooLarge(
            f"Query selects '{name}' {times} times at one level; at most {MAX_REPEATS}"
        )


def _at_most(limit: int, what: str, got: int) -> str:
    return f"GraphQL queries should have at most {limit} {what}, got {got} {what}."


def _fields_of(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> tuple[list[FieldNode], int, frozenset[str]]:
    """The fields selected at this level, fragments (inline or spread) merged in, how many
    of them have an alias, and the fragments spread so far."""
    fields: list[FieldNode] = []
    aliases = 0
    pending = list(selection_set.selections)
    spread = set(seen)
    while pending:
        selection = pending.pop()
        if isinstance(selection, FieldNode):
            fields.append(selection)
            aliases += selection.alias is not None
        elif isinstance(selection, InlineFragmentNode):
            pending.extend(selection.selection_set.selections)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in spread:
                spread.add(name)
                pending.extend(fragment.selection_set.selections)
    return fields, aliases, frozenset(spread)
