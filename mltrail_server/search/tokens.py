"""The tokens of the search language.

Strings are quoted with `'` or `"`, keys with `` ` `` (or `"`); inside, a doubled quote stands
for itself. Keywords are ASCII words compared without case: `"ın".upper() == "IN"` in Python,
and a Turkish word must not become an operator.
"""

import re
from dataclasses import dataclass

from mltrail_server.search.errors import FilterSyntaxError

__all__ = ["KEYWORDS", "Token", "is_keyword", "tokenize"]

KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "ASC", "DESC"})
KEY_QUOTES = ("`", '"')
VALUE_QUOTES = ("'", '"')

# Quoted tokens use possessive `*+`: backtracking would let 'it''s end at the doubled quote.
_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<string>'(?:[^']|'')*+'|\"(?:[^\"]|\"\")*+\"|`(?:[^`]|``)*+`)"
    r"|(?P<number>-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<ident>[^\W\d][\w\-./:]*)"
    r"|(?P<op>!=|>=|<=|=|>|<)"
    r"|(?P<punct>[(),])"
)


@dataclass(frozen=True)
class Token:
    kind: str  # "ident", "number", "string", "op", "(", ")", "," or "eof"
    text: str  # exactly as written, quotes included
    pos: int
    value: str = ""  # the unescaped content of a quoted token
    quote: str = ""  # the quote character of a quoted token

    @property
    def end(self) -> int:
        return self.pos + len(self.text)

    def describe(self) -> str:
        if self.kind == "eof":
            return "end of input"
        if self.kind in ("number", "string"):
            return f"{'quoted key' if self.quote == '`' else self.kind} {self.text}"
        return f"'{self.text}'"


def is_keyword(token: Token, *words: str) -> bool:
    """Whether the token is one of `words` (upper case), written in any case, in ASCII."""
    return token.kind == "ident" and token.text.isascii() and token.text.upper() in words


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an "eof" token."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        match = _TOKEN_RE.match(text, i)
        if match is None:
            char = text[i]
            if char in "'\"`":
                what = "quoted key" if char == "`" else "string"
                raise FilterSyntaxError(f"unterminated {what} (no closing {char})", i, text)
            raise FilterSyntaxError(f"unexpected character {char!r}", i, text)
        kind, token_text = match.lastgroup or "", match.group()
        if kind == "string":
            quote = token_text[0]
            value = token_text[1:-1].replace(quote * 2, quote)
            tokens.append(Token("string", token_text, i, value, quote))
        elif kind != "ws":
            tokens.append(Token(token_text if kind == "punct" else kind, token_text, i))
        i = match.end()
    tokens.append(Token("eof", "", len(text)))
    return tokens
