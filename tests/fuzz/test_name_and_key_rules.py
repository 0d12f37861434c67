"""Property tests of the naming rules, against an oracle written from the documentation:

- experiment names (README): 1-100 characters, ASCII letters, digits, '_' and '-' only,
  stored lowercased, so names differing only in case are the same name;
- metric, param and tag keys (docs/api-tracking.md, MLflow's rule): 1-250 characters from
  letters, digits, '_ - . space / :'; a normalized relative path: not starting with '/' or
  '..', no empty, '.' or '..' segment.

First the rules themselves, then the same properties through the API on both databases.
"""

import itertools
import string
import uuid
from urllib.parse import quote

import pydantic
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mltrail.encoding import InvalidKey, check_key
from mltrail_server.models.common import normalize_name
from mltrail_server.models.experiment import ExperimentCreate
from mltrail_server.models.tracking import Key
from tests.fuzz.conftest import Seeded

NAME_CHARS = string.ascii_letters + string.digits + "_-"
# Characters a user might try, which the name rule refuses; 'K' is the Kelvin sign, whose
# lowercase is an ASCII 'k', and 'ı' a dotless i, whose uppercase is an ASCII 'I'.
NOT_NAME_CHARS = " .é/\n\t\x00:İıK'\"%"
KEY_PUNCTUATION = "_-. /:"
# Non-ASCII letters count as letters in keys (\w), as their documentation says.
KEY_LETTERS = string.ascii_letters + string.digits + "éßя中"
NOT_KEY_CHARS = "!@#$%^&*()+=[]{}|\\;'\",<>?`~\t\n\x00"

_steps = itertools.count(1)

rules = settings(max_examples=500, deadline=None, database=None)
through_api = settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def name_is_valid(name: str) -> bool:
    return 1 <= len(name) <= 100 and all(char in NAME_CHARS for char in name)


def key_is_valid(key: str) -> bool:
    if not 1 <= len(key) <= 250:
        return False
    if not all(char.isalnum() or char in KEY_PUNCTUATION for char in key):
        return False
    if key.startswith(("/", "..")):
        return False
    return all(segment not in ("", ".", "..") for segment in key.split("/"))


names = st.one_of(
    st.text(NAME_CHARS, max_size=110),
    st.text(NAME_CHARS + NOT_NAME_CHARS, max_size=30),
    st.text(NAME_CHARS, min_size=1, max_size=20).map(lambda name: name + "\n"),
    st.text(max_size=20),
)
key_parts = st.one_of(
    st.text(KEY_LETTERS, min_size=1, max_size=12),
    st.sampled_from([".", "..", "", " ", "...", ".a", "a.", ":"]),
)
keys = st.one_of(
    st.lists(key_parts, min_size=1, max_size=6).map("/".join),
    st.text(KEY_LETTERS + KEY_PUNCTUATION, max_size=30),
    st.text(KEY_LETTERS + KEY_PUNCTUATION + NOT_KEY_CHARS, max_size=30),
    st.sampled_from([249, 250, 251]).map(lambda n: "k" * n),
)
valid_keys = keys.filter(key_is_valid)


class TestNameRule:
    @rules
    @given(name=names)
    def test_accepts_exactly_the_documented_names_and_lowercases_them(self, name: str) -> None:
        if name_is_valid(name):
            assert normalize_name(name) == name.lower()
            assert ExperimentCreate(name=name, owner="o").name == name.lower()
        else:
            with pytest.raises(pydantic.ValidationError):
                ExperimentCreate(name=name, owner="o")

    @rules
    @given(name=st.text(NAME_CHARS, min_size=1, max_size=100))
    def test_names_differing_in_case_are_the_same_name(self, name: str) -> None:
        assert normalize_name(name.swapcase()) == normalize_name(name.upper()) == name.lower()


class TestKeyRule:
    @rules
    @given(key=keys)
    def test_accepts_exactly_the_documented_keys(self, key: str) -> None:
        adapter = pydantic.TypeAdapter(Key)
        if key_is_valid(key):
            assert adapter.validate_python(key) == key
        else:
            with pytest.raises(pydantic.ValidationError):
                adapter.validate_python(key)

    @rules
    @given(key=keys)
    def test_the_sdk_refuses_exactly_what_the_server_refuses(self, key: str) -> None:
        """One rule (mltrail.encoding.check_key) for the SDK, the v1 API and the MLflow API:
        a key the SDK lets through is never refused by the server later, and the reverse."""
        if key_is_valid(key):
            assert check_key(key, "metric") == key
        else:
            with pytest.raises(InvalidKey, match="metric key"):
                check_key(key, "metric")

    @pytest.mark.parametrize("key", [".", "a\n", "loss\n"])
    def test_keys_the_old_copies_of_the_rule_let_through_are_refused(self, key: str) -> None:
        with pytest.raises(InvalidKey):
            check_key(key)
        with pytest.raises(pydantic.ValidationError):
            pydantic.TypeAdapter(Key).validate_python(key)


class TestNamesThroughTheApi:
    @through_api
    @given(name=names)
    def test_created_lowercased_found_in_any_case_and_unique_in_any_case(
        self, api: requests.Session, name: str
    ) -> None:
        sent = f"{uuid.uuid4().hex[:8]}-{name}"
        response = api.post("/api/v1/experiments", json={"name": sent, "owner": "o"})
        if not name_is_valid(sent):
            assert response.status_code == 422, response.text
            assert "name" in response.text
            return
        assert response.status_code == 201, response.text
        assert response.json()["name"] == sent.lower()
        found = api.get("/api/v1/experiments", params={"name": sent.swapcase()}).json()
        assert [item["id"] for item in found["items"]] == [response.json()["id"]]
        again = api.post("/api/v1/experiments", json={"name": sent.upper(), "owner": "p"})
        assert again.status_code == 409, again.text

    @through_api
    @given(name=names)
    def test_rename_follows_the_same_rule(
        self, api: requests.Session, seeded: Seeded, name: str
    ) -> None:
        experiment = seeded.ensure().experiment_id
        before = api.get(f"/api/v1/experiments/{experiment}").json()["name"]
        sent = f"{uuid.uuid4().hex[:8]}-{name}"
        response = api.patch(f"/api/v1/experiments/{experiment}", json={"name": sent})
        after = api.get(f"/api/v1/experiments/{experiment}").json()["name"]
        if name_is_valid(sent):
            assert response.status_code == 200, response.text
            assert response.json()["name"] == after == sent.lower()
        else:
            assert response.status_code == 422, response.text
            assert after == before


class TestKeysThroughTheApi:
    @through_api
    @given(key=keys)
    def test_metric_param_and_tag_keys_round_trip_or_are_refused(
        self, api: requests.Session, seeded: Seeded, key: str
    ) -> None:
        run = f"/api/v1/runs/{seeded.ensure().run_id}"
        step = next(_steps)  # a key may come up again: each example logs its own point
        point = api.post(f"{run}/metrics", json={"key": key, "value": 1.5, "step": step})
        batch = api.post(f"{run}/batch", json={"params": {key: "p"}, "tags": {key: "t"}})
        if not key_is_valid(key):
            assert point.status_code == batch.status_code == 422, (point.text, batch.text)
            return
        assert point.status_code == batch.status_code == 200, (point.text, batch.text)
        stored = api.get(run).json()
        assert stored["metrics"][key]["value"] == 1.5
        assert stored["metrics"][key]["step"] == step
        assert stored["params"][key] == "p"
        assert stored["tags"][key] == "t"
        query = {"key": key, "start_step": step, "end_step": step}
        history = api.get(f"{run}/metrics/history", params=query).json()
        assert [(p["step"], p["value"]) for p in history["points"]] == [(step, 1.5)]

    @through_api
    @given(key=valid_keys)
    def test_a_tag_key_in_the_url_is_the_same_key(
        self, api: requests.Session, seeded: Seeded, key: str
    ) -> None:
        run = f"/api/v1/runs/{seeded.ensure().run_id}"
        url = f"{run}/tags/{quote(key, safe='/')}"
        assert api.put(url, json={"value": "via-url"}).status_code == 200
        assert api.get(run).json()["tags"][key] == "via-url"
        assert api.delete(url).status_code == 204
        assert key not in api.get(run).json()["tags"]
