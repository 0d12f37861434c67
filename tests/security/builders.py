"""Request builders, one per write route of the route table, and the rule each route follows.

The suite's cases are generated from the app's own route table (`write_routes`), so a new
write route shows up as a case at once, and fails with "add a request builder for ..." until
a builder is added here. A builder makes a valid request that changes something its victim's
owner would notice.
"""

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache

from mltrail_server.config import Settings
from mltrail_server.main import create_app
from tests.security.world import (
    ARTIFACTS,
    ARTIFACTS_API,
    ML,
    V1,
    Call,
    Ids,
    Victim,
    World,
    make_victim,
    snapshot,
)

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
AJAX = "/ajax-api/2.0/mlflow"  # MLflow's UI paths: aliases of reads, the same rules
# POSTs that only read: searches and history queries, by route (not by the text of a path).
READ_ONLY_POSTS = frozenset(
    {
        ("POST", f"{ML}/runs/search"),
        ("POST", f"{ML}/experiments/search"),
        ("POST", f"{ML}/logged-models/search"),
        ("POST", f"{ML}/metrics/get-history-bulk-interval"),
        ("POST", f"{AJAX}/runs/search"),
        ("POST", f"{AJAX}/experiments/search"),
        ("POST", f"{AJAX}/logged-models/search"),
        ("POST", f"{AJAX}/experiments/search-datasets"),
        ("POST", f"{ML}/registered-models/get-latest-versions"),
        ("POST", f"{V1}/runs/search"),
        ("POST", f"{V1}/metrics/history"),
        # MLflow's UI's GraphQL: its schema has queries only (test_security_graphql.py).
        ("POST", "/graphql"),
    }
)
# Writes outside the permission model, with the reason.
EXEMPT = {
    ("POST", "/ui/session"): "the UI's sign-in: it takes the key to check in its body",
    ("DELETE", "/ui/session"): "the UI's sign-out: it only tells the browser to drop a cookie",
    ("PUT", f"{ARTIFACTS_API}/mpu/part/{{upload_id}}/{{part_number}}/{{path}}"): (
        "a multipart upload's part: the random upload id that mpu/create handed out after its "
        "permission check is the capability, as a presigned URL's signature is"
    ),
}


class Rule(StrEnum):
    OWNED = "owner, grantee or admin"  # writes to the victim's experiment, run, model, files
    GRANTS = "owner or admin"  # who may write to the victim's experiment
    ADMIN = "admin only"
    CREATE = "any member"  # creates something new, no victim


class Prepare(StrEnum):
    NOTHING = "nothing"
    DELETE_EXPERIMENT = "delete the experiment"
    DELETE_RUN = "delete the run"
    START_UPLOAD = "start a multipart upload into the run"


# The upload id the owner's mpu/create gave for each prepared victim's run (by run id).
UPLOADS: dict[str, str] = {}
MPU = f"{ARTIFACTS_API}/mpu"


def _upload_of(ids: Ids) -> str:
    """The upload started for this victim's run, in whatever spelling its id is sent."""
    try:
        run = uuid.UUID(ids.run).hex
    except ValueError:
        return ""  # a probe of the builder's shape, not a request
    return UPLOADS.get(run, "")


def _mpu(action: str, extra: Callable[[Ids], dict[str, object]]) -> Callable[[Ids], Call]:
    return lambda i: Call(
        "POST",
        f"{MPU}/{action}/{i.experiment}/{i.run}/artifacts",
        json={"path": "/home/u/big.bin", **extra(i)},
    )


@dataclass(frozen=True)
class Builder:
    method: str
    template: str
    rule: Rule
    build: Callable[[Ids], Call]
    prepare: Prepare = Prepare.NOTHING
    visible: bool = True  # a success changes the victim's snapshot

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.template)

    @property
    def label(self) -> str:
        return f"{self.method} {self.template}"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _ml(path: str, body: Callable[[Ids], dict[str, object]]) -> Callable[[Ids], Call]:
    return lambda i: Call("POST", f"{ML}{path}", json=body(i))


E = f"{V1}/experiments/{{experiment_id}}"
R = f"{V1}/runs/{{run_id}}"
M = f"{ML}/logged-models/{{model_id}}"
U = f"{V1}/users/{{user_id}}"
RM = f"{V1}/models/{{name}}"
RV = f"{RM}/versions/{{version}}"


def _rm(i: Ids, rest: str = "") -> str:
    return f"{V1}/models/{i.registered}{rest}"


def _registry(method: str, path: str, body: Callable[[Ids], dict[str, object]]) -> Builder:
    """An MLflow registry write on the victim's registered model (body names it)."""
    return Builder(
        method,
        f"{ML}{path}",
        Rule.OWNED,
        lambda i: Call(method, f"{ML}{path}", json={"name": i.registered, **body(i)}),
    )


def _v1_registry(method: str, template: str, rest: str, body: object = None) -> Builder:
    return Builder(method, template, Rule.OWNED, lambda i: Call(method, _rm(i, rest), json=body))


_ALL = [
    # -- /api/v1 ------------------------------------------------------------------------------
    Builder(
        "POST",
        f"{V1}/experiments",
        Rule.CREATE,
        lambda i: Call("POST", f"{V1}/experiments", json={"name": _name("new")}),
    ),
    Builder(
        "PATCH",
        E,
        Rule.OWNED,
        lambda i: Call("PATCH", f"{V1}/experiments/{i.experiment}", json={"description": "evil"}),
    ),
    Builder("DELETE", E, Rule.OWNED, lambda i: Call("DELETE", f"{V1}/experiments/{i.experiment}")),
    Builder(
        "POST",
        f"{E}/restore",
        Rule.OWNED,
        lambda i: Call("POST", f"{V1}/experiments/{i.experiment}/restore"),
        Prepare.DELETE_EXPERIMENT,
    ),
    Builder(
        "POST",
        f"{E}/runs",
        Rule.OWNED,
        lambda i: Call("POST", f"{V1}/experiments/{i.experiment}/runs", json={}),
    ),
    Builder(
        "POST",
        f"{E}/grants",
        Rule.GRANTS,
        lambda i: Call(
            "POST", f"{V1}/experiments/{i.experiment}/grants", json={"user_id": i.member}
        ),
    ),
    Builder(
        "DELETE",
        f"{E}/grants/{{user_id}}",
        Rule.GRANTS,
        lambda i: Call("DELETE", f"{V1}/experiments/{i.experiment}/grants/{i.grantee}"),
    ),
    Builder(
        "PATCH",
        R,
        Rule.OWNED,
        lambda i: Call("PATCH", f"{V1}/runs/{i.run}", json={"status": "failed"}),
    ),
    Builder("DELETE", R, Rule.OWNED, lambda i: Call("DELETE", f"{V1}/runs/{i.run}")),
    Builder(
        "POST",
        f"{R}/restore",
        Rule.OWNED,
        lambda i: Call("POST", f"{V1}/runs/{i.run}/restore"),
        Prepare.DELETE_RUN,
    ),
    Builder(
        "POST",
        f"{R}/batch",
        Rule.OWNED,
        lambda i: Call(
            "POST", f"{V1}/runs/{i.run}/batch", json={"metrics": [{"key": "m", "value": 42}]}
        ),
    ),
    Builder(
        "POST",
        f"{R}/metrics",
        Rule.OWNED,
        lambda i: Call("POST", f"{V1}/runs/{i.run}/metrics", json={"key": "m", "value": 42}),
    ),
    Builder(
        "POST",
        f"{R}/params",
        Rule.OWNED,
        lambda i: Call("POST", f"{V1}/runs/{i.run}/params", json={"key": "p2", "value": "evil"}),
    ),
    Builder(
        "PUT",
        f"{R}/tags/{{key}}",
        Rule.OWNED,
        lambda i: Call("PUT", f"{V1}/runs/{i.run}/tags/t", json={"value": "evil"}),
    ),
    Builder(
        "DELETE",
        f"{R}/tags/{{key}}",
        Rule.OWNED,
        lambda i: Call("DELETE", f"{V1}/runs/{i.run}/tags/t"),
    ),
    Builder(
        "PUT",
        f"{R}/artifacts/{{path}}",
        Rule.OWNED,
        lambda i: Call("PUT", f"{V1}/runs/{i.run}/artifacts/model.pkl", content=b"evil"),
    ),
    Builder(
        "DELETE",
        f"{R}/artifacts/{{path}}",
        Rule.OWNED,
        lambda i: Call("DELETE", f"{V1}/runs/{i.run}/artifacts/model.pkl"),
    ),
    Builder(
        "POST",
        f"{V1}/users",
        Rule.ADMIN,
        lambda i: Call("POST", f"{V1}/users", json={"name": _name("u")}),
    ),
    Builder(
        "POST",
        f"{U}/keys",
        Rule.ADMIN,
        lambda i: Call("POST", f"{V1}/users/{i.user}/keys", json={"name": "evil"}),
    ),
    Builder(
        "DELETE",
        f"{V1}/keys/{{key_id}}",
        Rule.ADMIN,
        lambda i: Call("DELETE", f"{V1}/keys/{i.key}"),
    ),
    # The user routes being added (disable, enable, role, delete); shaped on
    # mltrail_server/models/auth.py's UserUpdate. A route that lands with another shape fails
    # until its builder is fixed.
    Builder(
        "PATCH",
        U,
        Rule.ADMIN,
        lambda i: Call("PATCH", f"{V1}/users/{i.user}", json={"role": "viewer"}),
    ),
    Builder("DELETE", U, Rule.ADMIN, lambda i: Call("DELETE", f"{V1}/users/{i.user}")),
    Builder(
        "POST", f"{U}/disable", Rule.ADMIN, lambda i: Call("POST", f"{V1}/users/{i.user}/disable")
    ),
    Builder(
        "POST",
        f"{U}/enable",
        Rule.ADMIN,
        lambda i: Call("POST", f"{V1}/users/{i.user}/enable"),
        visible=False,  # the spare user is enabled already
    ),
    Builder(
        "PUT",
        f"{U}/role",
        Rule.ADMIN,
        lambda i: Call("PUT", f"{V1}/users/{i.user}/role", json={"role": "viewer"}),
    ),
    # -- /api/v1 model registry ----------------------------------------------------------------
    Builder(
        "POST",
        f"{V1}/models",
        Rule.CREATE,
        lambda i: Call("POST", f"{V1}/models", json={"name": _name("model")}),
    ),
    _v1_registry("PATCH", RM, "", {"description": "evil"}),
    _v1_registry("DELETE", RM, ""),
    _v1_registry("PUT", f"{RM}/tags/{{key}}", "/tags/k", {"value": "evil"}),
    _v1_registry("DELETE", f"{RM}/tags/{{key}}", "/tags/k"),
    _v1_registry("PUT", f"{RM}/aliases/{{alias}}", "/aliases/evil", {"version": 1}),
    _v1_registry("DELETE", f"{RM}/aliases/{{alias}}", "/aliases/champion"),
    _v1_registry("POST", f"{RM}/versions", "/versions", {"source": "s3://evil/model"}),
    _v1_registry("PATCH", RV, "/versions/1", {"description": "evil"}),
    _v1_registry("DELETE", RV, "/versions/1"),
    _v1_registry("PUT", f"{RV}/tags/{{key}}", "/versions/1/tags/k", {"value": "evil"}),
    _v1_registry("DELETE", f"{RV}/tags/{{key}}", "/versions/1/tags/k"),
    # Who may write to a model is not in the snapshot: a grant changes nothing it shows.
    Builder(
        "POST",
        f"{RM}/grants",
        Rule.GRANTS,
        lambda i: Call("POST", _rm(i, "/grants"), json={"user_id": i.member}),
        visible=False,
    ),
    Builder(
        "DELETE",
        f"{RM}/grants/{{user_id}}",
        Rule.GRANTS,
        lambda i: Call("DELETE", _rm(i, f"/grants/{i.grantee}")),
        visible=False,
    ),
    # -- MLflow model registry ----------------------------------------------------------------
    Builder(
        "POST",
        f"{ML}/registered-models/create",
        Rule.CREATE,
        _ml("/registered-models/create", lambda i: {"name": _name("model")}),
    ),
    _registry("POST", "/registered-models/rename", lambda i: {"new_name": _name("renamed")}),
    _registry("PATCH", "/registered-models/update", lambda i: {"description": "evil"}),
    _registry("DELETE", "/registered-models/delete", lambda i: {}),
    _registry("POST", "/registered-models/set-tag", lambda i: {"key": "k", "value": "evil"}),
    _registry("DELETE", "/registered-models/delete-tag", lambda i: {"key": "k"}),
    _registry("POST", "/registered-models/alias", lambda i: {"alias": "evil", "version": "1"}),
    _registry("DELETE", "/registered-models/alias", lambda i: {"alias": "champion"}),
    _registry("POST", "/model-versions/create", lambda i: {"source": "s3://evil/model"}),
    _registry("PATCH", "/model-versions/update", lambda i: {"version": "1", "description": "e"}),
    _registry(
        "POST", "/model-versions/transition-stage", lambda i: {"version": "1", "stage": "Archived"}
    ),
    _registry("DELETE", "/model-versions/delete", lambda i: {"version": "1"}),
    _registry(
        "POST", "/model-versions/set-tag", lambda i: {"version": "1", "key": "k", "value": "evil"}
    ),
    _registry("DELETE", "/model-versions/delete-tag", lambda i: {"version": "1", "key": "k"}),
    # A collection purges the victim's deleted run for good: admins only.
    Builder(
        "POST",
        f"{V1}/admin/gc",
        Rule.ADMIN,
        lambda i: Call("POST", f"{V1}/admin/gc", json={"run_ids": [i.run]}),
        Prepare.DELETE_RUN,
    ),
    # An import rewrites the victim's run as given (its name, status, times): admins only.
    Builder(
        "POST",
        f"{V1}/import/runs",
        Rule.ADMIN,
        lambda i: Call(
            "POST",
            f"{V1}/import/runs",
            json={
                "id": i.run,
                "experiment_id": i.experiment,
                "name": "evil",
                "status": "failed",
                "started_at": "2001-01-01T00:00:00Z",
            },
        ),
    ),
    # An import rewrites the victim's logged model, or its registered model's description
    # and version 1, as given: admins only.
    Builder(
        "POST",
        f"{V1}/import/logged-models",
        Rule.ADMIN,
        lambda i: Call(
            "POST",
            f"{V1}/import/logged-models",
            json={
                "id": i.model,
                "experiment_id": i.experiment,
                "name": "evil",
                "status": "FAILED",
                "created_at": "2001-01-01T00:00:00Z",
                "updated_at": "2001-01-01T00:00:00Z",
            },
        ),
    ),
    Builder(
        "POST",
        f"{V1}/import/registered-models",
        Rule.ADMIN,
        lambda i: Call(
            "POST",
            f"{V1}/import/registered-models",
            json={
                "name": i.registered,
                "description": "evil",
                "versions": [
                    {
                        "version": 1,
                        "source": "s3://evil/model",
                        "created_at": "2001-01-01T00:00:00Z",
                        "updated_at": "2001-01-01T00:00:00Z",
                    }
                ],
                "created_at": "2001-01-01T00:00:00Z",
                "updated_at": "2001-01-01T00:00:00Z",
            },
        ),
    ),
    # -- MLflow -------------------------------------------------------------------------------
    Builder(
        "POST",
        f"{ML}/experiments/create",
        Rule.CREATE,
        _ml("/experiments/create", lambda i: {"name": _name("new")}),
    ),
    Builder(
        "POST",
        f"{ML}/experiments/update",
        Rule.OWNED,
        _ml(
            "/experiments/update",
            lambda i: {"experiment_id": i.experiment, "new_name": _name("renamed")},
        ),
    ),
    Builder(
        "POST",
        f"{ML}/experiments/delete",
        Rule.OWNED,
        _ml("/experiments/delete", lambda i: {"experiment_id": i.experiment}),
    ),
    Builder(
        "POST",
        f"{ML}/experiments/restore",
        Rule.OWNED,
        _ml("/experiments/restore", lambda i: {"experiment_id": i.experiment}),
        Prepare.DELETE_EXPERIMENT,
    ),
    Builder(
        "POST",
        f"{ML}/experiments/set-experiment-tag",
        Rule.OWNED,
        _ml(
            "/experiments/set-experiment-tag",
            lambda i: {"experiment_id": i.experiment, "key": "k", "value": "evil"},
        ),
    ),
    Builder(
        "POST",
        f"{ML}/experiments/delete-experiment-tag",
        Rule.OWNED,
        _ml(
            "/experiments/delete-experiment-tag",
            lambda i: {"experiment_id": i.experiment, "key": "k"},
        ),
    ),
    Builder(
        "POST",
        f"{ML}/runs/create",
        Rule.OWNED,
        _ml("/runs/create", lambda i: {"experiment_id": i.experiment}),
    ),
    Builder(
        "POST",
        f"{ML}/runs/update",
        Rule.OWNED,
        _ml("/runs/update", lambda i: {"run_id": i.run, "status": "KILLED", "run_name": "pwned"}),
    ),
    Builder(
        "POST", f"{ML}/runs/delete", Rule.OWNED, _ml("/runs/delete", lambda i: {"run_id": i.run})
    ),
    Builder(
        "POST",
        f"{ML}/runs/restore",
        Rule.OWNED,
        _ml("/runs/restore", lambda i: {"run_id": i.run}),
        Prepare.DELETE_RUN,
    ),
    Builder(
        "POST",
        f"{ML}/runs/log-metric",
        Rule.OWNED,
        _ml(
            "/runs/log-metric",
            lambda i: {"run_id": i.run, "key": "m", "value": 42, "timestamp": 2, "step": 1},
        ),
    ),
    Builder(
        "POST",
        f"{ML}/runs/log-parameter",
        Rule.OWNED,
        _ml("/runs/log-parameter", lambda i: {"run_id": i.run, "key": "p2", "value": "evil"}),
    ),
    Builder(
        "POST",
        f"{ML}/runs/log-batch",
        Rule.OWNED,
        _ml(
            "/runs/log-batch",
            lambda i: {
                "run_id": i.run,
                "params": [{"key": "p3", "value": "evil"}],
                "tags": [{"key": "t", "value": "evil"}],
            },
        ),
    ),
    Builder(
        "POST",
        f"{ML}/runs/set-tag",
        Rule.OWNED,
        _ml("/runs/set-tag", lambda i: {"run_id": i.run, "key": "t", "value": "evil"}),
    ),
    Builder(
        "POST",
        f"{ML}/runs/delete-tag",
        Rule.OWNED,
        _ml("/runs/delete-tag", lambda i: {"run_id": i.run, "key": "t"}),
    ),
    Builder(
        "POST",
        f"{ML}/runs/log-inputs",
        Rule.OWNED,
        _ml(
            "/runs/log-inputs",
            lambda i: {
                "run_id": i.run,
                "datasets": [
                    {
                        "dataset": {
                            "name": "evil",
                            "digest": "d",
                            "source_type": "local",
                            "source": "s",
                        }
                    }
                ],
            },
        ),
    ),
    Builder(
        "POST",
        f"{ML}/runs/outputs",
        Rule.OWNED,
        _ml("/runs/outputs", lambda i: {"run_id": i.run, "models": [{"model_id": i.model}]}),
    ),
    Builder(
        "POST",
        f"{ML}/runs/log-model",
        Rule.OWNED,
        _ml(
            "/runs/log-model",
            lambda i: {"run_id": i.run, "model_json": json.dumps({"artifact_path": "evil"})},
        ),
    ),
    Builder(
        "POST",
        f"{ML}/logged-models",
        Rule.OWNED,
        _ml("/logged-models", lambda i: {"experiment_id": i.experiment, "name": "evil"}),
    ),
    Builder(
        "PATCH",
        M,
        Rule.OWNED,
        lambda i: Call(
            "PATCH", f"{ML}/logged-models/{i.model}", json={"status": "LOGGED_MODEL_READY"}
        ),
    ),
    Builder("DELETE", M, Rule.OWNED, lambda i: Call("DELETE", f"{ML}/logged-models/{i.model}")),
    Builder(
        "PATCH",
        f"{M}/tags",
        Rule.OWNED,
        lambda i: Call(
            "PATCH",
            f"{ML}/logged-models/{i.model}/tags",
            json={"tags": [{"key": "a", "value": "evil"}]},
        ),
    ),
    Builder(
        "DELETE",
        f"{M}/tags/{{key}}",
        Rule.OWNED,
        lambda i: Call("DELETE", f"{ML}/logged-models/{i.model}/tags/a"),
    ),
    Builder(
        "POST",
        f"{M}/params",
        Rule.OWNED,
        lambda i: Call(
            "POST",
            f"{ML}/logged-models/{i.model}/params",
            json={"params": [{"key": "x", "value": "evil"}]},
        ),
    ),
    Builder(
        "PUT",
        f"{ARTIFACTS}/{{path}}",
        Rule.OWNED,
        lambda i: Call(
            "PUT", f"{ARTIFACTS}/{i.experiment}/{i.run}/artifacts/model.pkl", content=b"evil"
        ),
    ),
    Builder(
        "DELETE",
        f"{ARTIFACTS}/{{path}}",
        Rule.OWNED,
        lambda i: Call("DELETE", f"{ARTIFACTS}/{i.experiment}/{i.run}/artifacts/model.pkl"),
    ),
    # Starting an upload shows nothing until it completes.
    Builder(
        "POST",
        f"{MPU}/create/{{path}}",
        Rule.OWNED,
        _mpu("create", lambda i: {"num_parts": 1}),
        visible=False,
    ),
    Builder(
        "POST",
        f"{MPU}/complete/{{path}}",
        Rule.OWNED,
        _mpu(
            "complete",
            lambda i: {"upload_id": _upload_of(i), "parts": [{"part_number": 1}]},
        ),
        prepare=Prepare.START_UPLOAD,
    ),
    Builder(
        "POST",
        f"{MPU}/abort/{{path}}",
        Rule.OWNED,
        _mpu("abort", lambda i: {"upload_id": _upload_of(i)}),
        prepare=Prepare.START_UPLOAD,
        visible=False,
    ),
]
# MLflow's UI upload: the run and path in the query string, the file as the raw body.
_ALL.append(
    Builder(
        "POST",
        f"{AJAX}/upload-artifact",
        Rule.OWNED,
        lambda i: Call(
            "POST",
            f"{AJAX}/upload-artifact",
            content=b"evil",
            query={"run_uuid": i.run, "path": "model.pkl"},
            content_type="application/octet-stream",
        ),
    )
)
# The writes MLflow's UI sends under /ajax-api: the same routes, so the same builders there.
AJAX_WRITES = (
    "/experiments/create",
    "/experiments/update",
    "/experiments/delete",
    "/experiments/restore",
    "/experiments/set-experiment-tag",
    "/experiments/delete-experiment-tag",
    "/runs/create",
    "/runs/log-metric",
    "/runs/log-parameter",
    "/runs/update",
    "/runs/delete",
    "/runs/restore",
    "/runs/set-tag",
    "/runs/delete-tag",
)


def _under_ajax(builder: Builder) -> Builder:
    def build(i: Ids) -> Call:
        call = builder.build(i)
        return replace(call, path=AJAX + call.path.removeprefix(ML))

    return replace(builder, template=AJAX + builder.template.removeprefix(ML), build=build)


_BY_KEY = {builder.key: builder for builder in _ALL}
_ALL += [_under_ajax(_BY_KEY[("POST", f"{ML}{path}")]) for path in AJAX_WRITES]
BUILDERS = {builder.key: builder for builder in _ALL}


@cache
def route_table() -> tuple[tuple[str, str], ...]:
    """Every (method, route template) of the app, from its OpenAPI document."""
    settings = Settings(
        database_url=f"sqlite:///{os.devnull}", redis_url="", auth_enabled=True, log_level="WARNING"
    )
    paths = create_app(settings).openapi()["paths"]
    return tuple(
        (method.upper(), path) for path, operations in paths.items() for method in operations
    )


def write_routes() -> list[tuple[str, str]]:
    """The routes that write: any POST, PUT, PATCH or DELETE but the read-only POSTs."""
    return [
        route
        for route in route_table()
        if route[0] in WRITE_METHODS and route not in READ_ONLY_POSTS and route not in EXEMPT
    ]


def builder_for(route: tuple[str, str]) -> Builder:
    found = BUILDERS.get(route)
    if found is None:
        raise LookupError(f"add a request builder for {route[0]} {route[1]} in {__file__}")
    return found


OK = "2xx"
REFUSED = (403, 404)  # a route may hide what the caller may not write to
_WRITER = {"none": (401,), "viewer": (403,)}
EXPECTED: dict[Rule, dict[str, tuple[int, ...] | str]] = {
    Rule.OWNED: {**_WRITER, "member": REFUSED, "grantee": OK, "owner": OK, "admin": OK},
    Rule.GRANTS: {**_WRITER, "member": REFUSED, "grantee": REFUSED, "owner": OK, "admin": OK},
    Rule.ADMIN: {**_WRITER, "member": (403,), "grantee": (403,), "owner": (403,), "admin": OK},
    Rule.CREATE: {**_WRITER, "member": OK, "grantee": OK, "owner": OK, "admin": OK},
}


async def prepared_victim(world: World, builder: Builder, owner: str = "owner") -> Victim:
    """A fresh victim, in the state the builder's request needs (deleted, to restore it)."""
    victim = await make_victim(world, owner, spare=builder.rule is Rule.ADMIN)
    admin = world.headers("admin")
    if builder.prepare is Prepare.DELETE_EXPERIMENT:
        body: dict[str, str] = {"experiment_id": victim.experiment.hex}
        deleted = await world.client.post(f"{ML}/experiments/delete", json=body, headers=admin)
        assert deleted.status_code == 200, deleted.text
    if builder.prepare is Prepare.DELETE_RUN:
        body = {"run_id": victim.run.hex}
        deleted = await world.client.post(f"{ML}/runs/delete", json=body, headers=admin)
        assert deleted.status_code == 200, deleted.text
    if builder.prepare is Prepare.START_UPLOAD:
        owner_headers = world.headers(owner)
        started = await world.client.post(
            f"{MPU}/create/{victim.experiment.hex}/{victim.run.hex}/artifacts",
            json={"path": "big.bin", "num_parts": 1},
            headers=owner_headers,
        )
        assert started.status_code == 200, started.text
        credential = started.json()["credentials"][0]
        part = await world.client.put(credential["url"], content=b"evil part")
        assert part.status_code == 200, part.text
        UPLOADS[victim.run.hex] = started.json()["upload_id"]
    return victim


async def victim_snapshot(world: World, builder: Builder, victim: Victim) -> dict[str, object]:
    return await snapshot(
        world,
        victim,
        who_may_write=builder.rule is Rule.GRANTS,
        accounts=builder.rule is Rule.ADMIN,
    )
