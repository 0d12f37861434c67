"""The one parser under every spec: what each search may name, and the rules all share."""

from typing import Any

import pytest

from mltrail_server.errors import InvalidInput
from mltrail_server.search import (
    EXPERIMENTS,
    LOGGED_MODELS,
    MODEL_VERSIONS,
    REGISTERED_MODELS,
    RUNS,
    And,
    Comparison,
    FilterSyntaxError,
    Or,
    OrderBy,
    SearchSpec,
    parse_filter,
    parse_order_by,
    parse_order_fields,
    read_filter,
    read_order_by,
)

ALL_SPECS = [RUNS, EXPERIMENTS, LOGGED_MODELS, REGISTERED_MODELS, MODEL_VERSIONS]
AND_ONLY = [EXPERIMENTS, LOGGED_MODELS]


def fails(text: str, spec: SearchSpec) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse_filter(text, spec)
    return info.value


def attr(key: str, op: str, value: Any) -> Comparison:
    return Comparison("attribute", key, op, value)


def tag(key: str, op: str, value: Any = None) -> Comparison:
    return Comparison("tag", key, op, value)


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda spec: spec.what)
class TestRulesEverySpecShares:
    def test_tags_take_every_string_operator(self, spec: SearchSpec) -> None:
        text = (
            "tags.a = 'x' AND tag.b != 'y' AND tags.`c d` LIKE 'a\\_b%' AND tags.\"e\" ILIKE '%E'"
            " AND tags.f IN ('1', '2') AND tags.g NOT IN ('3') AND tags.h IS NULL"
            " AND tags.i IS NOT NULL"
        )
        assert parse_filter(text, spec) == And(
            (
                tag("a", "=", "x"),
                tag("b", "!=", "y"),
                tag("c d", "LIKE", "a\\_b%"),
                tag("e", "ILIKE", "%E"),
                tag("f", "IN", ("1", "2")),
                tag("g", "NOT IN", ("3",)),
                tag("h", "IS NULL"),
                tag("i", "IS NOT NULL"),
            )
        )

    @pytest.mark.parametrize("word", ["ın", "İN", "ıN"])
    def test_a_dotless_or_dotted_i_is_not_the_in_keyword(self, spec: SearchSpec, word: str) -> None:
        # "ın".upper() == "IN" in Python: keywords are ASCII words, whatever the spec.
        error = fails(f"tags.t {word} ('x')", spec)
        assert error.position == 7
        assert f"expected a comparison operator after 'tags.t', found '{word}'" in error.reason

    def test_a_dotless_is_is_not_the_is_keyword(self, spec: SearchSpec) -> None:
        error = fails("tags.t ıs null", spec)
        assert error.position == 7
        assert "found 'ıs'" in error.reason

    @pytest.mark.parametrize("word", ["and", "AND", "And"])
    def test_keywords_ignore_ascii_case(self, spec: SearchSpec, word: str) -> None:
        assert parse_filter(f"tags.a like 'x' {word} tags.b is not null", spec) == And(
            (tag("a", "LIKE", "x"), tag("b", "IS NOT NULL"))
        )

    def test_an_unknown_attribute_lists_the_allowed_ones(self, spec: SearchSpec) -> None:
        error = fails("colour = 'red'", spec)
        assert error.position == 0
        assert error.reason.startswith(
            f"unknown attribute 'colour'; allowed: {', '.join(sorted(spec.attributes))}"
        )
        assert "prefix other fields with" in error.reason and "tags." in error.reason

    def test_an_error_reads_as_the_field_and_position(self, spec: SearchSpec) -> None:
        with pytest.raises(InvalidInput) as info:
            read_filter("tags.t = ", spec)
        assert info.value.message == (
            "filter: expected a quoted string value after '=', found end of input at position 9"
        )


@pytest.mark.parametrize("spec", AND_ONLY, ids=lambda spec: spec.what)
class TestMlflowsAndOnlyGrammar:
    def test_or_is_refused_where_it_stands(self, spec: SearchSpec) -> None:
        error = fails("tags.a = 'x' OR tags.b = 'y'", spec)
        assert error.position == 13
        assert error.reason == (
            f"OR is not supported when searching {spec.what}; join clauses with AND"
        )

    def test_parentheses_are_refused(self, spec: SearchSpec) -> None:
        error = fails("tags.a = 'x' AND (tags.b = 'y')", spec)
        assert error.position == 17
        assert "parentheses are not supported" in error.reason

    def test_trailing_text_expects_only_and(self, spec: SearchSpec) -> None:
        error = fails("tags.a = 'x' tags.b = 'y'", spec)
        assert error.reason == "expected AND or end of input, found 'tags.b'"

    def test_metrics_are_not_a_field(self, spec: SearchSpec) -> None:
        error = fails("metrics.acc > 1", spec)
        assert error.reason.startswith("unknown entity 'metrics'; expected tags.")


class TestExperiments:
    def test_attributes_and_their_types(self) -> None:
        text = (
            "name LIKE 'nlp%' AND attributes.experiment_id IN ('1', '2') "
            "AND creation_time >= 1700000000000 AND attribute.last_update_time < 5"
        )
        assert parse_filter(text, EXPERIMENTS) == And(
            (
                attr("name", "LIKE", "nlp%"),
                attr("experiment_id", "IN", ("1", "2")),
                attr("creation_time", ">=", 1700000000000),
                attr("last_update_time", "<", 5),
            )
        )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("name > 'a'", "invalid comparator '>' for attribute 'name'; allowed: =, !=, LIKE"),
            ("experiment_id LIKE '1%'", "invalid comparator 'LIKE' for attribute 'experiment_id'"),
            ("creation_time = '1'", "expected an integer (milliseconds) value after '='"),
            ("lifecycle_stage = 'active'", "unknown attribute 'lifecycle_stage'"),
            ("name = 'a' OR", "OR is not supported when searching experiments"),
            ("()", "parentheses are not supported"),
            ("AND", "expected a filter clause such as name LIKE 'nlp%', found keyword 'AND'"),
        ],
    )
    def test_errors(self, text: str, message: str) -> None:
        assert message in fails(text, EXPERIMENTS).reason

    def test_order_by(self) -> None:
        assert parse_order_by(
            ["name", "attributes.creation_time DESC", "`last_update_time` asc"], EXPERIMENTS
        ) == [
            OrderBy("attribute", "name", True),
            OrderBy("attribute", "creation_time", False),
            OrderBy("attribute", "last_update_time", True),
        ]

    def test_order_by_a_tag_is_refused(self) -> None:
        with pytest.raises(InvalidInput) as info:
            read_order_by(["tags.team"], EXPERIMENTS)
        assert info.value.message == (
            "order_by: order_by clause 1 ('tags.team'): tags cannot be used in order_by "
            "at position 0"
        )


class TestLoggedModels:
    def test_aliases_params_and_tags(self) -> None:
        text = (
            "run_id = 'r' AND creation_timestamp_ms > 1 AND params.depth IN ('3') "
            "AND tags.k IS NULL AND status = 'READY'"
        )
        assert parse_filter(text, LOGGED_MODELS) == And(
            (
                attr("source_run_id", "=", "r"),
                attr("creation_timestamp", ">", 1),
                Comparison("param", "depth", "IN", ("3",)),
                tag("k", "IS NULL"),
                attr("status", "=", "READY"),
            )
        )

    def test_order_fields(self) -> None:
        assert parse_order_fields(
            [("creation_time", False), ("attributes.name", True)], LOGGED_MODELS
        ) == [
            OrderBy("attribute", "creation_timestamp", False),
            OrderBy("attribute", "name", True),
        ]

    def test_an_order_field_outside_the_list_is_refused(self) -> None:
        with pytest.raises(FilterSyntaxError) as info:
            parse_order_fields([("status", True)], LOGGED_MODELS)
        assert info.value.reason == (
            "order_by clause 1 ('status'): attribute 'status' cannot be used in order_by; "
            "allowed: creation_timestamp, last_updated_timestamp, name, model_id"
        )

    def test_a_field_given_twice_is_refused(self) -> None:
        with pytest.raises(FilterSyntaxError) as info:
            parse_order_fields([("name", True), ("attribute.name", False)], LOGGED_MODELS)
        assert info.value.reason == (
            "order_by clause 2 ('attribute.name'): duplicate field attribute 'name' "
            "(already used by clause 1)"
        )

    def test_a_direction_is_not_part_of_a_field_name(self) -> None:
        with pytest.raises(FilterSyntaxError) as info:
            parse_order_fields([("name DESC", True)], LOGGED_MODELS)
        assert info.value.reason.endswith("expected end of clause, found 'DESC'")


class TestModelRegistry:
    def test_registered_models(self) -> None:
        text = "name ILIKE 'clf%' AND tags.`owner` = 'ml'"
        assert parse_filter(text, REGISTERED_MODELS) == And(
            (attr("name", "ILIKE", "clf%"), tag("owner", "=", "ml"))
        )

    def test_model_versions(self) -> None:
        text = (
            "name = 'clf' AND version_number >= 3 AND run_id IN ('a', 'b') "
            "AND source_path LIKE 's3://%'"
        )
        assert parse_filter(text, MODEL_VERSIONS) == And(
            (
                attr("name", "=", "clf"),
                attr("version_number", ">=", 3),
                attr("run_id", "IN", ("a", "b")),
                attr("source_path", "LIKE", "s3://%"),
            )
        )

    def test_or_and_parentheses_as_in_run_search(self) -> None:
        text = "name LIKE 'clf%' AND (tags.team = 'nlp' OR version_number = 3)"
        assert parse_filter(text, MODEL_VERSIONS) == And(
            (
                attr("name", "LIKE", "clf%"),
                Or((tag("team", "=", "nlp"), attr("version_number", "=", 3))),
            )
        )
        assert parse_filter("name = 'a' OR name = 'b'", REGISTERED_MODELS) == Or(
            (attr("name", "=", "a"), attr("name", "=", "b"))
        )

    def test_version_numbers_are_integers(self) -> None:
        error = fails("version_number = 1.5", MODEL_VERSIONS)
        assert error.reason == "expected an integer value after '=', found number 1.5"
