"""LIKE patterns, read one way everywhere: `%` is any run of characters, `_` one character,
and `\\` makes the next character literal (a trailing `\\` stands for itself).

The SQL compiler sends patterns re-escaped (`sql_like_pattern`, valid on PostgreSQL, which
rejects a trailing escape) or as SQLite GLOB patterns (`glob_pattern`, case-sensitive where
SQLite's LIKE is not); a service that matches a pattern against a closed set of names (run
statuses) uses `like_regex`. All three read the pattern through `like_parts`.
"""

import re

__all__ = ["ESCAPE", "glob_pattern", "like_parts", "like_regex", "sql_like_pattern"]

ESCAPE = "\\"
_GLOB_LITERALS = {"*": "[*]", "?": "[?]", "[": "[[]"}
_GLOB_WILDCARDS = {"%": "*", "_": "?"}


def like_parts(pattern: str) -> list[tuple[str, bool]]:
    """The pattern as (character, is_wildcard) pairs."""
    parts: list[tuple[str, bool]] = []
    chars = iter(pattern)
    for char in chars:
        if char == ESCAPE:
            parts.append((next(chars, ESCAPE), False))
        else:
            parts.append((char, char in "%_"))
    return parts


def sql_like_pattern(pattern: str) -> str:
    """The pattern for `LIKE ... ESCAPE '\\'`, every literal `%`, `_` and `\\` escaped."""
    return "".join(
        char if wildcard else (ESCAPE + char if char in "%_\\" else char)
        for char, wildcard in like_parts(pattern)
    )


def glob_pattern(pattern: str) -> str:
    """The pattern as a SQLite GLOB pattern (no escape character there: `[x]` is a literal)."""
    return "".join(
        _GLOB_WILDCARDS[char] if wildcard else _GLOB_LITERALS.get(char, char)
        for char, wildcard in like_parts(pattern)
    )


def like_regex(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """The pattern as a regular expression to `fullmatch` with."""
    parts: list[str] = []
    for char, wildcard in like_parts(pattern):
        if wildcard and char == "%":
            if parts and parts[-1] == ".*":
                continue  # '%%%…' is one '%': a run of '.*' backtracks exponentially
            parts.append(".*")
        elif wildcard:
            parts.append(".")
        else:
            parts.append(re.escape(char))
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)
