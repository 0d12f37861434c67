"""What one searchable entity lets a filter and `order_by` name: its attributes (with their
value types, operators and aliases), its keyed fields (`metrics.`, `params.`, `tags.`, …),
the prefixes that spell them, and whether `OR` and parentheses are allowed."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from mltrail_server.search.ast import Entity

__all__ = [
    "KEYED_OPS",
    "LIST_OPS",
    "NULL_OPS",
    "NUMBER_OPS",
    "STRING_OPS",
    "Field",
    "KeyedField",
    "SearchSpec",
    "ValueType",
]

# "number": a float (metrics); "integer": a 64-bit integer; "time_ms": a 64-bit integer of
# milliseconds since the epoch; "string": a quoted string.
ValueType = Literal["string", "number", "integer", "time_ms"]

NUMBER_OPS = ("=", "!=", ">", ">=", "<", "<=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE")
LIST_OPS = ("IN", "NOT IN")
NULL_OPS = ("IS NULL", "IS NOT NULL")
KEYED_OPS = STRING_OPS + LIST_OPS + NULL_OPS


@dataclass(frozen=True)
class Field:
    """The values a field holds and the operators it takes."""

    type: ValueType
    ops: tuple[str, ...]


@dataclass(frozen=True)
class KeyedField:
    """`<prefix>.<key>`: a field by key (`keys=None`) or one of a fixed set of `keys`."""

    entity: Entity
    prefixes: tuple[str, ...]  # lower case; the first is the one messages show
    field: Field
    keys: tuple[str, ...] | None = None
    orderable: bool = True


@dataclass(frozen=True)
class SearchSpec:
    """The filter and `order_by` language of one search.

    Attributes are named bare, quoted (`` `run name` ``) or after one of `attribute_prefixes`;
    `aliases` map other spellings to an attribute's canonical name. `orderable` lists the
    attributes `order_by` may use (None: all of them).
    """

    what: str  # "runs", "experiments", ... for messages
    attributes: Mapping[str, Field]
    filter_example: str  # a clause, for "expected a filter clause such as ..."
    order_example: str  # fields, for "expected a field such as ..."
    keyed: tuple[KeyedField, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    attribute_prefixes: tuple[str, ...] = ("attributes", "attribute", "attr")
    allow_or: bool = True
    orderable: tuple[str, ...] | None = None

    def keyed_by_prefix(self, prefix: str) -> KeyedField | None:
        for keyed in self.keyed:
            if prefix.lower() in keyed.prefixes:
                return keyed
        return None

    def is_attribute_prefix(self, prefix: str) -> bool:
        return prefix.lower() in self.attribute_prefixes

    def canonical_attribute(self, name: str) -> str | None:
        canonical = self.aliases.get(name, name)
        return canonical if canonical in self.attributes else None

    def describe_prefixes(self) -> str:
        """`metrics., params., tags., attributes. or datasets.`: open keyed fields first."""
        open_keyed = [k.prefixes[0] for k in self.keyed if k.keys is None]
        fixed = [k.prefixes[0] for k in self.keyed if k.keys is not None]
        return _one_of([f"{p}." for p in (*open_keyed, self.attribute_prefixes[0], *fixed)])

    def describe_attributes(self) -> str:
        text = f"allowed: {', '.join(sorted(self.attributes))}"
        aliases = sorted({alias.lower() for alias in self.aliases})
        if aliases:
            text += f" (or {', '.join(aliases)})"
        open_keyed = [f"{k.prefixes[0]}." for k in self.keyed if k.keys is None]
        if open_keyed:
            text += f"; prefix other fields with {_one_of(open_keyed)}"
        return text


def _one_of(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
