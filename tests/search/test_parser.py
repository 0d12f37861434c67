"""The search language as run search speaks it (`RUNS`): exact ASTs, readable errors,
properties. The other specs are in test_specs.py."""

from __future__ import annotations

import re
from typing import Any, Protocol, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mltrail_server import search
from mltrail_server.search import (
    RUNS,
    And,
    Comparison,
    Entity,
    Expr,
    FilterSyntaxError,
    Or,
    OrderBy,
)

T = TypeVar("T")


def parse_filter(text: str | None) -> Expr | None:
    return search.parse_filter(text, RUNS)


def parse_order_by(clauses: list[str] | str | None) -> list[OrderBy]:
    return search.parse_order_by(clauses, RUNS)


class Draw(Protocol):
    """`draw` of `st.composite` and of `st.data()` alike."""

    def __call__(self, strategy: st.SearchStrategy[T], /) -> T: ...


# No example database: a failure is reproduced from its printed example, not a stored one.
quick = settings(database=None, max_examples=300, deadline=None)


def metric(key: str, op: str, value: float) -> Comparison:
    return Comparison("metric", key, op, value)


def param(key: str, op: str, value: Any = None) -> Comparison:
    return Comparison("param", key, op, value)


def tag(key: str, op: str, value: Any = None) -> Comparison:
    return Comparison("tag", key, op, value)


def attr(key: str, op: str, value: Any) -> Comparison:
    return Comparison("attribute", key, op, value)


def fails(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text)
    return info.value


def order_fails(clauses: list[str]) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_order_by(clauses)
    return info.value


A = attr("status", "=", "A")
B = attr("status", "=", "B")
C = attr("status", "=", "C")
D = attr("status", "=", "D")


class TestMlflowExample:
    def test_the_documented_example_parses_to_four_comparisons(self) -> None:
        text = (
            "metrics.acc > 0.9 AND params.lr = '0.01' AND tags.`a b` LIKE '%x%' "
            "AND attributes.status = 'FINISHED'"
        )
        assert parse_filter(text) == And(
            (
                metric("acc", ">", 0.9),
                param("lr", "=", "0.01"),
                tag("a b", "LIKE", "%x%"),
                attr("status", "=", "FINISHED"),
            )
        )

    @pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
    def test_no_filter_text_means_no_filter(self, text: str | None) -> None:
        assert parse_filter(text) is None

    def test_a_single_clause_is_returned_bare(self) -> None:
        assert parse_filter("metrics.loss <= 0.5") == metric("loss", "<=", 0.5)


class TestPrecedence:
    def test_and_binds_tighter_than_or(self) -> None:
        text = "status = 'A' OR status = 'B' AND status = 'C'"
        assert parse_filter(text) == Or((A, And((B, C))))

    def test_or_of_two_ands(self) -> None:
        text = "status = 'A' AND status = 'B' OR status = 'C' AND status = 'D'"
        assert parse_filter(text) == Or((And((A, B)), And((C, D))))

    def test_parentheses_override_precedence(self) -> None:
        text = "(status = 'A' OR status = 'B') AND status = 'C'"
        assert parse_filter(text) == And((Or((A, B)), C))

    def test_two_parenthesised_ors(self) -> None:
        text = "(status = 'A' OR status = 'B') AND (status = 'C' OR status = 'D')"
        assert parse_filter(text) == And((Or((A, B)), Or((C, D))))

    def test_redundant_nested_parentheses_disappear(self) -> None:
        assert parse_filter("((( status = 'A' )))") == A

    def test_nested_groups_of_the_same_kind_are_flattened(self) -> None:
        assert parse_filter("status = 'A' AND (status = 'B' AND (status = 'C'))") == And((A, B, C))
        assert parse_filter("(status = 'A' OR status = 'B') OR status = 'C'") == Or((A, B, C))

    def test_nested_mixed_groups_keep_their_shape(self) -> None:
        text = "status = 'A' AND (status = 'B' OR (status = 'C' AND status = 'D'))"
        assert parse_filter(text) == And((A, Or((B, And((C, D))))))

    def test_no_whitespace_is_needed_around_symbols(self) -> None:
        text = "(metrics.a>=-1)AND(params.p='x'OR tags.t!='y')"
        expected = And((metric("a", ">=", -1.0), Or((param("p", "=", "x"), tag("t", "!=", "y")))))
        assert parse_filter(text) == expected

    def test_64_levels_of_parentheses_are_accepted(self) -> None:
        assert parse_filter("(" * 64 + "status = 'A'" + ")" * 64) == A

    def test_deeper_nesting_is_a_syntax_error_not_a_crash(self) -> None:
        error = fails("(" * 1000 + "status = 'A'" + ")" * 1000)
        assert error.position == 64
        assert "nested more than 64 deep" in str(error)


class TestKeywords:
    @pytest.mark.parametrize("word", ["and", "AND", "And", "aNd"])
    def test_and_is_case_insensitive(self, word: str) -> None:
        assert parse_filter(f"status = 'A' {word} status = 'B'") == And((A, B))

    @pytest.mark.parametrize("word", ["or", "OR", "Or"])
    def test_or_is_case_insensitive(self, word: str) -> None:
        assert parse_filter(f"status = 'A' {word} status = 'B'") == Or((A, B))

    @pytest.mark.parametrize(
        ("written", "op", "value"),
        [
            ("like '%x'", "LIKE", "%x"),
            ("Like '%x'", "LIKE", "%x"),
            ("ilike '%x'", "ILIKE", "%x"),
            ("ILike '%x'", "ILIKE", "%x"),
            ("in ('x')", "IN", ("x",)),
            ("not in ('x')", "NOT IN", ("x",)),
            ("Not\n  In ('x')", "NOT IN", ("x",)),
            ("is null", "IS NULL", None),
            ("IS NULL", "IS NULL", None),
            ("is not null", "IS NOT NULL", None),
            ("Is Not Null", "IS NOT NULL", None),
        ],
    )
    def test_operator_keywords_are_normalised_to_upper_case(
        self, written: str, op: str, value: Any
    ) -> None:
        assert parse_filter(f"tags.t {written}") == tag("t", op, value)

    def test_a_non_ascii_lookalike_is_not_a_keyword(self) -> None:
        # "ın".upper() == "IN" in Python; it must not be read as the IN operator.
        error = fails("tags.t ın ('x')")
        assert error.position == 7
        assert "expected a comparison operator after 'tags.t', found 'ın'" in str(error)


class TestEntities:
    @pytest.mark.parametrize(
        ("prefix", "entity"),
        [
            ("metrics", "metric"),
            ("metric", "metric"),
            ("params", "param"),
            ("param", "param"),
            ("parameters", "param"),
            ("parameter", "param"),
            ("tags", "tag"),
            ("tag", "tag"),
            ("Tags", "tag"),
        ],
    )
    def test_entity_prefix_aliases(self, prefix: str, entity: Entity) -> None:
        value: Any = 1.0 if entity == "metric" else "v"
        literal = "1" if entity == "metric" else "'v'"
        assert parse_filter(f"{prefix}.k = {literal}") == Comparison(entity, "k", "=", value)

    @pytest.mark.parametrize("prefix", ["", "attributes.", "attribute.", "attr.", "run."])
    def test_attribute_prefix_aliases_and_no_prefix(self, prefix: str) -> None:
        assert parse_filter(f"{prefix}run_id = 'abc'") == attr("run_id", "=", "abc")

    @pytest.mark.parametrize("prefix", ["datasets", "dataset"])
    @pytest.mark.parametrize("key", ["name", "digest", "context"])
    def test_dataset_fields(self, prefix: str, key: str) -> None:
        assert parse_filter(f"{prefix}.{key} = 'train'") == Comparison("dataset", key, "=", "train")

    def test_dataset_fields_take_string_ops_and_lists(self) -> None:
        text = "datasets.name ILIKE 'mnist%' AND datasets.context NOT IN ('eval', \"test\")"
        assert parse_filter(text) == And(
            (
                Comparison("dataset", "name", "ILIKE", "mnist%"),
                Comparison("dataset", "context", "NOT IN", ("eval", "test")),
            )
        )


class TestKeys:
    @pytest.mark.parametrize(
        ("text", "key"),
        [
            ("metrics.val/loss > 1", "val/loss"),
            ("metrics.model.lr > 1", "model.lr"),
            ("metrics.a-b:c_d > 1", "a-b:c_d"),
            ("metrics.2nd > 1", "2nd"),
            ("metrics.`val loss` > 1", "val loss"),
            ('metrics."val loss" > 1', "val loss"),
            ("metrics.`a``b` > 1", "a`b"),
            ('metrics."say ""hi""" > 1', 'say "hi"'),
            ("metrics.`AND` > 1", "AND"),
            ("metrics.and > 1", "and"),
            ("metrics.précision > 1", "précision"),
        ],
    )
    def test_bare_and_quoted_keys(self, text: str, key: str) -> None:
        assert parse_filter(text) == metric(key, ">", 1.0)

    def test_params_key_keeps_its_inner_dots(self) -> None:
        assert parse_filter("params.model.lr = '0.1'") == param("model.lr", "=", "0.1")


class TestValues:
    @pytest.mark.parametrize(
        ("literal", "value"),
        [
            ("'plain'", "plain"),
            ('"double"', "double"),
            ("'it''s'", "it's"),
            ('"say ""hi"""', 'say "hi"'),
            ("'say \"hi\"'", 'say "hi"'),
            ("''", ""),
            ("'a AND b OR (c)'", "a AND b OR (c)"),
            ("'ünïcödé ✓'", "ünïcödé ✓"),
        ],
    )
    def test_quoted_strings(self, literal: str, value: str) -> None:
        assert parse_filter(f"params.p = {literal}") == param("p", "=", value)

    @pytest.mark.parametrize(
        ("literal", "value"),
        [
            ("1", 1.0),
            ("-2", -2.0),
            ("0.25", 0.25),
            ("-0.5", -0.5),
            (".5", 0.5),
            ("-.5", -0.5),
            ("1e3", 1000.0),
            ("1.5E-3", 0.0015),
            ("-2e+2", -200.0),
        ],
    )
    def test_metric_numbers_become_floats(self, literal: str, value: float) -> None:
        result = parse_filter(f"metrics.m < {literal}")
        assert result == metric("m", "<", value)
        assert isinstance(result, Comparison) and type(result.value) is float

    @pytest.mark.parametrize("op", ["=", "!=", ">", ">=", "<", "<="])
    def test_every_numeric_comparator(self, op: str) -> None:
        assert parse_filter(f"metrics.m {op} 3") == metric("m", op, 3.0)

    def test_in_lists_keep_order_and_duplicates(self) -> None:
        text = "tags.t IN ('b', \"a\",'b' , 'it''s')"
        assert parse_filter(text) == tag("t", "IN", ("b", "a", "b", "it's"))

    def test_single_item_lists(self) -> None:
        assert parse_filter("params.p NOT IN ('x')") == param("p", "NOT IN", ("x",))

    def test_is_null_for_params_and_tags(self) -> None:
        assert parse_filter("params.p IS NULL AND tags.t IS NOT NULL") == And(
            (param("p", "IS NULL"), tag("t", "IS NOT NULL"))
        )


class TestAttributes:
    @pytest.mark.parametrize("name", ["run_id", "run_name", "status", "user_id", "artifact_uri"])
    @pytest.mark.parametrize("op", ["=", "!=", "LIKE", "ILIKE"])
    def test_string_attributes(self, name: str, op: str) -> None:
        assert parse_filter(f"attributes.{name} {op} 'x'") == attr(name, op, "x")

    @pytest.mark.parametrize("name", ["start_time", "end_time"])
    @pytest.mark.parametrize("op", ["=", "!=", ">", ">=", "<", "<="])
    def test_numeric_attributes_take_integer_milliseconds(self, name: str, op: str) -> None:
        result = parse_filter(f"{name} {op} 1700000000000")
        assert result == attr(name, op, 1700000000000)
        assert isinstance(result, Comparison) and type(result.value) is int

    def test_negative_and_int64_bounds(self) -> None:
        assert parse_filter("end_time > -1") == attr("end_time", ">", -1)
        assert parse_filter("end_time < 9223372036854775807") == attr(
            "end_time", "<", 9223372036854775807
        )

    @pytest.mark.parametrize(
        ("written", "canonical"),
        [
            ("created", "start_time"),
            ("Created", "start_time"),
            ("attributes.created", "start_time"),
            ("`run name`", "run_name"),
            ('"Run name"', "run_name"),
            ("attributes.`Run name`", "run_name"),
            ('run."run name"', "run_name"),
        ],
    )
    def test_attribute_aliases(self, written: str, canonical: str) -> None:
        value: Any = 5 if canonical == "start_time" else "x"
        literal = "5" if canonical == "start_time" else "'x'"
        assert parse_filter(f"{written} = {literal}") == attr(canonical, "=", value)

    def test_run_id_is_the_only_attribute_with_in(self) -> None:
        text = "run_id IN ('r1', 'r2') AND attributes.run_id NOT IN ('r3')"
        assert parse_filter(text) == And(
            (attr("run_id", "IN", ("r1", "r2")), attr("run_id", "NOT IN", ("r3",)))
        )


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "position", "message"),
        [
            # Parentheses and structure.
            (
                "(status = 'x'",
                13,
                "expected AND, OR or ')' to close the '(' at position 0, found end of input",
            ),
            ("status = 'x')", 12, "unbalanced parenthesis: ')' without a matching '('"),
            ("()", 1, "expected a filter clause such as metrics.acc > 0.9, found ')'"),
            ("metrics.acc > 0.9 extra", 18, "expected AND, OR or end of input, found 'extra'"),
            (
                "tags.a = 'x' tags.b = 'y'",
                13,
                "expected AND, OR or end of input, found 'tags.b'",
            ),
            (
                "AND status = 'x'",
                0,
                "expected a filter clause such as metrics.acc > 0.9, found keyword 'AND'",
            ),
            (
                "status = 'x' AND",
                16,
                "expected a filter clause such as metrics.acc > 0.9, found end of input",
            ),
            (
                "'status' = 'x'",
                0,
                "expected a filter clause such as metrics.acc > 0.9, found string 'status'",
            ),
            # Values.
            ("metrics.acc > ", 14, "expected a number value after '>', found end of input"),
            ("metrics.a > '1'", 12, "expected a number value after '>', found string '1'"),
            ("params.lr = 0.01", 12, "expected a quoted string value after '=', found number 0.01"),
            ("status = `x`", 9, "expected a quoted string value after '=', found quoted key `x`"),
            ("status == 'x'", 8, "expected a quoted string value after '=', found '='"),
            (
                "start_time > 1.5",
                13,
                "expected an integer (milliseconds) value after '>', found number 1.5",
            ),
            (
                "start_time > '1'",
                13,
                "expected an integer (milliseconds) value after '>', found string '1'",
            ),
            ("metrics.a > 1e999", 12, "number 1e999 is out of range"),
            ("end_time < 9223372036854775808", 11, "integer 9223372036854775808 is out of range"),
            # Comparators per entity.
            (
                "tags.a > '1'",
                7,
                "invalid comparator '>' for tag; "
                "allowed: =, !=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL",
            ),
            ("params.p >= 'a'", 9, "invalid comparator '>=' for param; allowed: =, !=, LIKE"),
            (
                "metrics.acc LIKE '1'",
                12,
                "invalid comparator 'LIKE' for metric; allowed: =, !=, >, >=, <, <=",
            ),
            ("metrics.acc IS NULL", 12, "invalid comparator 'IS NULL' for metric"),
            (
                "status IN ('a')",
                7,
                "invalid comparator 'IN' for attribute 'status'; allowed: =, !=, LIKE, ILIKE",
            ),
            (
                "start_time LIKE '1%'",
                11,
                "invalid comparator 'LIKE' for attribute 'start_time'; "
                "allowed: =, !=, >, >=, <, <=",
            ),
            ("status IS NULL", 7, "invalid comparator 'IS NULL' for attribute 'status'"),
            (
                "datasets.name > 'a'",
                14,
                "invalid comparator '>' for dataset; allowed: =, !=, LIKE, ILIKE, IN, NOT IN",
            ),
            # Operators.
            ("tags.a 'x'", 7, "expected a comparison operator after 'tags.a', found string 'x'"),
            (
                "tags.`a b`",
                10,
                "expected a comparison operator after 'tags.`a b`', found end of input",
            ),
            ("tags.a NOT LIKE 'x'", 11, "expected IN after NOT, found 'LIKE'"),
            ("tags.a IS 'x'", 10, "expected NULL or NOT after IS, found string 'x'"),
            ("tags.a IS NOT 'x'", 14, "expected NULL after IS NOT, found string 'x'"),
            # Fields.
            (
                "attributes.color = 'red'",
                0,
                "unknown attribute 'color'; allowed: artifact_uri, end_time, parent_run_id, "
                "run_id, run_name, start_time, status, user_id (or created, run name); "
                "prefix other fields with metrics., params. or tags.",
            ),
            (
                "metrics.a > 1 AND lifecycle_stage = 'active'",
                18,
                "unknown attribute 'lifecycle_stage'",
            ),
            (
                "datasets.source = 'x'",
                0,
                "unknown dataset field 'source'; allowed: context, digest, name",
            ),
            (
                "metricz.acc > 1",
                0,
                "unknown entity 'metricz'; "
                "expected metrics., params., tags., attributes. or datasets.",
            ),
            ('metrics. "x" > 1', 8, "expected a key after 'metrics.'"),
            ("tags.`` = 'x'", 5, "expected a key after 'tags.'"),
            # Tokens.
            ("tags.a = 'abc", 9, "unterminated string (no closing ')"),
            ('tags.a = "abc', 9, 'unterminated string (no closing ")'),
            ("tags.a = 'it''s", 9, "unterminated string (no closing ')"),
            ("tags.`a b = 'x'", 5, "unterminated quoted key (no closing `)"),
            ("status = 'x' @", 13, "unexpected character '@'"),
            ("status ! 'x'", 7, "unexpected character '!'"),
            # Lists.
            ("run_id IN ()", 11, "empty IN list; give at least one quoted string"),
            ("tags.t NOT IN ( )", 16, "empty NOT IN list"),
            ("run_id IN 'a'", 10, "expected '(' after IN, found string 'a'"),
            ("run_id IN ('a',)", 15, "expected a quoted string in the IN list, found ')'"),
            ("run_id IN ('a' 'b')", 15, "expected ',' or ')' in the IN list, found string 'b'"),
            ("run_id IN ('a'", 14, "expected ',' or ')' in the IN list, found end of input"),
            ("tags.t IN (1, 2)", 11, "expected a quoted string in the IN list, found number 1"),
        ],
    )
    def test_error_position_and_message(self, text: str, position: int, message: str) -> None:
        error = fails(text)
        assert error.position == position
        assert message in str(error)
        assert str(error) == f"{error.reason} at position {position}"

    def test_an_absurdly_long_integer_is_out_of_range_not_a_crash(self) -> None:
        # int() refuses strings of more than 4300 digits with a plain ValueError.
        error = fails("start_time > " + "9" * 5000)
        assert error.position == 13
        assert "is out of range" in str(error)

    def test_errors_are_value_errors(self) -> None:
        assert isinstance(fails("status ="), ValueError)

    def test_snippet_points_a_caret_at_the_error(self) -> None:
        error = fails("metrics.acc >\tx")
        assert error.snippet == "metrics.acc > x\n" + " " * 14 + "^"


class TestOrderBy:
    def test_empty_inputs(self) -> None:
        assert parse_order_by(None) == []
        assert parse_order_by([]) == []

    def test_each_entity_and_direction(self) -> None:
        clauses = [
            "metrics.acc DESC",
            "params.lr",
            "tags.`a b` asc",
            "start_time desc",
            "run_id ASC",
        ]
        assert parse_order_by(clauses) == [
            OrderBy("metric", "acc", False),
            OrderBy("param", "lr", True),
            OrderBy("tag", "a b", True),
            OrderBy("attribute", "start_time", False),
            OrderBy("attribute", "run_id", True),
        ]

    @pytest.mark.parametrize(
        ("clause", "expected"),
        [
            ("created DESC", OrderBy("attribute", "start_time", False)),
            ("attributes.end_time", OrderBy("attribute", "end_time", True)),
            ("attr.status", OrderBy("attribute", "status", True)),
            ("`Run name` DESC", OrderBy("attribute", "run_name", False)),
            ('metrics."val loss" DESC', OrderBy("metric", "val loss", False)),
            ("metric.val/loss", OrderBy("metric", "val/loss", True)),
            ("parameters.model.lr Desc", OrderBy("param", "model.lr", False)),
            ("  user_id  ", OrderBy("attribute", "user_id", True)),
            ("artifact_uri", OrderBy("attribute", "artifact_uri", True)),
            ("run_name", OrderBy("attribute", "run_name", True)),
        ],
    )
    def test_aliases_and_quoting(self, clause: str, expected: OrderBy) -> None:
        assert parse_order_by([clause]) == [expected]

    def test_a_bare_string_is_one_clause(self) -> None:
        assert parse_order_by("metrics.acc DESC") == [OrderBy("metric", "acc", False)]

    def test_the_same_key_under_different_entities_is_not_a_duplicate(self) -> None:
        assert parse_order_by(["metrics.a", "params.a", "tags.a"]) == [
            OrderBy("metric", "a", True),
            OrderBy("param", "a", True),
            OrderBy("tag", "a", True),
        ]

    def test_duplicate_field(self) -> None:
        error = order_fails(["metrics.a", "params.b", "metric.a DESC"])
        assert error.position == 0
        assert str(error) == (
            "order_by clause 3 ('metric.a DESC'): duplicate field metric 'a' "
            "(already used by clause 1) at position 0"
        )

    def test_duplicate_through_an_alias(self) -> None:
        error = order_fails(["start_time", "  created DESC"])
        assert error.position == 2
        assert "duplicate field attribute 'start_time'" in str(error)

    @pytest.mark.parametrize(
        ("clause", "position", "message"),
        [
            ("metrics.a UP", 10, "expected ASC or DESC, found 'UP'"),
            ("metrics.a DESCENDING", 10, "expected ASC or DESC, found 'DESCENDING'"),
            ("metrics.a > 1", 10, "expected ASC or DESC, found '>'"),
            ("metrics.a DESC ASC", 15, "expected end of clause, found 'ASC'"),
            ("datasets.name", 0, "datasets cannot be used in order_by"),
            ("color DESC", 0, "unknown attribute 'color'"),
            ("", 0, "expected a field such as metrics.acc or start_time, found end of input"),
            ("DESC", 0, "found keyword 'DESC'"),
            ("tags.`x", 5, "unterminated quoted key"),
        ],
    )
    def test_bad_clauses(self, clause: str, position: int, message: str) -> None:
        error = order_fails(["params.ok", clause])
        assert error.position == position
        assert str(error).startswith(f"order_by clause 2 ({clause!r}): ")
        assert message in str(error)
        assert error.text == clause


# --- Property tests -------------------------------------------------------------------------

NUM_OPS = ("=", "!=", ">", ">=", "<", "<=")
STR_OPS = ("=", "!=", "LIKE", "ILIKE")
LIST_OPS = ("IN", "NOT IN")
NULL_OPS = ("IS NULL", "IS NOT NULL")
PREFIXES: dict[Entity, tuple[str, ...]] = {
    "metric": ("metrics.", "metric.", "METRICS."),
    "param": ("params.", "param.", "parameters.", "parameter."),
    "tag": ("tags.", "tag.", "Tag."),
    "attribute": ("", "attributes.", "attribute.", "attr.", "run."),
    "dataset": ("datasets.", "dataset."),
}
ATTRIBUTE_NAMES = {
    "run_id": ("run_id",),
    "run_name": ("run_name", "run name", "Run name"),
    "status": ("status",),
    "user_id": ("user_id",),
    "artifact_uri": ("artifact_uri",),
    "start_time": ("start_time", "created", "Created"),
    "end_time": ("end_time",),
}
BARE_KEY = re.compile(r"[\w\-./:]+")
BARE_ATTRIBUTE = re.compile(r"[^\W\d]\w*")
SPACES = st.sampled_from([" ", "  ", "\t", "\n", " \r\n "])
OPTIONAL_SPACES = st.sampled_from(["", " ", "\n"])
STRINGS = st.text(max_size=8)


@st.composite
def comparisons(draw: Draw) -> Comparison:
    entity = draw(st.sampled_from(tuple(PREFIXES)))
    ops: tuple[str, ...]
    if entity == "metric":
        key, ops = draw(st.text(min_size=1, max_size=8)), NUM_OPS
    elif entity in ("param", "tag"):
        key, ops = draw(st.text(min_size=1, max_size=8)), STR_OPS + LIST_OPS + NULL_OPS
    elif entity == "dataset":
        key, ops = draw(st.sampled_from(("name", "digest", "context"))), STR_OPS + LIST_OPS
    else:
        key = draw(st.sampled_from(tuple(ATTRIBUTE_NAMES)))
        numeric = key in ("start_time", "end_time")
        ops = NUM_OPS if numeric else STR_OPS + LIST_OPS if key == "run_id" else STR_OPS
    op = draw(st.sampled_from(ops))
    value: Any
    if op in NULL_OPS:
        value = None
    elif op in LIST_OPS:
        value = tuple(draw(st.lists(STRINGS, min_size=1, max_size=4)))
    elif entity == "metric":
        value = draw(st.floats(allow_nan=False, allow_infinity=False))
    elif entity == "attribute" and key in ("start_time", "end_time"):
        value = draw(st.integers(-(2**63), 2**63 - 1))
    else:
        value = draw(STRINGS)
    return Comparison(entity, key, op, value)


def combine(kind: type[And] | type[Or], items: list[Expr]) -> Expr:
    """Build the normal form the parser promises: nested groups of one kind are flattened."""
    flat: list[Expr] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


expressions: st.SearchStrategy[Expr] = st.recursive(
    comparisons(),
    lambda children: st.builds(
        combine, st.sampled_from((And, Or)), st.lists(children, min_size=2, max_size=4)
    ),
    max_leaves=12,
)


def quote(text: str, mark: str) -> str:
    return mark + text.replace(mark, mark * 2) + mark


def render_field(draw: Draw, item: Comparison) -> str:
    prefix = draw(st.sampled_from(PREFIXES[item.entity]))
    if item.entity == "attribute":
        name = draw(st.sampled_from(ATTRIBUTE_NAMES[item.key]))
        if BARE_ATTRIBUTE.fullmatch(name) and draw(st.booleans()):
            return prefix + name
        return prefix + quote(name, draw(st.sampled_from('`"')))
    if BARE_KEY.fullmatch(item.key) and draw(st.booleans()):
        return prefix + item.key
    return prefix + quote(item.key, draw(st.sampled_from('`"')))


def render_comparison(draw: Draw, item: Comparison) -> str:
    words = [draw(st.sampled_from((word, word.lower(), word.title()))) for word in item.op.split()]
    op = draw(SPACES).join(words)
    field = render_field(draw, item)
    if item.value is None:
        return f"{field}{draw(SPACES)}{op}"
    if isinstance(item.value, tuple):
        separator = draw(OPTIONAL_SPACES) + "," + draw(OPTIONAL_SPACES)
        items = separator.join(quote(v, draw(st.sampled_from("'\""))) for v in item.value)
        value = f"({draw(OPTIONAL_SPACES)}{items}{draw(OPTIONAL_SPACES)})"
    elif isinstance(item.value, str):
        value = quote(item.value, draw(st.sampled_from("'\"")))
    elif isinstance(item.value, float) and item.value.is_integer() and abs(item.value) < 1e15:
        value = draw(st.sampled_from((repr(item.value), str(int(item.value)))))
    else:
        value = repr(item.value)
    return f"{field}{draw(SPACES)}{op}{draw(SPACES)}{value}"


def render(draw: Draw, expr: Expr) -> str:
    if isinstance(expr, Comparison):
        text = render_comparison(draw, expr)
    else:
        parts = []
        for item in expr.items:
            part = render(draw, item)
            # An OR inside an AND needs parentheses; any other group may get them anyway.
            if isinstance(expr, And) and isinstance(item, Or):
                part = f"({part})"
            parts.append(part)
        keyword = draw(st.sampled_from(("AND", "and") if isinstance(expr, And) else ("OR", "or")))
        if len(parts) >= 3 and draw(st.booleans()):
            # Group a run of items, "a OR (b OR c)": the parser must flatten it back.
            start = draw(st.integers(0, len(parts) - 2))
            stop = draw(st.integers(start + 2, len(parts)))
            parts[start:stop] = [f"({f' {keyword} '.join(parts[start:stop])})"]
        text = "".join(
            (draw(SPACES) + keyword + draw(SPACES) if i else "") + part
            for i, part in enumerate(parts)
        )
    if draw(st.integers(0, 4)) == 0:
        text = f"({draw(OPTIONAL_SPACES)}{text}{draw(OPTIONAL_SPACES)})"
    return text


def assert_normal_form(expr: Expr) -> None:
    if isinstance(expr, (And, Or)):
        assert len(expr.items) >= 2
        for item in expr.items:
            assert not isinstance(item, type(expr))
            assert_normal_form(item)


class TestRoundTrip:
    @quick
    @given(st.data(), expressions)
    def test_rendered_ast_parses_back_to_itself(self, data: st.DataObject, expr: Expr) -> None:
        text = render(data.draw, expr)
        note = f"rendered as {text!r}"
        assert parse_filter(text) == expr, note
        assert parse_filter(f"{data.draw(SPACES)}{text}{data.draw(SPACES)}") == expr, note

    @quick
    @given(st.data(), st.lists(comparisons(), min_size=1, max_size=5))
    def test_order_by_round_trip(self, data: st.DataObject, items: list[Comparison]) -> None:
        expected: dict[tuple[str, str], OrderBy] = {}
        clauses = []
        for item in items:
            if item.entity == "dataset" or (item.entity, item.key) in expected:
                continue
            ascending = data.draw(st.booleans())
            direction = data.draw(
                st.sampled_from(["", " ASC", " asc"] if ascending else [" DESC", " desc"])
            )
            clauses.append(render_field(data.draw, item) + direction)
            expected[item.entity, item.key] = OrderBy(item.entity, item.key, ascending)
        assert parse_order_by(clauses) == list(expected.values())


FRAGMENTS = [
    "metrics.",
    "params.a",
    "tags.`x",
    "tags.",
    "datasets.name",
    "attr.",
    "x.y",
    "status",
    "start_time",
    "run_id",
    "created",
    "`",
    "'",
    '"',
    "''",
    "(",
    ")",
    ",",
    " ",
    "\n",
    "AND",
    "or",
    "not",
    "IN",
    "is",
    "null",
    "like",
    "ILIKE",
    "=",
    "!=",
    ">",
    "<=",
    "!",
    "-",
    "1",
    "1e",
    ".5",
    "e3",
    "ı",
    "asc",
    "DESC",
    "@",
    "\\",
]


def check_robust(text: str) -> None:
    try:
        result = parse_filter(text)
    except FilterSyntaxError as error:
        assert 0 <= error.position <= len(text)
        assert error.text == text
        assert str(error) == f"{error.reason} at position {error.position}"
    else:
        if result is not None:
            assert_normal_form(result)


class TestRobustness:
    @quick
    @given(st.text())
    def test_arbitrary_text_raises_only_filter_syntax_error(self, text: str) -> None:
        check_robust(text)

    @quick
    @given(st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join))
    def test_grammar_like_text_raises_only_filter_syntax_error(self, text: str) -> None:
        check_robust(text)

    @quick
    @given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=6).map("".join), max_size=4))
    def test_order_by_raises_only_filter_syntax_error(self, clauses: list[str]) -> None:
        try:
            result = parse_order_by(clauses)
        except FilterSyntaxError as error:
            assert error.text in clauses
            assert 0 <= error.position <= len(error.text)
        else:
            assert len(result) == len(clauses)
            assert len({(o.entity, o.key) for o in result}) == len(result)
