"""The one page-token codec: a token is good only for the search that issued it."""

import base64
import json

import pytest

from mltrail_server.errors import InvalidInput
from mltrail_server.search import (
    decode_cursor,
    decode_page_token,
    encode_cursor,
    encode_page_token,
    search_fingerprint,
)

SAME = "filter and order_by"


def refused(token: str, fingerprint: str) -> str:
    with pytest.raises(InvalidInput) as info:
        decode_page_token(token, fingerprint, same=SAME)
    return info.value.message


class TestPageToken:
    @pytest.mark.parametrize("offset", [0, 1, 50, 10**9])
    def test_round_trip(self, offset: int) -> None:
        fingerprint = search_fingerprint("a", ("b", 1))
        token = encode_page_token(offset, fingerprint)
        assert decode_page_token(token, fingerprint, same=SAME) == offset
        assert "=" not in token and "/" not in token and "+" not in token

    @pytest.mark.parametrize("token", [None, ""])
    def test_no_token_is_the_first_page(self, token: str | None) -> None:
        assert decode_page_token(token, "f", same=SAME) == 0

    def test_a_token_of_another_search_names_what_to_send_again(self) -> None:
        token = encode_page_token(10, search_fingerprint("one"))
        message = refused(token, search_fingerprint("other"))
        assert message == (
            "page_token: issued for a different search; send the same filter and order_by as "
            "the first page, or start without a token"
        )

    @pytest.mark.parametrize(
        "token",
        [
            "garbage!",
            "%%%%",
            base64.urlsafe_b64encode(b"\xff\xfe").decode(),
            base64.urlsafe_b64encode(b'{"offset": -1, "q": "f"}').decode(),
            base64.urlsafe_b64encode(b'{"offset": 1000000001, "q": "f"}').decode(),
            base64.urlsafe_b64encode(b'{"offset": 1.5, "q": "f"}').decode(),
            base64.urlsafe_b64encode(b'{"offset": true, "q": "f"}').decode(),
            base64.urlsafe_b64encode(b"[1, 2]").decode(),
            base64.urlsafe_b64encode(json.dumps({"offset": "2", "q": "f"}).encode()).decode(),
        ],
    )
    def test_garbage_and_tampered_offsets_are_refused(self, token: str) -> None:
        assert refused(token, "f") == (
            "page_token: not a token this server issued; start without one"
        )

    def test_fingerprints_differ_with_what_they_digest(self) -> None:
        assert search_fingerprint("a", 1) == search_fingerprint("a", 1)
        assert search_fingerprint("a", 1) != search_fingerprint("a", 2)


class TestCursor:
    def test_round_trip(self) -> None:
        for after in ((0, 0), (-(2**63), 2**63 - 1), (5, 1700000000000)):
            assert decode_cursor(encode_cursor(*after), 2) == after

    @pytest.mark.parametrize(
        "token",
        [
            "not a cursor!",
            encode_cursor(1),
            encode_cursor(1, 2, 3),
            encode_page_token(3, "f"),
            base64.urlsafe_b64encode(b'{"after": [1, 99999999999999999999]}').decode(),
            base64.urlsafe_b64encode(b'{"after": [true, 2]}').decode(),
            base64.urlsafe_b64encode(b"[1, 2]").decode(),
        ],
    )
    def test_anything_else_holds_no_position(self, token: str) -> None:
        assert decode_cursor(token, 2) is None
