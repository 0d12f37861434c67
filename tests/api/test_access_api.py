"""Auth: keys in every accepted form, roles, ownership and grants, limits, the audit log.
The role matrix walks every /api/v1 route with every kind of caller."""

import asyncio
import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mltrail_server.db.unit_of_work import transaction
from mltrail_server.services.auth import AuthService, auth_required
from tests.api.access import Keys, as_key, first_admin_key
from tests.conftest import Backend, Server, _empty, side_database, start_server, stop_server


async def owned_run(server: Server, keys: Keys) -> tuple[str, str]:
    """An experiment owned by `owner`, with one run carrying a tag."""
    client = server.client
    experiment = await client.post(
        "/api/v1/experiments",
        json={"name": f"e-{uuid.uuid4().hex[:8]}", "owner": "someone-else"},
        headers=as_key(keys.owner),
    )
    assert experiment.status_code == 201, experiment.text
    assert experiment.json()["owner"] == "owner"  # the caller owns it, whatever the body says
    experiment_id = experiment.json()["id"]
    run = await client.post(
        f"/api/v1/experiments/{experiment_id}/runs",
        json={"tags": {"t": "1"}},
        headers=as_key(keys.owner),
    )
    assert run.status_code == 201
    return experiment_id, run.json()["id"]


async def owned_model(server: Server, keys: Keys) -> str:
    """A registered model owned by `owner`: version 1, a tag `t` on both, alias `champion`."""
    client, owner = server.client, as_key(keys.owner)
    name = f"m-{uuid.uuid4().hex[:8]}"
    made = await client.post("/api/v1/models", json={"name": name}, headers=owner)
    assert made.status_code == 201, made.text
    for method, path, body in (
        ("POST", "/versions", {"source": "s3://bucket/model"}),
        ("PUT", "/tags/t", {"value": "1"}),
        ("PUT", "/versions/1/tags/t", {"value": "1"}),
        ("PUT", "/aliases/champion", {"version": 1}),
    ):
        response = await client.request(
            method, f"/api/v1/models/{name}{path}", json=body, headers=owner
        )
        assert response.is_success, response.text
    return name


class TestCredentials:
    async def test_no_key_is_401_with_a_challenge(self, secured: tuple[Server, Keys]) -> None:
        server, _ = secured
        response = await server.client.get("/api/v1/experiments")
        assert response.status_code == 401
        assert "Bearer" in response.headers["www-authenticate"]
        assert "X-API-Key" in response.json()["detail"]

    async def test_a_wrong_key_is_401(self, secured: tuple[Server, Keys]) -> None:
        server, _ = secured
        response = await server.client.get("/api/v1/experiments", headers=as_key("et_nope"))
        assert response.status_code == 401

    @pytest.mark.parametrize("form", ["x-api-key", "bearer", "basic"])
    async def test_every_accepted_form(self, secured: tuple[Server, Keys], form: str) -> None:
        server, keys = secured
        headers = {
            "x-api-key": as_key(keys.viewer),
            "bearer": {"Authorization": f"Bearer {keys.viewer}"},
            "basic": {
                "Authorization": "Basic "
                + base64.b64encode(f"viewer:{keys.viewer}".encode()).decode()
            },
        }[form]
        me = await server.client.get("/api/v1/me", headers=headers)
        assert me.json() == {"name": "viewer", "role": "viewer", "authenticated": True}

    async def test_revoked_key_stops_working(self, secured: tuple[Server, Keys]) -> None:
        server, keys = secured
        listed = await server.client.get("/api/v1/keys", headers=as_key(keys.admin))
        assert all("key" not in item and "hash" not in item for item in listed.json())
        member_key = next(k for k in listed.json() if k["user_id"] == keys.member_id)
        assert keys.member.startswith(member_key["prefix"])
        revoked = await server.client.delete(
            f"/api/v1/keys/{member_key['id']}", headers=as_key(keys.admin)
        )
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        after = await server.client.get("/api/v1/me", headers=as_key(keys.member))
        assert after.status_code == 401


class TestOwnership:
    async def test_a_grant_lets_another_member_write(self, secured: tuple[Server, Keys]) -> None:
        server, keys = secured
        experiment_id, run_id = await owned_run(server, keys)
        url = f"/api/v1/runs/{run_id}/params"
        body = {"key": "lr", "value": "1"}
        denied = await server.client.post(url, json=body, headers=as_key(keys.member))
        assert denied.status_code == 403
        assert "grant" in denied.json()["detail"]
        granted = await server.client.post(
            f"/api/v1/experiments/{experiment_id}/grants",
            json={"user_id": keys.member_id},
            headers=as_key(keys.owner),
        )
        assert granted.status_code == 204
        allowed = await server.client.post(url, json=body, headers=as_key(keys.member))
        assert allowed.status_code == 200


OK = "ok"  # any 2xx


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: Callable[[Keys, str, str], Any] | None
    # Expected status per caller: none, viewer, non-owner member, owner, admin.
    none: int
    viewer: int | str
    member: int | str
    owner: int | str
    admin: int | str


READ = dict(none=401, viewer=OK, member=OK, owner=OK, admin=OK)
OWNER_WRITE = dict(none=401, viewer=403, member=403, owner=OK, admin=OK)
ANY_WRITER = dict(none=401, viewer=403, member=OK, owner=OK, admin=OK)
ADMIN_ONLY = dict(none=401, viewer=403, member=403, owner=403, admin=OK)
SIGNED_IN = dict(none=401, viewer=OK, member=OK, owner=OK, admin=OK)

E = "/api/v1/experiments/{experiment_id}"
R = "/api/v1/runs/{run_id}"
M = "/api/v1/models/{name}"
V = M + "/versions/{version}"

CASES = [
    Case("GET", "/api/v1/experiments", None, **READ),
    Case(
        "POST",
        "/api/v1/experiments",
        lambda k, e, r: {"name": uuid.uuid4().hex},
        **ANY_WRITER,
    ),
    Case("GET", E, None, **READ),
    Case("PATCH", E, lambda k, e, r: {"description": "d"}, **OWNER_WRITE),
    Case("DELETE", E, None, **OWNER_WRITE),
    Case("POST", E + "/restore", None, **OWNER_WRITE),
    Case("GET", E + "/runs", None, **READ),
    Case("POST", E + "/runs", lambda k, e, r: {}, **OWNER_WRITE),
    Case("POST", E + "/grants", lambda k, e, r: {"user_id": k.member_id}, **OWNER_WRITE),
    Case("GET", E + "/grants", None, **OWNER_WRITE),
    Case(
        "DELETE",
        E + "/grants/{user_id}",
        None,
        none=401,
        viewer=403,
        member=403,
        owner=404,
        admin=404,
    ),
    Case(
        "POST", "/api/v1/runs/search", lambda k, e, r: {"experiment_ids": [e], "filter": ""}, **READ
    ),
    Case("GET", R, None, **READ),
    Case("PATCH", R, lambda k, e, r: {"status": "completed"}, **OWNER_WRITE),
    Case("DELETE", R, None, **OWNER_WRITE),
    Case("POST", R + "/restore", None, **OWNER_WRITE),
    Case(
        "POST", R + "/batch", lambda k, e, r: {"metrics": [{"key": "m", "value": 1}]}, **OWNER_WRITE
    ),
    Case("POST", R + "/metrics", lambda k, e, r: {"key": "m", "value": 1}, **OWNER_WRITE),
    Case("POST", R + "/params", lambda k, e, r: {"key": "p", "value": "1"}, **OWNER_WRITE),
    Case("PUT", R + "/tags/{key}", lambda k, e, r: {"value": "v"}, **OWNER_WRITE),
    Case("DELETE", R + "/tags/{key}", None, **OWNER_WRITE),
    Case("PUT", R + "/artifacts/{path}", lambda k, e, r: b"data", **OWNER_WRITE),
    Case("GET", R + "/artifacts", None, **READ),
    Case("GET", R + "/artifacts/{path}", None, **READ),
    Case("GET", R + "/artifact-previews/markdown/{path}", None, **READ),
    # f.txt is no Parquet table: every reader gets past authorization to the route's 422.
    Case(
        "GET",
        R + "/artifact-previews/table/{path}",
        None,
        none=401,
        viewer=422,
        member=422,
        owner=422,
        admin=422,
    ),
    Case("DELETE", R + "/artifacts/{path}", None, **OWNER_WRITE),
    Case("GET", R + "/metrics/history?key=m", None, **READ),
    Case("GET", R + "/metrics/downsampled?key=m", None, **READ),
    Case("POST", "/api/v1/metrics/history", lambda k, e, r: {"run_ids": [r], "key": "m"}, **READ),
    Case("GET", "/api/v1/me", None, **SIGNED_IN),
    Case("POST", "/api/v1/users", lambda k, e, r: {"name": uuid.uuid4().hex[:12]}, **ADMIN_ONLY),
    Case("GET", "/api/v1/users", None, **ADMIN_ONLY),
    Case("POST", "/api/v1/users/{user_id}/keys", lambda k, e, r: {"name": "x"}, **ADMIN_ONLY),
    Case("GET", "/api/v1/keys", None, **ADMIN_ONLY),
    Case(
        "POST",
        "/api/v1/import/runs",
        lambda k, e, r: {
            "id": str(uuid.uuid4()),
            "experiment_id": e,
            "name": "imported",
            "status": "completed",
            "started_at": "2020-01-01T00:00:00Z",
        },
        **ADMIN_ONLY,
    ),
    Case(
        "POST",
        "/api/v1/import/logged-models",
        lambda k, e, r: {
            "id": f"m-{uuid.uuid4().hex}",
            "experiment_id": e,
            "name": "imported",
            "source_run_id": r,
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
        },
        **ADMIN_ONLY,
    ),
    Case(
        "POST",
        "/api/v1/import/registered-models",
        lambda k, e, r: {
            "name": f"imported-{uuid.uuid4().hex}",
            "versions": [
                {
                    "version": 3,
                    "source": f"runs:/{r}/model",
                    "created_at": "2020-01-01T00:00:00Z",
                    "updated_at": "2020-01-01T00:00:00Z",
                }
            ],
            "created_at": "2020-01-01T00:00:00Z",
            "updated_at": "2020-01-01T00:00:00Z",
        },
        **ADMIN_ONLY,
    ),
    Case("DELETE", "/api/v1/keys/{key_id}", None, **ADMIN_ONLY),
    Case("GET", "/api/v1/audit", None, **ADMIN_ONLY),
    Case("POST", "/api/v1/admin/gc", lambda k, e, r: {"dry_run": True}, **ADMIN_ONLY),
    Case("PATCH", "/api/v1/users/{user_id}", lambda k, e, r: {"role": "viewer"}, **ADMIN_ONLY),
    Case("DELETE", "/api/v1/users/{user_id}", None, **ADMIN_ONLY),
    Case("GET", "/api/v1/models", None, **READ),
    Case("POST", "/api/v1/models", lambda k, e, r: {"name": uuid.uuid4().hex}, **ANY_WRITER),
    Case("GET", M, None, **READ),
    Case("PATCH", M, lambda k, e, r: {"description": "d"}, **OWNER_WRITE),
    Case("DELETE", M, None, **OWNER_WRITE),
    Case("PUT", M + "/tags/{key}", lambda k, e, r: {"value": "v"}, **OWNER_WRITE),
    Case("DELETE", M + "/tags/{key}", None, **OWNER_WRITE),
    Case("PUT", M + "/aliases/{alias}", lambda k, e, r: {"version": 1}, **OWNER_WRITE),
    Case("DELETE", M + "/aliases/{alias}", None, **OWNER_WRITE),
    Case("GET", M + "/aliases/{alias}", None, **READ),
    Case("GET", M + "/versions", None, **READ),
    Case("POST", M + "/versions", lambda k, e, r: {"source": "s3://b/m"}, **OWNER_WRITE),
    Case("GET", V, None, **READ),
    Case("PATCH", V, lambda k, e, r: {"description": "d"}, **OWNER_WRITE),
    Case("DELETE", V, None, **OWNER_WRITE),
    Case("PUT", V + "/tags/{key}", lambda k, e, r: {"value": "v"}, **OWNER_WRITE),
    Case("DELETE", V + "/tags/{key}", None, **OWNER_WRITE),
    Case("POST", M + "/grants", lambda k, e, r: {"user_id": k.member_id}, **OWNER_WRITE),
    Case("GET", M + "/grants", None, **OWNER_WRITE),
    Case(
        "DELETE",
        M + "/grants/{user_id}",
        None,
        none=401,
        viewer=403,
        member=403,
        owner=404,
        admin=404,
    ),
    Case("GET", R + "/model-versions", None, **READ),
    Case("GET", R + "/logged-models", None, **READ),
]
# Routes the matrix deliberately leaves to their own tests (streams that never end).
STREAMING = {"/api/v1/runs/{run_id}/events", "/api/v1/experiments/{experiment_id}/events"}


def template(path: str) -> str:
    return path.split("?")[0]


class TestRoleMatrix:
    def test_every_v1_route_is_in_the_matrix(self, secured: tuple[Server, Keys]) -> None:
        server, _ = secured
        paths = server.app.openapi()["paths"]  # type: ignore[attr-defined]
        routes = {
            (method.upper(), path)
            for path, operations in paths.items()
            if path.startswith("/api/v1")
            for method in operations
        }
        assert len(routes) >= len(CASES) - 1
        covered = {(case.method, template(case.path)) for case in CASES}
        missing = {r for r in routes if r not in covered and r[1] not in STREAMING}
        assert not missing, f"add these routes to the role matrix: {sorted(missing)}"

    @pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
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
        got: dict[str, int] = {}
        for caller, key in callers.items():
            experiment_id, run_id = await owned_run(server, keys)
            name = await owned_model(server, keys) if "{name}" in case.path else ""
            await server.client.put(
                f"/api/v1/runs/{run_id}/artifacts/f.txt", content=b"x", headers=as_key(keys.admin)
            )
            if case.method == "POST" and case.path.endswith("/restore"):
                target = f"/api/v1/{'runs' if '/runs/' in case.path else 'experiments'}/"
                target += run_id if "/runs/" in case.path else experiment_id
                await server.client.delete(target, headers=as_key(keys.admin))
            user = await server.client.post(
                "/api/v1/users", json={"name": uuid.uuid4().hex[:10]}, headers=as_key(keys.admin)
            )
            new_key = await server.client.post(
                f"/api/v1/users/{user.json()['id']}/keys", json={}, headers=as_key(keys.admin)
            )
            path = case.path.format(
                experiment_id=experiment_id,
                run_id=run_id,
                key="t",
                path="f.txt",
                user_id=user.json()["id"],
                key_id=new_key.json()["id"],
                name=name,
                version=1,
                alias="champion",
            )
            body = case.body(keys, experiment_id, run_id) if case.body else None
            response = await server.client.request(
                case.method,
                path,
                content=body if isinstance(body, bytes) else None,
                json=None if isinstance(body, bytes) else body,
                headers=as_key(key) if key else {},
            )
            got[caller] = response.status_code
        expected = {c: getattr(case, c) for c in callers}
        normalized = {c: OK if 200 <= s < 300 and expected[c] == OK else s for c, s in got.items()}
        assert normalized == expected


class TestLimits:
    async def test_rate_limit_answers_429_with_retry_after(self, sqlite_backend: Backend) -> None:
        settings = sqlite_backend.settings(
            auth_enabled=True, rate_limit_per_second=0.5, rate_limit_burst=3
        )
        key = await first_admin_key(sqlite_backend)
        server = await start_server(settings, sqlite_backend)
        try:
            statuses = [
                (await server.client.get("/api/v1/me", headers=as_key(key))) for _ in range(5)
            ]
            assert [r.status_code for r in statuses] == [200, 200, 200, 429, 429]
            assert int(statuses[3].headers["retry-after"]) >= 1
        finally:
            await stop_server(server)

    async def test_body_over_the_limit_is_413(self, sqlite_backend: Backend) -> None:
        server = await start_server(sqlite_backend.settings(max_body_bytes=2048), sqlite_backend)
        try:
            big = {"name": "x", "owner": "o", "description": "d" * 5000}
            response = await server.client.post("/api/v1/experiments", json=big)
            assert response.status_code == 413
            assert "2048" in response.json()["detail"]
        finally:
            await stop_server(server)

    async def test_security_headers(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


class TestAudit:
    async def test_writes_are_recorded_and_filterable(self, secured: tuple[Server, Keys]) -> None:
        server, keys = secured
        experiment_id, run_id = await owned_run(server, keys)
        await server.client.patch(
            f"/api/v1/runs/{run_id}", json={"status": "failed"}, headers=as_key(keys.owner)
        )
        await server.client.get(f"/api/v1/runs/{run_id}", headers=as_key(keys.owner))
        await server.app.state.runtime.audit.flush()  # type: ignore[attr-defined]
        page = await server.client.get(
            "/api/v1/audit", params={"principal": "owner"}, headers=as_key(keys.admin)
        )
        events = page.json()["items"]
        assert [(e["method"], e["path"], e["status"]) for e in events] == [
            ("PATCH", f"/api/v1/runs/{run_id}", 200),
            ("POST", f"/api/v1/experiments/{experiment_id}/runs", 201),
            ("POST", "/api/v1/experiments", 201),
        ]
        assert all(e["client"] and e["request_id"] for e in events)
        patches = await server.client.get(
            "/api/v1/audit", params={"method": "patch"}, headers=as_key(keys.admin)
        )
        assert [e["method"] for e in patches.json()["items"]] == ["PATCH"]

    async def test_a_cursor_beyond_64_bits_is_a_422_naming_it(
        self, secured: tuple[Server, Keys]
    ) -> None:
        """Found by the API fuzzer: SQLite cannot bind an integer of 2**64 (it was a 500)."""
        server, keys = secured
        page = await server.client.get(
            "/api/v1/audit", params={"before_id": str(2**64)}, headers=as_key(keys.admin)
        )
        assert page.status_code == 422
        assert "before_id" in page.text


def test_auth_is_on_beyond_loopback() -> None:
    assert not auth_required(None, ("127.0.0.1", "127.0.0.1", "::1", "localhost"))
    assert auth_required(None, ("0.0.0.0", "127.0.0.1"))
    assert auth_required(None, ("127.0.0.1", "10.1.2.3"))
    assert auth_required(None, ("127.0.0.1", None, "::"))
    assert auth_required(True, ("127.0.0.1", "127.0.0.1"))
    assert not auth_required(False, ("0.0.0.0", "10.1.2.3"))


async def test_first_admin_key_is_created_once(sqlite_backend: Backend) -> None:
    database = side_database(sqlite_backend.settings().resolved_database_url)
    await _empty(database)

    async def bootstrap() -> str | None:
        async with transaction(database.session()) as session:
            return await AuthService(session).bootstrap_admin()

    keys = await asyncio.gather(*(bootstrap() for _ in range(3)))
    await database.dispose()
    assert len([k for k in keys if k]) == 1


class TestUiSession:
    async def test_cookie_signs_in_and_writes_need_the_csrf_header(
        self, secured: tuple[Server, Keys]
    ) -> None:
        server, keys = secured
        bad = await server.client.post("/ui/session", json={"key": "et_wrong"})
        assert bad.status_code == 401
        signed = await server.client.post("/ui/session", json={"key": keys.owner})
        assert signed.status_code == 200 and signed.json()["name"] == "owner"
        set_cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=strict" in set_cookie
        # The client now carries the cookie and no other credentials.
        assert (await server.client.get("/api/v1/me")).json()["name"] == "owner"
        body = {"name": f"c-{uuid.uuid4().hex[:8]}", "owner": "owner"}
        forged = await server.client.post("/api/v1/experiments", json=body)
        assert forged.status_code == 403
        assert "X-Requested-With" in forged.json()["detail"]
        ui = await server.client.post(
            "/api/v1/experiments", json=body, headers={"X-Requested-With": "mltrail-ui"}
        )
        assert ui.status_code == 201
        await server.client.delete("/ui/session")
        server.client.cookies.clear()
        assert (await server.client.get("/api/v1/me")).status_code == 401
