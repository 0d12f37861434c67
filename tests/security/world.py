"""The world the adversarial suite attacks: callers of every kind, victims owned by `owner`,
raw HTTP sends, and snapshots of a victim's data read back through the API as admin.

A victim is an experiment owned by `owner` (created through MLflow's API) with a tag, one
run (a tag, a param, a metric point, two artifact files), a logged model with a tag, and a
grant to `grantee`. Each case builds its own victim, so a write that wrongly succeeds cannot
spoil the next case.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.conftest import Server

ML = "/api/2.0/mlflow"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts"
ARTIFACTS = f"{ARTIFACTS_API}/artifacts"
V1 = "/api/v1"
JSON = "application/json"
CALLERS = ("none", "viewer", "member", "grantee", "owner", "admin")
SIGNED_IN = CALLERS[1:]
MODEL_FILE = b"the owner's pickled model"


@dataclass(frozen=True)
class Ids:
    """A victim's ids, spelled as a request will send them."""

    experiment: str
    run: str
    model: str
    user: str  # a spare user, for the admin routes
    key: str  # a spare API key of that user
    member: str  # the `member` caller's user id (what an attacker would grant itself)
    grantee: str  # the `grantee` caller's user id
    registered: str = ""  # a registered model of the owner (version 1, a tag, an alias)


@dataclass(frozen=True)
class Victim:
    experiment: uuid.UUID
    run: uuid.UUID
    model: str
    user: uuid.UUID
    key: uuid.UUID
    member: uuid.UUID
    grantee: uuid.UUID
    registered: str = ""

    def ids(self, spell: Callable[[uuid.UUID], str] = lambda u: u.hex) -> Ids:
        return Ids(
            experiment=spell(self.experiment),
            run=spell(self.run),
            model=self.model,
            user=str(self.user),
            key=str(self.key),
            member=str(self.member),
            grantee=str(self.grantee),
            registered=self.registered,
        )


@dataclass(frozen=True)
class Call:
    """One request. `path` is sent byte for byte as written (percent escapes, `./`, `//`)."""

    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    query: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None  # of a raw `content`


@dataclass
class World:
    server: Server
    keys: dict[str, str]  # caller -> API key (no entry for "none")
    user_ids: dict[str, uuid.UUID]
    # Victims that refused writes left as they were, with their snapshot, for the next refusal.
    intact: dict[str, tuple[Victim, dict[str, Any]]] = field(default_factory=dict)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.server.client

    def headers(self, caller: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[caller]} if caller in self.keys else {}


def raw_url(path: str, query: dict[str, str] | None = None) -> httpx.URL:
    """An URL whose path is exactly `path`. httpx drops `.` and `..` segments from a path it
    parses (RFC 3986), but an attacker's client sends whatever bytes it likes, so the parsed
    path is replaced by the raw one."""
    url = httpx.URL("http://testserver/")
    if query:
        url = url.copy_merge_params(query)
    url._uri_reference = url._uri_reference._replace(path=path)  # noqa: SLF001
    return url


async def send(
    world: World,
    call: Call,
    caller: str,
    *,
    content_type: str | None = JSON,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send `call` as `caller`; a JSON body goes with `content_type` (None: no such header)."""
    sent_headers = {**world.headers(caller), **(headers or {})}
    content = call.content
    if call.content_type is not None:
        sent_headers["Content-Type"] = call.content_type
    if call.json is not None:
        content = json.dumps(call.json).encode()
        if content_type is not None:
            sent_headers["Content-Type"] = content_type
    request = world.client.build_request(
        call.method, raw_url(call.path, call.query), content=content, headers=sent_headers
    )
    assert request.url.raw_path.split(b"?")[0] == call.path.encode(), "httpx rewrote the path"
    if call.json is not None and content_type is None:
        assert "content-type" not in request.headers
    response = await world.client.send(request)
    assert response.status_code < 500, f"{call.method} {call.path} as {caller}: {response.text}"
    return response


async def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


async def make_victim(world: World, owner: str = "owner", *, spare: bool = False) -> Victim:
    """An experiment of `owner` with a run, files, a logged model, and a grant to `grantee`;
    with `spare`, also a spare user with a key (what the admin routes change)."""
    client, headers = world.client, world.headers(owner)
    name = f"victim-{uuid.uuid4().hex}"
    created = await client.post(
        f"{ML}/experiments/create",
        json={"name": name, "tags": [{"key": "k", "value": "v"}]},
        headers=headers,
    )
    experiment = (await _ok(created))["experiment_id"]
    run_body = {"experiment_id": experiment}
    run_created = await client.post(f"{ML}/runs/create", json=run_body, headers=headers)
    run = (await _ok(run_created))["run"]["info"]["run_id"]
    batch = {
        "run_id": run,
        "tags": [{"key": "t", "value": "v"}, {"key": "search", "value": "v"}],
        "params": [{"key": "p", "value": "1"}],
        "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}],
    }
    await _ok(await client.post(f"{ML}/runs/log-batch", json=batch, headers=headers))
    for file, data in (("model.pkl", MODEL_FILE), ("f.txt", b"f"), ("search", b"s")):
        path = f"{ARTIFACTS}/{experiment}/{run}/artifacts/{file}"
        await _ok(await client.put(path, content=data, headers=headers))
    model = await client.post(
        f"{ML}/logged-models",
        json={
            "experiment_id": experiment,
            "name": "m",
            "tags": [{"key": "a", "value": "b"}, {"key": "search", "value": "s"}],
        },
        headers=headers,
    )
    model_id = (await _ok(model))["model"]["info"]["model_id"]
    granted = await client.post(
        f"{V1}/experiments/{uuid.UUID(experiment)}/grants",
        json={"user_id": str(world.user_ids["grantee"])},
        headers=headers,
    )
    assert granted.status_code == 204, granted.text
    registered = f"victim-model-{uuid.uuid4().hex[:12]}"
    await _ok(
        await client.post(
            f"{ML}/registered-models/create",
            json={"name": registered, "tags": [{"key": "k", "value": "v"}]},
            headers=headers,
        )
    )
    version = {"name": registered, "source": f"runs:/{run}/model.pkl", "run_id": run}
    await _ok(await client.post(f"{ML}/model-versions/create", json=version, headers=headers))
    for body in (
        {"name": registered, "version": "1", "key": "k", "value": "v"},
        {"name": registered, "alias": "champion", "version": "1"},
    ):
        endpoint = "model-versions/set-tag" if "key" in body else "registered-models/alias"
        await _ok(await client.post(f"{ML}/{endpoint}", json=body, headers=headers))
    model_grant = await client.post(
        f"{V1}/models/{registered}/grants",
        json={"user_id": str(world.user_ids["grantee"])},
        headers=headers,
    )
    assert model_grant.status_code == 204, model_grant.text
    user = key = uuid.UUID(int=0)
    if spare:
        admin = world.headers("admin")
        body = {"name": f"u{uuid.uuid4().hex[:12]}"}
        user = uuid.UUID(
            (await _ok(await client.post(f"{V1}/users", json=body, headers=admin)))["id"]
        )
        made = await client.post(f"{V1}/users/{user}/keys", json={"name": "k"}, headers=admin)
        key = uuid.UUID((await _ok(made))["id"])
    return Victim(
        experiment=uuid.UUID(experiment),
        run=uuid.UUID(run),
        model=model_id,
        user=user,
        key=key,
        member=world.user_ids["member"],
        grantee=world.user_ids["grantee"],
        registered=registered,
    )


async def _read(world: World, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = await world.client.request(method, path, headers=world.headers("admin"), **kwargs)
    assert response.status_code < 500, response.text
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.content


async def _artifact_tree(world: World, path: str) -> dict[str, Any]:
    """Every file under `path` in the artifact store, with its bytes."""
    _, listing = await _read(world, "GET", ARTIFACTS, params={"path": path})
    tree: dict[str, Any] = {}
    for entry in (listing or {}).get("files", []):
        child = f"{path}/{entry['path']}" if path else entry["path"]
        if entry["is_dir"]:
            tree[entry["path"]] = await _artifact_tree(world, child)
        else:
            tree[entry["path"]] = (await _read(world, "GET", f"{ARTIFACTS}/{child}"))[1]
    return tree


async def can_write(world: World, victim: Victim, caller: str) -> int:
    """Whether `caller` may write to the victim's run (200, or 403; 400 once it is deleted),
    asked with a write that changes nothing: re-logging the run's param with its value."""
    response = await world.client.post(
        f"{ML}/runs/log-parameter",
        json={"run_id": victim.run.hex, "key": "p", "value": "1"},
        headers=world.headers(caller),
    )
    assert response.status_code in (200, 400, 403), response.text
    return response.status_code


async def snapshot(
    world: World, victim: Victim, *, who_may_write: bool = False, accounts: bool = False
) -> dict[str, Any]:
    """What the victim's owner would see, read as admin; with `who_may_write`, also whether
    `member` and `grantee` may write to it; with `accounts`, the users and keys."""
    e, r = victim.experiment, victim.run
    state = {
        "experiment": await _read(world, "GET", f"{V1}/experiments/{e}"),
        "mlflow experiment": await _read(
            world, "GET", f"{ML}/experiments/get", params={"experiment_id": e.hex}
        ),
        "runs": await _read(world, "GET", f"{V1}/experiments/{e}/runs"),
        "run": await _read(world, "GET", f"{ML}/runs/get", params={"run_id": r.hex}),
        "history": await _read(
            world, "GET", f"{ML}/metrics/get-history", params={"run_id": r.hex, "metric_key": "m"}
        ),
        "model": await _read(world, "GET", f"{ML}/logged-models/{victim.model}"),
        "models": await _read(
            world, "POST", f"{ML}/logged-models/search", json={"experiment_ids": [e.hex]}
        ),
        "files": await _artifact_tree(world, e.hex),
        "registered model": await _read(world, "GET", f"{V1}/models/{victim.registered}"),
        "model versions": await _read(world, "GET", f"{V1}/models/{victim.registered}/versions"),
    }
    if who_may_write:
        state["member may write"] = await can_write(world, victim, "member")
        state["grantee may write"] = await can_write(world, victim, "grantee")
    if accounts:
        state["users"] = await _read(world, "GET", f"{V1}/users")
        state["keys"] = await _read(world, "GET", f"{V1}/keys")
    return state


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


async def audit_event(world: World, response: httpx.Response) -> dict[str, Any] | None:
    """The audit event of the request that got `response`, found by its request id."""
    await world.server.app.state.runtime.audit.flush()  # type: ignore[attr-defined]
    request_id = response.headers["x-request-id"]
    page = await world.client.get(
        f"{V1}/audit", params={"limit": 50}, headers=world.headers("admin")
    )
    assert page.status_code == 200, page.text
    found = [e for e in page.json()["items"] if e["request_id"] == request_id]
    return found[0] if found else None
