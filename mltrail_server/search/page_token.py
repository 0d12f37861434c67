"""The one page-token codec of both APIs: URL-safe base64 (unpadded) of a JSON object,
opaque to clients.

- Searches page by offset: `{"offset": n, "q": fingerprint}`, only good for the search that
  issued it (`search_fingerprint` of what selects and orders the rows; the page size may
  change between pages). Garbage, a tampered offset or a token of another search is an
  `InvalidInput` naming `page_token` (v1: 422, MLflow: 400).
- Metric histories page by key: `{"after": [step, timestamp]}` of the page's last point
  (`encode_cursor`, `decode_cursor`); the caller words the error, naming its own field.
"""

import base64
import binascii
import hashlib
import json

from mltrail_server.errors import InvalidInput

__all__ = [
    "MAX_OFFSET",
    "decode_cursor",
    "decode_page_token",
    "encode_cursor",
    "encode_page_token",
    "search_fingerprint",
]

MAX_OFFSET = 10**9
_INT64 = range(-(2**63), 2**63)


def _pack(payload: dict[str, object]) -> str:
    text = json.dumps(payload, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unpack(token: str) -> dict[str, object] | None:
    """The token's JSON object; None for anything else."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def search_fingerprint(*parts: object) -> str:
    """A short digest of what a search selects and in which order (their `repr`)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def encode_page_token(offset: int, fingerprint: str) -> str:
    return _pack({"offset": offset, "q": fingerprint})


def decode_page_token(token: str | None, fingerprint: str, *, same: str) -> int:
    """The offset a token stands for; 0 without one. `same` names what the next page must send
    again, for the error about a token of another search (e.g. "filter, order_by and view")."""
    if not token:
        return 0
    payload = _unpack(token)
    offset = None if payload is None else payload.get("offset")
    if payload is None or type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("page_token: not a token this server issued; start without one")
    if payload.get("q") != fingerprint:
        raise InvalidInput(
            f"page_token: issued for a different search; send the same {same} as the first "
            "page, or start without a token"
        )
    return offset


def encode_cursor(*after: int) -> str:
    """A keyset cursor: the sort key of the last row of a page (64-bit integers)."""
    return _pack({"after": list(after)})


def decode_cursor(token: str, size: int) -> tuple[int, ...] | None:
    """The `size` integers a cursor holds; None when it holds no such thing."""
    payload = _unpack(token)
    after = None if payload is None else payload.get("after")
    if (
        isinstance(after, list)
        and len(after) == size
        and all(type(part) is int and part in _INT64 for part in after)
    ):
        return tuple(after)
    return None
