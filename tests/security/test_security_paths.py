"""Artifact paths in every spelling, paths that belong to no run, malformed paths, and
writes whose path merely ends in a read's name (`search`, `metrics/history`)."""

import uuid

import pytest

from tests.security.builders import BUILDERS, Builder, prepared_victim, victim_snapshot
from tests.security.world import (
    ARTIFACTS,
    MODEL_FILE,
    SIGNED_IN,
    V1,
    Call,
    Victim,
    World,
    audit_event,
    changes,
    send,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUT_FILE = BUILDERS[("PUT", f"{ARTIFACTS}/{{path}}")]
# How a path under /mlflow-artifacts/artifacts/ can be spelled; {p} is the canonical path.
EQUIVALENT = {
    "./": "./{p}",
    ".//": ".//{p}",
    "%2e/": "%2e/{p}",
    "%2E%2F": "%2E%2F{p}",
    "inner ./": "{e}/./{r}/artifacts/./{f}",
    "inner //": "{e}//{r}/artifacts//{f}",
}
SUSPICIOUS = {  # may be refused as malformed (400) even for the owner
    "//": "//{p}",
    "a/../": "a/../{p}",
    "a/%2e%2e/": "a/%2e%2e/{p}",
    "backslashes": "{e}\\{r}\\artifacts\\{f}",
    "%5C": "{e}%5C{r}%5Cartifacts%5C{f}",
}
TARGETS = {  # what the member goes for: (method, canonical path, file name)
    "overwrite model.pkl": ("PUT", "{e}/{r}/artifacts/model.pkl", "model.pkl"),
    "delete model.pkl": ("DELETE", "{e}/{r}/artifacts/model.pkl", "model.pkl"),
    "delete the run's files": ("DELETE", "{e}/{r}", ""),
    "delete the experiment's files": ("DELETE", "{e}", ""),
}


def spelled(template: str, canonical: str, file: str, victim: Victim) -> str:
    e, r = victim.experiment.hex, victim.run.hex
    path = canonical.format(e=e, r=r)
    if "{f}" in template and not file:
        return path
    return template.format(p=path, e=e, r=r, f=file)


async def attempt(world: World, victim: Victim, call: Call, caller: str) -> list[str]:
    before = await victim_snapshot(world, PUT_FILE, victim)
    response = await send(world, call, caller)
    changed = changes(before, await victim_snapshot(world, PUT_FILE, victim))
    return [f"{response.status_code} {changed}"] if response.is_success or changed else []


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("spelling", [*EQUIVALENT, *SUSPICIOUS])
async def test_a_spelled_artifact_path_is_checked(world: World, spelling: str, target: str) -> None:
    method, canonical, file = TARGETS[target]
    template = {**EQUIVALENT, **SUSPICIOUS}[spelling]
    victim = await prepared_victim(world, PUT_FILE)
    path = f"{ARTIFACTS}/{spelled(template, canonical, file, victim)}"
    call = Call(method, path, content=b"evil" if method == "PUT" else None)
    leaks = await attempt(world, victim, call, "member")
    assert leaks == [], f"the member could {target} as {path}: {leaks}"


@pytest.mark.parametrize("spelling", list(EQUIVALENT))
async def test_the_owner_writes_through_an_equivalent_spelling(world: World, spelling: str) -> None:
    victim = await prepared_victim(world, PUT_FILE)
    path = spelled(EQUIVALENT[spelling], "{e}/{r}/artifacts/model.pkl", "model.pkl", victim)
    response = await send(world, Call("PUT", f"{ARTIFACTS}/{path}", content=b"new"), "owner")
    assert response.is_success, response.text
    stored = await world.client.get(
        f"{ARTIFACTS}/{victim.experiment.hex}/{victim.run.hex}/artifacts/model.pkl",
        headers=world.headers("owner"),
    )
    assert stored.content == b"new"


V1_SPELLINGS = ["./model.pkl", ".//model.pkl", "%2e/model.pkl", "%2E%2Fmodel.pkl", "//model.pkl"]
V1_SPELLINGS += ["a/../model.pkl", "a/%2e%2e/model.pkl", "a\\..\\model.pkl", "x//model.pkl"]


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("relative", V1_SPELLINGS)
async def test_a_spelled_v1_artifact_path_is_checked(
    world: World, relative: str, method: str
) -> None:
    victim = await prepared_victim(world, PUT_FILE)
    path = f"{V1}/runs/{victim.run}/artifacts/{relative}"
    call = Call(method, path, content=b"evil" if method == "PUT" else None)
    assert await attempt(world, victim, call, "member") == []


ORPHANS = {
    "an invented run in the owner's experiment": "{e}/" + uuid.uuid4().hex + "/artifacts/x.txt",
    "an invented model in the owner's experiment": "{e}/models/m-" + uuid.uuid4().hex + "/x.txt",
    "the owner's model": "{e}/models/{m}/artifacts/evil.txt",
    "the top level": "loose-" + uuid.uuid4().hex + ".txt",
    "an invented experiment": uuid.uuid4().hex + "/" + uuid.uuid4().hex + "/artifacts/x",
}


@pytest.mark.parametrize("where", list(ORPHANS))
async def test_a_path_of_no_run_the_member_owns_is_refused(world: World, where: str) -> None:
    victim = await prepared_victim(world, PUT_FILE)
    path = ORPHANS[where].format(e=victim.experiment.hex, m=victim.model)
    response = await send(world, Call("PUT", f"{ARTIFACTS}/{path}", content=b"evil"), "member")
    assert not response.is_success, f"{response.status_code}: stored at {path}"
    stored = await world.client.get(f"{ARTIFACTS}/{path}", headers=world.headers("admin"))
    assert stored.status_code == 404


MALFORMED = {
    "NUL": "{e}/{r}/artifacts/%00evil",
    "NUL alone": "%00",
    "../ above the root": "%2e%2e/%2e%2e/evil-{u}",
    "..%2F above the root": "{e}/{r}/artifacts/..%2F..%2F..%2F..%2Fevil-{u}",
    "raw ../ above the root": "{e}/{r}/artifacts/../../../../evil-{u}",
}
REFUSED_BEFORE_THE_PATH = {"none": (401, 400), "viewer": (403, 400), "member": (403, 400)}


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("api", ["mlflow-artifacts", "v1"])
@pytest.mark.parametrize("malformed", list(MALFORMED))
async def test_a_malformed_path_is_a_400(
    world: World, malformed: str, api: str, method: str
) -> None:
    """400 for every caller allowed to write there (v1 answers invalid input with its 422);
    the others may be refused first. Never a success, never a 5xx."""
    victim = await prepared_victim(world, PUT_FILE)
    got: dict[str, int] = {}
    for caller in ("none", *SIGNED_IN):
        relative = MALFORMED[malformed].format(
            e=victim.experiment.hex, r=victim.run.hex, u=uuid.uuid4().hex
        )
        if api == "v1":
            relative = relative.split("/artifacts/")[-1]
        base = f"{V1}/runs/{victim.run}/artifacts" if api == "v1" else ARTIFACTS
        call = Call(method, f"{base}/{relative}", content=b"evil" if method == "PUT" else None)
        got[caller] = (await send(world, call, caller)).status_code
    invalid = (400, 422) if api == "v1" else (400,)
    allowed = {c: (*REFUSED_BEFORE_THE_PATH.get(c, ()), *invalid) for c in got}
    expected = {c: got[c] if got[c] in allowed[c] else invalid[0] for c in got}
    assert got == expected
    top = await world.client.get(ARTIFACTS, params={"path": ""}, headers=world.headers("admin"))
    assert not [f for f in top.json().get("files", []) if f["path"].startswith("evil")]
    model = await world.client.get(
        f"{ARTIFACTS}/{victim.experiment.hex}/{victim.run.hex}/artifacts/model.pkl",
        headers=world.headers("admin"),
    )
    assert model.content == MODEL_FILE


SEARCH_LIKE = {  # writes whose path ends like a read's
    "PUT v1 tag search": lambda v: Call("PUT", f"{V1}/runs/{v.run}/tags/search", {"value": "x"}),
    "PUT v1 tag get-history-bulk-interval": lambda v: Call(
        "PUT", f"{V1}/runs/{v.run}/tags/get-history-bulk-interval", {"value": "x"}
    ),
    "DELETE v1 tag search": lambda v: Call("DELETE", f"{V1}/runs/{v.run}/tags/search"),
    "PUT v1 file search": lambda v: Call(
        "PUT", f"{V1}/runs/{v.run}/artifacts/search", content=b"x"
    ),
    "PUT v1 file metrics/history": lambda v: Call(
        "PUT", f"{V1}/runs/{v.run}/artifacts/metrics/history", content=b"x"
    ),
    "DELETE v1 file search": lambda v: Call("DELETE", f"{V1}/runs/{v.run}/artifacts/search"),
    "PUT mlflow file search": lambda v: Call(
        "PUT", f"{ARTIFACTS}/{v.experiment.hex}/{v.run.hex}/artifacts/search", content=b"x"
    ),
    "PUT mlflow file metrics/history": lambda v: Call(
        "PUT",
        f"{ARTIFACTS}/{v.experiment.hex}/{v.run.hex}/artifacts/metrics/history",
        content=b"x",
    ),
    "DELETE mlflow file search": lambda v: Call(
        "DELETE", f"{ARTIFACTS}/{v.experiment.hex}/{v.run.hex}/artifacts/search"
    ),
    "DELETE model tag search": lambda v: Call(
        "DELETE", f"/api/2.0/mlflow/logged-models/{v.model}/tags/search"
    ),
}


async def ui_cookie(world: World, caller: str) -> dict[str, str]:
    """The UI's session cookie of `caller`, as POST /ui/session sets it."""
    signed = await world.client.post("/ui/session", json={"key": world.keys[caller]})
    assert signed.status_code == 200, signed.text
    value = signed.cookies["mltrail_key"]
    world.client.cookies.clear()  # the shared client must stay without credentials
    return {"Cookie": f"mltrail_key={value}"}


@pytest.mark.parametrize("case", list(SEARCH_LIKE))
async def test_a_write_ending_in_search_is_a_write(world: World, case: str) -> None:
    builder: Builder = PUT_FILE
    make = SEARCH_LIKE[case]
    victim = await prepared_victim(world, builder)
    before = await victim_snapshot(world, builder, victim)
    outcome: dict[str, object] = {}
    for caller in ("viewer", "member"):
        response = await send(world, make(victim), caller)
        event = await audit_event(world, response)
        after = await victim_snapshot(world, builder, victim)
        outcome[caller] = (response.status_code in (403, 404), changes(before, after), bool(event))
    response = await send(world, make(victim), "none", headers=await ui_cookie(world, "owner"))
    after = await victim_snapshot(world, builder, victim)
    outcome["owner's cookie without X-Requested-With"] = (
        response.status_code == 403,
        changes(before, after),
        True,
    )
    response = await send(world, make(victim), "owner")
    event = await audit_event(world, response)
    outcome["owner"] = (
        response.is_success,
        bool(changes(before, await victim_snapshot(world, builder, victim))),
        bool(event),
    )
    assert outcome == {
        "viewer": (True, [], True),
        "member": (True, [], True),
        "owner's cookie without X-Requested-With": (True, [], True),
        "owner": (True, True, True),
    }
