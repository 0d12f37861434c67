"""The filter and order_by languages of MLflow's experiment and logged-model searches.

MLflow's grammar: `clause [AND clause]*`, where a clause is `<field> <op> <value>`. Fields are
attributes (bare, or prefixed `attributes.`) or `tags.<key>` (and, for logged models,
`params.<key>`), with keys quotable in backticks or double quotes. Strings are quoted with
single or double quotes; a doubled quote stands for itself. Clauses come out as the
`Comparison` records of the run-search parser, so the SQL side speaks one vocabulary, and
are bounded as run-search filters are (`MAX_FILTER_LENGTH`, `MAX_FILTER_CONDITIONS`).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from mltrail_server.errors import InvalidInput
from mltrail_server.services.search_filter import (
    MAX_FILTER_CONDITIONS,
    Comparison,
    Entity,
    FilterTooLarge,
    check_filter_length,
    too_many_conditions,
)

__all__ = [
    "EXPERIMENT_FILTER",
    "LOGGED_MODEL_FILTER",
    "FilterSpec",
    "parse_clauses",
    "parse_order_clause",
]

AttributeKind = Literal["string", "number", "id"]

_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<string>'(?:[^']|'')*+'|\"(?:[^\"]|\"\")*+\"|`(?:[^`]|``)*+`)"
    r"|(?P<number>-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<ident>[^\W\d][\w\-./:]*)"
    r"|(?P<op>!=|>=|<=|=|>|<)"
    r"|(?P<punct>[(),])"
)
_NUMERIC_OPS = ("=", "!=", ">", ">=", "<", "<=")
_STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
_ID_OPS = ("=", "!=", "IN", "NOT IN")
_KEYED_OPS = ("=", "!=", "LIKE", "ILIKE", "IS NULL", "IS NOT NULL")


@dataclass(frozen=True)
class FilterSpec:
    """What one search may filter on."""

    what: str
    attributes: dict[str, AttributeKind]
    aliases: dict[str, str]
    entities: dict[str, Entity]


EXPERIMENT_FILTER = FilterSpec(
    what="experiments",
    attributes={
        "name": "string",
        "experiment_id": "id",
        "creation_time": "number",
        "last_update_time": "number",
    },
    aliases={},
    entities={"tags": "tag", "tag": "tag"},
)
LOGGED_MODEL_FILTER = FilterSpec(
    what="logged models",
    attributes={
        "name": "string",
        "model_id": "id",
        "model_type": "string",
        "status": "string",
        "source_run_id": "id",
        "creation_timestamp": "number",
        "last_updated_timestamp": "number",
    },
    aliases={
        "creation_time": "creation_timestamp",
        "creation_timestamp_ms": "creation_timestamp",
        "last_updated_timestamp_ms": "last_updated_timestamp",
        "run_id": "source_run_id",
    },
    entities={"tags": "tag", "tag": "tag", "params": "param", "param": "param"},
)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    value: str = ""
    quote: str = ""


def _tokens(text: str, what: str) -> list[_Token]:
    tokens = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            raise InvalidInput(
                f"Invalid filter for {what}: unexpected character {text[position]!r} at "
                f"position {position}"
            )
        kind, raw = match.lastgroup or "", match.group()
        if kind == "string":
            quote = raw[0]
            tokens.append(_Token("string", raw, raw[1:-1].replace(quote * 2, quote), quote))
        elif kind != "ws":
            tokens.append(_Token(kind if kind != "punct" else raw, raw))
        position = match.end()
    return tokens


class _Clauses:
    def __init__(self, text: str, spec: FilterSpec) -> None:
        self.text = text
        self.spec = spec
        self.tokens = _tokens(text, spec.what)
        self.index = 0

    def fail(self, reason: str) -> InvalidInput:
        return InvalidInput(f"Invalid filter {self.text!r} for {self.spec.what}: {reason}")

    def next(self, expected: str) -> _Token:
        if self.index >= len(self.tokens):
            raise self.fail(f"expected {expected}, found end of input")
        token = self.tokens[self.index]
        self.index += 1
        return token

    def peek_word(self) -> str:
        if self.index < len(self.tokens) and self.tokens[self.index].kind == "ident":
            return self.tokens[self.index].text.upper()
        return ""

    def parse(self) -> list[Comparison]:
        clauses = [self.clause()]
        while self.index < len(self.tokens):
            word = self.next("AND")
            if word.kind != "ident" or word.text.upper() != "AND":
                raise self.fail(f"expected AND between clauses, found {word.text!r}")
            if len(clauses) == MAX_FILTER_CONDITIONS:
                raise InvalidInput(f"filter: {too_many_conditions(self.text, 0).reason}")
            clauses.append(self.clause())
        return clauses

    def field(self) -> tuple[Entity, str]:
        token = self.next("a field")
        if token.kind == "string" and token.quote in '`"':
            entity: Entity = "attribute"
            key = token.value
        elif token.kind == "ident":
            prefix, dot, key = token.text.partition(".")
            if not dot:
                entity, key = "attribute", prefix
            elif prefix.lower() in ("attribute", "attributes", "attr"):
                entity = "attribute"
            elif prefix.lower() in self.spec.entities:
                entity = self.spec.entities[prefix.lower()]
            else:
                raise self.fail(f"unknown entity {prefix!r}")
            if not key and self.index < len(self.tokens):
                quoted = self.tokens[self.index]
                if quoted.kind == "string" and quoted.quote in '`"':
                    self.index += 1
                    key = quoted.value
        else:
            raise self.fail(f"expected a field, found {token.text!r}")
        if not key:
            raise self.fail(f"expected a key after {token.text!r}")
        if entity == "attribute":
            key = self.spec.aliases.get(key, key)
            if key not in self.spec.attributes:
                allowed = ", ".join(self.spec.attributes)
                raise self.fail(f"invalid attribute key {key!r}; allowed: {allowed}")
        return entity, key

    def operator(self) -> str:
        token = self.next("a comparison operator")
        if token.kind == "op":
            return token.text
        word = token.text.upper() if token.kind == "ident" else ""
        if word in ("LIKE", "ILIKE", "IN"):
            return word
        if word == "NOT" and self.peek_word() == "IN":
            self.index += 1
            return "NOT IN"
        if word == "IS":
            if self.peek_word() == "NOT":
                self.index += 1
                word = "IS NOT"
            if self.peek_word() == "NULL":
                self.index += 1
                return f"{word} NULL"
        raise self.fail(f"expected a comparison operator, found {token.text!r}")

    def clause(self) -> Comparison:
        entity, key = self.field()
        op = self.operator()
        kind = self.spec.attributes.get(key) if entity == "attribute" else None
        allowed = {"string": _STRING_OPS, "number": _NUMERIC_OPS, "id": _ID_OPS}.get(
            kind or "", _KEYED_OPS
        )
        if op not in allowed:
            name = f"attribute {key!r}" if entity == "attribute" else entity
            raise self.fail(f"invalid comparator {op!r} for {name}; allowed: {', '.join(allowed)}")
        if op.endswith("NULL"):
            return Comparison(entity, key, op, None)
        if op.endswith("IN"):
            return Comparison(entity, key, op, self.string_list())
        token = self.next("a value")
        if kind == "number":
            if token.kind != "number" or not re.fullmatch(r"-?[0-9]+", token.text):
                raise self.fail(f"expected an integer (milliseconds) for {key!r}")
            return Comparison(entity, key, op, int(token.text))
        if token.kind != "string" or token.quote == "`":
            raise self.fail(f"expected a quoted string value for {key!r}, found {token.text!r}")
        return Comparison(entity, key, op, token.value)

    def string_list(self) -> tuple[str, ...]:
        if self.next("'('").kind != "(":
            raise self.fail("expected '(' after IN")
        values: list[str] = []
        while True:
            token = self.next("a quoted string")
            if token.kind != "string" or token.quote == "`":
                raise self.fail(f"expected a quoted string in the list, found {token.text!r}")
            values.append(token.value)
            separator = self.next("',' or ')'")
            if separator.kind == ")":
                return tuple(values)
            if separator.kind != ",":
                raise self.fail(f"expected ',' or ')' in the list, found {separator.text!r}")


def parse_clauses(text: str | None, spec: FilterSpec) -> list[Comparison]:
    """The AND-joined clauses of a filter; none for an empty one. 400 when it is invalid."""
    if text is None or not text.strip():
        return []
    try:
        check_filter_length(text)
    except FilterTooLarge as exc:
        raise InvalidInput(f"filter: {exc.reason}") from None
    return _Clauses(text, spec).parse()


def parse_order_clause(clause: str, fields: Sequence[str], what: str) -> tuple[str, bool]:
    """`<field> [ASC|DESC]` (an `attributes.` prefix is allowed) as (field, ascending)."""
    parts = clause.split()
    if not parts or len(parts) > 2:
        raise InvalidInput(f"Invalid order_by clause {clause!r} for {what}")
    name = parts[0].removeprefix("attributes.").removeprefix("attribute.").strip('`"')
    if name not in fields:
        raise InvalidInput(
            f"Invalid order_by clause {clause!r} for {what}: unknown field {name!r}; "
            f"allowed: {', '.join(fields)}"
        )
    direction = parts[1].upper() if len(parts) == 2 else "ASC"
    if direction not in ("ASC", "DESC"):
        raise InvalidInput(f"Invalid order_by clause {clause!r}: expected ASC or DESC")
    return name, direction == "ASC"
