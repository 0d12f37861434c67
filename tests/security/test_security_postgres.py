"""A few of the attacks again on PostgreSQL with Redis (and SQLite), through the `backend`
fixture: a server of its own per test."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import Backend, stop_server
from tests.security.builders import BUILDERS, EXPECTED, OK, prepared_victim, victim_snapshot
from tests.security.conftest import secured_world
from tests.security.world import ARTIFACTS, CALLERS, ML, V1, Call, World, changes, send

ROUTES = [
    ("POST", f"{ML}/runs/update"),
    ("PUT", f"{ARTIFACTS}/{{path}}"),
    ("POST", f"{V1}/experiments/{{experiment_id}}/grants"),
]


@pytest.fixture
async def backend_world(backend: Backend, tmp_path: Path) -> AsyncIterator[World]:
    server, world = await secured_world(backend, tmp_path / "artifacts")
    yield world
    await stop_server(server)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
async def test_each_caller_gets_what_the_rule_says(
    backend_world: World, route: tuple[str, str]
) -> None:
    world, builder = backend_world, BUILDERS[route]
    got: dict[str, bool] = {}
    seen: dict[str, tuple[int, list[str]]] = {}  # what each caller got, shown on a failure
    for caller in CALLERS:
        victim = await prepared_victim(world, builder)
        before = await victim_snapshot(world, builder, victim)
        response = await send(world, builder.build(victim.ids()), caller)
        changed = changes(before, await victim_snapshot(world, builder, victim))
        expected = EXPECTED[builder.rule][caller]
        got[caller] = (
            response.is_success and bool(changed)
            if expected == OK
            else response.status_code in expected and not changed
        )
        seen[caller] = (response.status_code, changed)
    assert got == dict.fromkeys(CALLERS, True), f"status and what changed, by caller: {seen}"


async def test_spelled_attacks_are_refused(backend_world: World) -> None:
    world = backend_world
    update = BUILDERS[("POST", f"{ML}/runs/update")]
    victim = await prepared_victim(world, update)
    before = await victim_snapshot(world, update, victim)
    e, r = victim.experiment.hex, victim.run.hex
    attempts = {
        "Application/JSON": (update.build(victim.ids()), "Application/JSON"),
        "./ path": (Call("PUT", f"{ARTIFACTS}/./{e}/{r}/artifacts/model.pkl", content=b"x"), None),
        "tags/search": (Call("PUT", f"{V1}/runs/{victim.run}/tags/search", {"value": "x"}), None),
    }
    leaks = []
    for name, (call, media) in attempts.items():
        response = await send(world, call, "member", content_type=media or "application/json")
        if response.is_success:
            leaks.append(f"{name}: {response.status_code}")
    assert leaks == []
    assert changes(before, await victim_snapshot(world, update, victim)) == []
