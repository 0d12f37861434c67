"""Free text (owners, descriptions, run names, param and tag values) is stored exactly as sent,
or refused with a 422 that says why; never a 5xx.

Generated text includes what breaks servers: NUL, lone surrogates (sent as JSON `\\ud800`
escapes, which JSON allows), quotes, backslashes, line separators, emoji, and text around
each field's length limit. A surrogate or a wrong length must be a 422; NUL may be refused
(PostgreSQL cannot store it) or stored; anything else must be stored and read back unchanged.
"""

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import Seeded

Client = requests.Session
_unique = itertools.count()

TRICKY = ["\x00", "\ud800", "\udfff", "'", '"', "\\", "%", "\n", "\r", "\u2028", "\ufeff", "😀"]
any_text = st.text(st.characters(exclude_categories=()), max_size=80)
with_tricky = st.tuples(
    st.text(max_size=20), st.lists(st.sampled_from(TRICKY), min_size=1, max_size=3), any_text
).map(lambda parts: parts[0] + "".join(parts[1]) + parts[2])
# Some fields allow thousands of characters: text just below and above their limits.
around_limits = st.sampled_from([49, 50, 51, 250, 251, 255, 256, 500, 501]).map(lambda n: "é" * n)
texts = st.one_of(any_text, with_tricky, around_limits)

examples = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def post_json(client: Client, url: str, body: Any, method: str = "POST") -> requests.Response:
    """JSON with ASCII escapes, so that a lone surrogate travels as `\\ud800`."""
    data = json.dumps(body).encode()
    return client.request(method, url, data=data, headers={"Content-Type": "application/json"})


def ok(response: requests.Response) -> Any:
    assert response.status_code in (200, 201), response.text
    return response.json()


@dataclass(frozen=True)
class TextField:
    name: str
    min_length: int
    max_length: int
    # Sends the text; on success returns the value read back afterwards through a GET.
    write: Callable[[Client, Seeded, str], tuple[requests.Response, Callable[[], Any]]]


def experiment_owner(client: Client, seeded: Seeded, text: str) -> Any:
    body = {"name": f"text-{next(_unique)}", "owner": text}
    response = post_json(client, "/api/v1/experiments", body)
    return response, lambda: ok(client.get(f"/api/v1/experiments/{response.json()['id']}"))["owner"]


def experiment_description(client: Client, seeded: Seeded, text: str) -> Any:
    url = f"/api/v1/experiments/{seeded.experiment_id}"
    response = post_json(client, url, {"description": text}, method="PATCH")
    return response, lambda: ok(client.get(url))["description"]


def run_name(client: Client, seeded: Seeded, text: str) -> Any:
    url = f"/api/v1/experiments/{seeded.experiment_id}/runs"
    response = post_json(client, url, {"name": text})
    return response, lambda: ok(client.get(f"/api/v1/runs/{response.json()['id']}"))["name"]


def run_user(client: Client, seeded: Seeded, text: str) -> Any:
    url = f"/api/v1/experiments/{seeded.experiment_id}/runs"
    response = post_json(client, url, {"user": text})
    return response, lambda: ok(client.get(f"/api/v1/runs/{response.json()['id']}"))["user"]


def run_description(client: Client, seeded: Seeded, text: str) -> Any:
    url = f"/api/v1/runs/{seeded.run_id}"
    response = post_json(client, url, {"description": text}, method="PATCH")
    return response, lambda: ok(client.get(url))["description"]


def param_value(client: Client, seeded: Seeded, text: str) -> Any:
    key = f"p{next(_unique)}"
    url = f"/api/v1/runs/{seeded.run_id}"
    response = post_json(client, f"{url}/batch", {"params": {key: text}})
    return response, lambda: ok(client.get(url))["params"][key]


def tag_value(client: Client, seeded: Seeded, text: str) -> Any:
    url = f"/api/v1/runs/{seeded.run_id}"
    response = post_json(client, f"{url}/tags/note", {"value": text}, method="PUT")
    return response, lambda: ok(client.get(url))["tags"]["note"]


FIELDS = [
    TextField("experiment owner", 1, 50, experiment_owner),
    TextField("experiment description", 0, 500, experiment_description),
    TextField("run name", 1, 250, run_name),
    TextField("run user", 0, 255, run_user),
    TextField("run description", 0, 5000, run_description),
    TextField("param value", 0, 6000, param_value),
    TextField("tag value", 0, 8000, tag_value),
]


def refused_clearly(response: requests.Response) -> None:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    assert "detail" in response.json()


@pytest.mark.parametrize("field", FIELDS, ids=[field.name for field in FIELDS])
class TestFreeText:
    @examples
    @given(text=texts)
    def test_stored_exactly_or_refused(
        self, api: Client, seeded: Seeded, field: TextField, text: str
    ) -> None:
        response, read_back = field.write(api, seeded.ensure(), text)
        assert response.status_code < 500, (response.status_code, response.text[:300])
        # What the server reads: JSON joins an escaped surrogate pair into one character.
        text = json.loads(json.dumps(text))
        surrogate = any(0xD800 <= ord(char) <= 0xDFFF for char in text)
        wrong_length = not field.min_length <= len(text) <= field.max_length
        if surrogate or wrong_length:
            refused_clearly(response)
        elif "\x00" in text and response.status_code == 422:
            assert "NUL" in response.json()["detail"], response.text[:300]
        else:
            assert response.status_code in (200, 201), response.text[:300]
            assert read_back() == text


class TestTextInQueries:
    @examples
    @given(owner=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30))
    def test_owner_filter_matches_only_that_owner(
        self, api: Client, seeded: Seeded, owner: str
    ) -> None:
        response = api.get("/api/v1/experiments", params={"owner": owner})
        assert response.status_code in (200, 422), (response.status_code, response.text[:300])
        if response.status_code == 200:
            assert all(item["owner"] == owner for item in response.json()["items"])
        else:
            assert "\x00" in owner and "NUL" in response.json()["detail"]
