"""The role matrix for MLflow's wire API: every route, every kind of caller. Ids travel in
bodies and artifact paths there, so the permission check reads them from those."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from mltrail_server.mlflow.translate import MLFLOW_VERSION
from tests.api.access import Keys, as_key, secured_server
from tests.conftest import Backend, Server
from tests.security.builders import AJAX_WRITES

A = "/api/2.0/mlflow"
J = "/ajax-api/2.0/mlflow"
MPU = "/api/2.0/mlflow-artifacts/mpu"
ALLOWED = "allowed"  # past authentication and permission: neither 401 nor 403, nor a 5xx
GRAPHQL_GET_RUN = {
    "query": "query GetRun($data: MlflowGetRunInput!) { mlflowGetRun(input: $data) "
    "{ run { info { runId } experiment { name } modelVersions { name } } } }",
    "variables": {"data": {"runId": "{r}"}},
}


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def secured(sqlite_backend: Backend) -> AsyncIterator[tuple[Server, Keys]]:
    """One server with auth on for the module: each case makes the owner's things it needs."""
    async with secured_server(sqlite_backend) as secured:
        yield secured


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # may use {e} (experiment), {r} (run), {m} (logged model), {n} (registered model)
    body: dict[str, Any] | bytes | None
    rule: str  # read | owner | writer | public


CASES = [
    Case("POST", A + "/experiments/create", {"name": "n-{u}"}, "writer"),
    Case("GET", A + "/experiments/get?experiment_id={e}", None, "read"),
    Case("GET", A + "/experiments/get-by-name?experiment_name=x", None, "read"),
    Case("GET", A + "/experiments/search?max_results=5", None, "read"),
    Case("POST", A + "/experiments/search", {"max_results": 5}, "read"),
    Case("POST", A + "/experiments/update", {"experiment_id": "{e}", "new_name": "n-{u}"}, "owner"),
    Case("POST", A + "/experiments/delete", {"experiment_id": "{e}"}, "owner"),
    Case("POST", A + "/experiments/restore", {"experiment_id": "{e}"}, "owner"),
    Case(
        "POST",
        A + "/experiments/set-experiment-tag",
        {"experiment_id": "{e}", "key": "k", "value": "v"},
        "owner",
    ),
    Case(
        "POST",
        A + "/experiments/delete-experiment-tag",
        {"experiment_id": "{e}", "key": "k"},
        "owner",
    ),
    Case("POST", A + "/runs/create", {"experiment_id": "{e}"}, "owner"),
    Case("GET", A + "/runs/get?run_id={r}", None, "read"),
    Case("POST", A + "/runs/update", {"run_id": "{r}", "status": "FINISHED"}, "owner"),
    Case("POST", A + "/runs/delete", {"run_id": "{r}"}, "owner"),
    Case("POST", A + "/runs/restore", {"run_id": "{r}"}, "owner"),
    Case("POST", A + "/runs/search", {"experiment_ids": ["{e}"]}, "read"),
    Case(
        "POST",
        A + "/runs/log-metric",
        {"run_id": "{r}", "key": "m", "value": 1, "timestamp": 1, "step": 0},
        "owner",
    ),
    Case("POST", A + "/runs/log-parameter", {"run_id": "{r}", "key": "p", "value": "1"}, "owner"),
    Case(
        "POST",
        A + "/runs/log-batch",
        {"run_id": "{r}", "tags": [{"key": "a", "value": "b"}]},
        "owner",
    ),
    Case("POST", A + "/runs/set-tag", {"run_id": "{r}", "key": "a", "value": "b"}, "owner"),
    Case("POST", A + "/runs/delete-tag", {"run_id": "{r}", "key": "t"}, "owner"),
    Case("POST", A + "/runs/log-inputs", {"run_id": "{r}", "datasets": []}, "owner"),
    Case("POST", A + "/runs/outputs", {"run_id": "{r}", "models": []}, "owner"),
    Case("POST", A + "/runs/log-model", {"run_id": "{r}", "model_json": "{}"}, "owner"),
    Case("GET", A + "/metrics/get-history?run_id={r}&metric_key=m", None, "read"),
    Case(
        "GET",
        A + "/metrics/get-history-bulk-interval?run_ids={r}&metric_key=m&max_results=5",
        None,
        "read",
    ),
    Case("POST", A + "/logged-models", {"experiment_id": "{e}", "name": "model"}, "owner"),
    Case("POST", A + "/logged-models/search", {"experiment_ids": ["{e}"]}, "read"),
    Case("GET", A + "/logged-models/{m}", None, "read"),
    Case(
        "PATCH",
        A + "/logged-models/{m}",
        {"model_id": "{m}", "status": "LOGGED_MODEL_READY"},
        "owner",
    ),
    Case("DELETE", A + "/logged-models/{m}", None, "owner"),
    Case("PATCH", A + "/logged-models/{m}/tags", {"tags": [{"key": "a", "value": "b"}]}, "owner"),
    Case("DELETE", A + "/logged-models/{m}/tags/a", None, "owner"),
    Case(
        "POST", A + "/logged-models/{m}/params", {"params": [{"key": "a", "value": "b"}]}, "owner"
    ),
    Case("GET", "/api/2.0/mlflow-artifacts/artifacts?path={e}/{r}/artifacts", None, "read"),
    Case("PUT", "/api/2.0/mlflow-artifacts/artifacts/{e}/{r}/artifacts/x.txt", b"x", "owner"),
    Case("GET", "/api/2.0/mlflow-artifacts/artifacts/{e}/{r}/artifacts/f.txt", None, "read"),
    Case("DELETE", "/api/2.0/mlflow-artifacts/artifacts/{e}/{r}/artifacts/f.txt", None, "owner"),
    Case("POST", MPU + "/create/{e}/{r}/artifacts", {"path": "big.bin", "num_parts": 1}, "owner"),
    Case(
        "POST",
        MPU + "/complete/{e}/{r}/artifacts",
        {"path": "big.bin", "upload_id": "0" * 32, "parts": [{"part_number": 1}]},
        "owner",
    ),
    Case("POST", MPU + "/abort/{e}/{r}/artifacts", {"path": "b", "upload_id": "0" * 32}, "owner"),
    # A part carries no key: the upload id is its capability (a made-up one is a 404).
    Case("PUT", MPU + "/part/" + "0" * 32 + "/1/{e}/{r}/artifacts", b"x", "capability"),
    Case("GET", "/api/2.0/mlflow-artifacts/presigned/{e}/{r}/artifacts/f.txt", None, "read"),
    Case("GET", "/api/3.0/mlflow/server-info", None, "read"),
    Case("GET", A + "/artifacts/list?run_id={r}&path=d", None, "read"),
    # A metric of someone else's logged model is a write to that model.
    Case(
        "POST",
        A + "/runs/log-batch",
        {"run_id": "{r}", "metrics": [{"key": "m", "value": 1, "timestamp": 1, "model_id": "{m}"}]},
        "owner",
    ),
    # MLflow's UI paths: aliases of reads, and the reads only its UI makes.
    Case("POST", J + "/runs/search", {"experiment_ids": ["{e}"]}, "read"),
    Case("GET", J + "/runs/get?run_id={r}", None, "read"),
    Case("POST", J + "/experiments/search", {"max_results": 5}, "read"),
    Case("GET", J + "/experiments/search?max_results=5", None, "read"),
    Case("GET", J + "/experiments/get?experiment_id={e}", None, "read"),
    Case("GET", J + "/experiments/get-by-name?experiment_name=x", None, "read"),
    Case("GET", J + "/metrics/get-history?run_id={r}&metric_key=m", None, "read"),
    Case("GET", J + "/metrics/get-history-bulk?run_id={r}&metric_key=m", None, "read"),
    Case(
        "GET",
        J + "/metrics/get-history-bulk-interval?run_ids={r}&metric_key=m&max_results=5",
        None,
        "read",
    ),
    Case("POST", J + "/experiments/search-datasets", {"experiment_ids": ["{e}"]}, "read"),
    Case("GET", J + "/artifacts/list?run_uuid={r}", None, "read"),
    Case("POST", J + "/logged-models/search", {"experiment_ids": ["{e}"]}, "read"),
    Case("GET", J + "/logged-models/{m}", None, "read"),
    Case("GET", "/ajax-api/3.0/mlflow/server-info", None, "read"),
    Case("GET", "/get-artifact?run_uuid={r}&path=f.txt", None, "read"),
    Case("POST", J + "/upload-artifact?run_uuid={r}&path=up.txt", b"x", "owner"),
    Case("GET", A + "/logged-models/{m}/artifacts/directories", None, "read"),
    Case(
        "GET",
        J + "/logged-models/{m}/artifacts/directories?artifact_directory_path=",
        None,
        "read",
    ),
    Case("GET", J + "/logged-models/{m}/artifacts/files?artifact_file_path=MLmodel", None, "read"),
    # MLflow's UI's GraphQL: reads only, the run page's query among them.
    Case("POST", "/graphql", GRAPHQL_GET_RUN, "read"),
    Case("POST", A + "/registered-models/create", {"name": "n-{u}"}, "writer"),
    Case("GET", A + "/registered-models/get?name={n}", None, "read"),
    Case("GET", A + "/registered-models/search?max_results=5", None, "read"),
    Case("POST", A + "/registered-models/rename", {"name": "{n}", "new_name": "n-{u}"}, "owner"),
    Case("PATCH", A + "/registered-models/update", {"name": "{n}", "description": "d"}, "owner"),
    Case("DELETE", A + "/registered-models/delete", {"name": "{n}"}, "owner"),
    Case("POST", A + "/registered-models/get-latest-versions", {"name": "{n}"}, "read"),
    Case("GET", A + "/registered-models/get-latest-versions?name={n}", None, "read"),
    Case(
        "POST", A + "/registered-models/set-tag", {"name": "{n}", "key": "k", "value": "v"}, "owner"
    ),
    Case("DELETE", A + "/registered-models/delete-tag", {"name": "{n}", "key": "k"}, "owner"),
    Case(
        "POST",
        A + "/registered-models/alias",
        {"name": "{n}", "alias": "prod", "version": "1"},
        "owner",
    ),
    Case("DELETE", A + "/registered-models/alias", {"name": "{n}", "alias": "champion"}, "owner"),
    Case("GET", A + "/registered-models/alias?name={n}&alias=champion", None, "read"),
    Case("POST", A + "/model-versions/create", {"name": "{n}", "source": "s3://b/m"}, "owner"),
    Case("GET", A + "/model-versions/get?name={n}&version=1", None, "read"),
    Case(
        "PATCH",
        A + "/model-versions/update",
        {"name": "{n}", "version": "1", "description": "d"},
        "owner",
    ),
    Case(
        "POST",
        A + "/model-versions/transition-stage",
        {"name": "{n}", "version": "1", "stage": "Staging"},
        "owner",
    ),
    Case("DELETE", A + "/model-versions/delete", {"name": "{n}", "version": "1"}, "owner"),
    Case("GET", A + "/model-versions/search?filter=name%3D%27{n}%27", None, "read"),
    Case("GET", A + "/model-versions/get-download-uri?name={n}&version=1", None, "read"),
    Case(
        "POST",
        A + "/model-versions/set-tag",
        {"name": "{n}", "version": "1", "key": "k", "value": "v"},
        "owner",
    ),
    Case(
        "DELETE",
        A + "/model-versions/delete-tag",
        {"name": "{n}", "version": "1", "key": "k"},
        "owner",
    ),
]
# MLflow's UI writes and registry searches under /ajax-api: the same routes, the same rules.
AJAX_ALIASES = (*AJAX_WRITES, "/registered-models/search", "/model-versions/search")
CASES += [
    Case(case.method, J + case.path.removeprefix(A), case.body, case.rule)
    for case in list(CASES)
    if case.path.removeprefix(A).split("?")[0] in AJAX_ALIASES
]

EXPECTED = {
    "read": {"none": 401, "viewer": ALLOWED, "member": ALLOWED, "owner": ALLOWED, "admin": ALLOWED},
    "owner": {"none": 401, "viewer": 403, "member": 403, "owner": ALLOWED, "admin": ALLOWED},
    "writer": {"none": 401, "viewer": 403, "member": ALLOWED, "owner": ALLOWED, "admin": ALLOWED},
    "capability": {
        "none": ALLOWED,
        "viewer": ALLOWED,
        "member": ALLOWED,
        "owner": ALLOWED,
        "admin": ALLOWED,
    },
}


def openapi_template(path: str) -> str:
    path = path.split("?")[0]
    path = path.replace("{e}/{r}/artifacts/x.txt", "{path}").replace(
        "{e}/{r}/artifacts/f.txt", "{path}"
    )
    path = path.replace("/part/" + "0" * 32 + "/1/", "/part/{upload_id}/{part_number}/")
    path = path.replace("{e}/{r}/artifacts", "{path}")
    return path.replace("{m}", "{model_id}").replace("/tags/a", "/tags/{key}")


async def owned(server: Server, keys: Keys) -> tuple[str, str, str, str]:
    """An experiment owned by `owner` (through MLflow), a run, a tag, a file, a logged model,
    and a registered model with version 1 aliased `champion`."""
    client, headers = server.client, as_key(keys.owner)
    e = (
        await client.post(
            A + "/experiments/create", json={"name": f"x-{uuid.uuid4().hex}"}, headers=headers
        )
    ).json()["experiment_id"]
    r = (await client.post(A + "/runs/create", json={"experiment_id": e}, headers=headers)).json()
    run_id = r["run"]["info"]["run_id"]
    await client.post(
        A + "/runs/set-tag", json={"run_id": run_id, "key": "t", "value": "v"}, headers=headers
    )
    await client.post(
        A + "/experiments/set-experiment-tag",
        json={"experiment_id": e, "key": "k", "value": "v"},
        headers=headers,
    )
    await client.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{e}/{run_id}/artifacts/f.txt",
        content=b"f",
        headers=headers,
    )
    model = await client.post(
        A + "/logged-models", json={"experiment_id": e, "name": "m"}, headers=headers
    )
    assert model.status_code == 200, model.text
    name = f"rm-{uuid.uuid4().hex[:8]}"
    for path, body in (
        ("/registered-models/create", {"name": name}),
        ("/model-versions/create", {"name": name, "source": "s3://b/m"}),
        ("/registered-models/alias", {"name": name, "alias": "champion", "version": "1"}),
    ):
        made = await client.post(A + path, json=body, headers=headers)
        assert made.status_code == 200, made.text
    return e, run_id, model.json()["model"]["info"]["model_id"], name


async def deleted(server: Server, keys: Keys, path: str, victim: tuple[str, ...]) -> None:
    """Delete the victim's experiment or run, for a route that restores it."""
    e, r = victim[0], victim[1]
    what = "experiments" if "experiments" in path else "runs"
    body = {"experiment_id": e} if what == "experiments" else {"run_id": r}
    done = await server.client.post(f"{A}/{what}/delete", json=body, headers=as_key(keys.admin))
    assert done.status_code == 200, done.text


def fill(value: Any, e: str, r: str, m: str, n: str = "") -> Any:
    if isinstance(value, str):
        return (
            value.replace("{e}", e)
            .replace("{r}", r)
            .replace("{m}", m)
            .replace("{n}", n)
            .replace("{u}", uuid.uuid4().hex[:8])
        )
    if isinstance(value, dict):
        return {k: fill(v, e, r, m, n) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, e, r, m, n) for v in value]
    return value


class TestMlflowRoleMatrix:
    def test_every_mlflow_route_is_in_the_matrix(self, secured: tuple[Server, Keys]) -> None:
        server, _ = secured
        paths = server.app.openapi()["paths"]  # type: ignore[attr-defined]
        routes = {
            (method.upper(), path)
            for path, operations in paths.items()
            if path.startswith(("/api/2.0", "/api/3.0", "/ajax-api/", "/get-artifact", "/graphql"))
            for method in operations
        }
        covered = {(case.method, openapi_template(case.path)) for case in CASES}
        assert routes - covered == set(), f"add to the MLflow matrix: {sorted(routes - covered)}"

    @pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path.split('?')[0]}")
    async def test_each_caller_gets_its_status(
        self, secured: tuple[Server, Keys], case: Case
    ) -> None:
        server, keys = secured
        callers = {
            "none": None,
            "viewer": keys.viewer,
            "member": keys.member,
            "owner": keys.owner,
            "admin": keys.admin,
        }
        got: dict[str, int | str] = {}
        # A refused caller leaves the owner's things as they were (the security suite checks
        # it), so the next caller meets them too; one let through gets the next a fresh set.
        victim: tuple[str, str, str, str] | None = None
        for caller, key in callers.items():
            if victim is None:
                victim = await owned(server, keys)
                if case.path.endswith("/restore"):
                    await deleted(server, keys, case.path, victim)
            e, r, m, n = victim
            body = fill(case.body, e, r, m, n)
            response = await server.client.request(
                case.method,
                fill(case.path, e, r, m, n),
                content=body if isinstance(body, bytes) else None,
                json=None if isinstance(body, bytes) else body,
                headers=as_key(key) if key else {},
            )
            status = response.status_code
            assert status < 500, (caller, response.text)
            if status == 401:
                assert response.json()["error_code"] == "UNAUTHENTICATED"
            if status == 403:
                assert response.json()["error_code"] == "PERMISSION_DENIED"
            got[caller] = ALLOWED if status not in (401, 403) else status
            if got[caller] == ALLOWED:
                victim = None
        assert got == EXPECTED[case.rule]


async def test_version_answers_without_a_key(secured: tuple[Server, Keys]) -> None:
    """`/version` is public, as MLflow's is: its client asks before it signs anything in."""
    server, _ = secured
    response = await server.client.get("/version")
    assert response.status_code == 200
    assert response.text == MLFLOW_VERSION
