"""The one page-token codec of every paged search in both APIs.

A token is URL-safe base64 (unpadded) of the JSON `{"offset": n, "q": fingerprint}`: opaque
to clients, and only good for the search that issued it (`search_fingerprint` of what selects
and orders the rows; the page size may change between pages). Garbage, a tampered offset or a
token of another search is an `InvalidInput` naming `page_token` (v1: 422, MLflow: 400).
"""

import base64
import binascii
import hashlib
import json

from mltrail_server.errors import InvalidInput

__all__ = ["MAX_OFFSET", "decode_page_token", "encode_page_token", "search_fingerprint"]

MAX_OFFSET = 10**9


def search_fingerprint(*parts: object) -> str:
    """A short digest of what a search selects and in which order (their `repr`)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def encode_page_token(offset: int, fingerprint: str) -> str:
    payload = json.dumps({"offset": offset, "q": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(token: str | None, fingerprint: str, *, same: str) -> int:
    """The offset a token stands for; 0 without one. `same` names what the next page must send
    again, for the error about a token of another search (e.g. "filter, order_by and view")."""
    if not token:
        return 0
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        payload = None
    offset = payload.get("offset") if isinstance(payload, dict) else None
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput("page_token: not a token this server issued; start without one")
    if payload.get("q") != fingerprint:
        raise InvalidInput(
            f"page_token: issued for a different search; send the same {same} as the first "
            "page, or start without a token"
        )
    return offset
