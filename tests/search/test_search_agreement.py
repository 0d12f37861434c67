"""One search language: the same tag filter selects the same entities in run search (v1
`POST /api/v1/runs/search`, MLflow's language plus OR) and in experiment search (MLflow
`experiments/search`), through the real app on real SQLite and PostgreSQL.

Each example tags a few runs and a few experiments with the same values under a key of its
own (so examples and other tests do not see each other's entities), then compares what the
two searches select, and, for the case-sensitive operators, what a plain reading of the
pattern selects."""

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltrail_server.main import create_app
from mltrail_server.search.like import like_regex
from tests.conftest import Backend

API = "/api/2.0/mlflow"
OPEN_SETTINGS: dict[str, Any] = {
    "auth_enabled": False,
    "rate_limit_per_second": 0,
    "log_level": "CRITICAL",
}
# What LIKE and GLOB treat specially, quotes, and letters whose case folds oddly.
TRICKY = "ab_%\\*?[]'\"ıİiIßé ǅ"
VALUE_CHARS = st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=("Cs", "Cc")))
KEY_CHARS = st.sampled_from("abZ_-ıéßǅ")
_examples = itertools.count()


class Searches:
    """Tags runs and experiments, and searches both, through the app's HTTP interface."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        response = client.post("/api/v1/experiments", json={"name": self.name(), "owner": "t"})
        assert response.status_code == 201, response.text
        self.run_experiment = response.json()["id"]

    @staticmethod
    def name() -> str:
        return f"agreement-{next(_examples)}-{id(object())}"

    def tag_runs(self, key: str, values: list[str]) -> dict[str, int]:
        """A run per value; run id -> value index."""
        runs = {}
        for index, value in enumerate(values):
            response = self.client.post(
                f"/api/v1/experiments/{self.run_experiment}/runs",
                json={"name": f"r{index}", "tags": {key: value}},
            )
            assert response.status_code == 201, response.text
            runs[response.json()["id"]] = index
        return runs

    def tag_experiments(self, key: str, values: list[str]) -> dict[str, int]:
        """An experiment per value; experiment id -> value index."""
        experiments = {}
        for index, value in enumerate(values):
            response = self.client.post(
                f"{API}/experiments/create",
                json={"name": self.name(), "tags": [{"key": key, "value": value}]},
            )
            assert response.status_code == 200, response.text
            experiments[response.json()["experiment_id"]] = index
        return experiments

    def runs(self, filter_text: str) -> Any:
        body = {"experiment_ids": [self.run_experiment], "filter": filter_text, "max_results": 100}
        return self.client.post("/api/v1/runs/search", json=body)

    def experiments(self, filter_text: str) -> Any:
        body = {"filter": filter_text, "max_results": 1000}
        return self.client.post(f"{API}/experiments/search", json=body)

    def select(self, key: str, values: list[str], filter_text: str) -> tuple[set[int], set[int]]:
        """The value indexes run search and experiment search select with `filter_text`."""
        runs = self.tag_runs(key, values)
        experiments = self.tag_experiments(key, values)
        found_runs = self.runs(filter_text)
        assert found_runs.status_code == 200, found_runs.text
        found_experiments = self.experiments(filter_text)
        assert found_experiments.status_code == 200, found_experiments.text
        by_run = {runs[run["id"]] for run in found_runs.json()["runs"]}
        by_experiment = {
            experiments[e["experiment_id"]]
            for e in found_experiments.json().get("experiments", [])
            if e["experiment_id"] in experiments
        }
        return by_run, by_experiment


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def searches(request: pytest.FixtureRequest) -> Iterator[Searches]:
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    with TestClient(create_app(backend.settings(**OPEN_SETTINGS))) as client:
        yield Searches(client)


def quote(text: str, mark: str = "'") -> str:
    return mark + text.replace(mark, mark * 2) + mark


def unique_key(stem: str) -> str:
    return f"{stem}_{next(_examples)}"


@st.composite
def patterns(draw: st.DrawFn, values: list[str]) -> str:
    """Random patterns, and patterns made from a value so that some match."""
    made = st.sampled_from(values).flatmap(
        lambda value: st.sampled_from(
            [
                value,
                value[:1] + "%",
                "%" + value[-1:],
                "_" * len(value),
                value.replace("_", "\\_").replace("%", "\\%"),
                value.upper(),
                value[:-1] + "_" if value else "%",
            ]
        )
    )
    return draw(st.one_of(made, st.text(VALUE_CHARS, max_size=6)))


@st.composite
def tag_filters(draw: st.DrawFn) -> tuple[str, list[str], str, str]:
    key = unique_key(draw(st.text(KEY_CHARS, min_size=1, max_size=4)))
    values = draw(st.lists(st.text(VALUE_CHARS, max_size=6), min_size=1, max_size=3))
    op = draw(st.sampled_from(["=", "!=", "LIKE", "ILIKE", "like", "ilike"]))
    pattern = draw(patterns(values))
    return key, values, op, pattern


def expected(values: list[str], op: str, pattern: str) -> set[int] | None:
    """What a case-sensitive operator selects; None for ILIKE (its case folding is the
    database's: ASCII on SQLite, Unicode on PostgreSQL)."""
    match op.upper():
        case "=":
            return {i for i, value in enumerate(values) if value == pattern}
        case "!=":
            return {i for i, value in enumerate(values) if value != pattern}
        case "LIKE":
            regex = like_regex(pattern, ignore_case=False)
            return {i for i, value in enumerate(values) if regex.fullmatch(value)}
    return None


class TestTheSameTagFilterSelectsTheSameEntities:
    @settings(
        database=None,
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(tag_filters())
    def test_in_run_search_and_experiment_search(
        self, searches: Searches, case: tuple[str, list[str], str, str]
    ) -> None:
        key, values, op, pattern = case
        filter_text = f"tags.{quote(key, '`')} {op} {quote(pattern, quote_mark(pattern))}"
        by_run, by_experiment = searches.select(key, values, filter_text)
        assert by_run == by_experiment, filter_text
        plain = expected(values, op, pattern)
        if plain is not None:
            assert by_run == plain, filter_text


def quote_mark(pattern: str) -> str:
    """Either quote works; use the one the pattern holds fewer of."""
    return '"' if pattern.count("'") > pattern.count('"') else "'"


class TestTheTwoKnownDisagreements:
    @pytest.mark.parametrize("op", ["LIKE", "ILIKE"])
    def test_an_escaped_underscore_is_literal_in_both_searches(
        self, searches: Searches, op: str
    ) -> None:
        # Run search read `\_` as a literal `_`; experiment search (on SQLite) as a backslash.
        key = unique_key("t")
        by_run, by_experiment = searches.select(
            key, ["a_b", "axb", "a\\_b", "A_B"], f"tags.{key} {op} 'a\\_b'"
        )
        assert by_run == by_experiment == ({0} if op == "LIKE" else {0, 3})

    def test_an_escaped_percent_and_backslash_are_literal_in_both_searches(
        self, searches: Searches
    ) -> None:
        key = unique_key("t")
        values = ["50%", "500", "c:\\d", "c:d"]
        by_run, by_experiment = searches.select(key, values, f"tags.{key} LIKE '50\\%'")
        assert by_run == by_experiment == {0}
        key = unique_key("t")
        by_run, by_experiment = searches.select(key, values, f"tags.{key} LIKE 'c:\\\\d'")
        assert by_run == by_experiment == {2}

    @pytest.mark.parametrize("word", ["ın", "İN"])
    def test_a_dotless_in_is_refused_by_both_searches(self, searches: Searches, word: str) -> None:
        # One parser took "ın" for IN (Python's "ın".upper() == "IN"); keywords are ASCII.
        filter_text = f"tags.t {word} ('x')"
        runs = searches.runs(filter_text)
        assert runs.status_code == 422
        assert runs.json()["detail"] == (
            f"filter: expected a comparison operator after 'tags.t', found '{word}' at position 7"
        )
        experiments = searches.experiments(filter_text)
        assert experiments.status_code == 400
        assert experiments.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": runs.json()["detail"],
        }
