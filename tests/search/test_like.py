"""LIKE patterns, read one way: `%`, `_`, and `\\` to make the next character literal."""

import pytest

from mltrail_server.search.like import glob_pattern, like_regex, sql_like_pattern


@pytest.mark.parametrize(
    ("pattern", "sql", "glob"),
    [
        ("a%", "a%", "a*"),
        ("a_b", "a_b", "a?b"),
        ("a\\_b", "a\\_b", "a_b"),
        ("100\\%", "100\\%", "100%"),
        ("back\\\\slash", "back\\\\slash", "back\\slash"),
        ("trailing\\", "trailing\\\\", "trailing\\"),
        ("\\a", "a", "a"),
        ("*?[", "*?[", "[*][?][[]"),
    ],
)
def test_one_reading_for_sql_glob_and_regex(pattern: str, sql: str, glob: str) -> None:
    assert sql_like_pattern(pattern) == sql
    assert glob_pattern(pattern) == glob


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("a\\_b", ["a_b"], ["axb", "a\\_b"]),
        ("a_b", ["a_b", "axb"], ["ab"]),
        ("50\\%%", ["50%", "50% off"], ["50", "500"]),
        ("c:\\\\dir", ["c:\\dir"], ["c:dir"]),
        ("%%%x", ["x", "yyx"], ["xy"]),
    ],
)
def test_regex(pattern: str, matches: list[str], misses: list[str]) -> None:
    regex = like_regex(pattern, ignore_case=False)
    assert [text for text in matches if regex.fullmatch(text)] == matches
    assert [text for text in misses if regex.fullmatch(text)] == []
