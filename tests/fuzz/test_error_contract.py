"""Error answers and the OpenAPI document agree: a client generated from /openapi.json
decodes an error with the schema documented for its status. (These were gaps the fuzzing
found: a domain 422 is a message while FastAPI's is a list, and an undecodable body is a 400;
the document now declares both shapes and the 400.)"""

from typing import Any

import requests

from tests.fuzz.conftest import Seeded


def documented(api: requests.Session, method: str, path: str) -> dict[str, Any]:
    document = api.get("/openapi.json").json()
    responses: dict[str, Any] = document["paths"][path][method]["responses"]
    return {"document": document, "responses": responses}


def documented_detail_types(api: requests.Session, method: str, path: str, status: str) -> set[str]:
    """The JSON types the document allows for `detail` in this operation's `status` answer."""
    found = documented(api, method, path)
    schema = found["responses"][status]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    detail = found["document"]["components"]["schemas"][name]["properties"]["detail"]
    return {option["type"] for option in detail.get("anyOf", [detail])}


def test_a_domain_422_has_the_documented_shape(api: requests.Session, seeded: Seeded) -> None:
    path = "/api/v1/runs/{run_id}/metrics/history"
    response = api.get(
        f"/api/v1/runs/{seeded.ensure().run_id}/metrics/history",
        params={"key": "loss", "cursor": "not-a-cursor"},
    )
    assert response.status_code == 422
    shape = "string" if isinstance(response.json()["detail"], str) else "array"
    assert shape in documented_detail_types(api, "get", path, "422")


def test_a_validation_422_of_run_search_has_the_documented_shape(api: requests.Session) -> None:
    response = api.post("/api/v1/runs/search", json={})
    assert response.status_code == 422
    shape = "string" if isinstance(response.json()["detail"], str) else "array"
    assert shape in documented_detail_types(api, "post", "/api/v1/runs/search", "422")


def test_an_unparsable_body_gets_a_documented_status(api: requests.Session) -> None:
    response = api.post(
        "/api/v1/experiments",
        data=b'{"name": "\xff"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500
    assert str(response.status_code) in documented(api, "post", "/api/v1/experiments")["responses"]
