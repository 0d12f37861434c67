"""Every write route of the route table, sent by every kind of caller against a victim owned
by `owner`: who succeeds, who is refused, that a refusal leaves the victim's data as it was,
and that every attempt by a signed-in caller is in the audit log.

Refused callers of one route share a victim while it stays intact; a caller who may write
gets a fresh one."""

import pytest

from tests.security.builders import (
    EXPECTED,
    OK,
    Builder,
    Rule,
    builder_for,
    prepared_victim,
    route_table,
    victim_snapshot,
    write_routes,
)
from tests.security.world import (
    CALLERS,
    ML,
    V1,
    Victim,
    World,
    audit_event,
    changes,
    send,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CASES = [(route, caller) for route in write_routes() for caller in CALLERS]


async def intact_victim(world: World, builder: Builder) -> tuple[Victim, dict[str, object]]:
    found = world.intact.pop(builder.label, None)
    if found is None:
        victim = await prepared_victim(world, builder)
        found = victim, await victim_snapshot(world, builder, victim)
    return found


@pytest.mark.parametrize(("route", "caller"), CASES, ids=[f"{m} {p} as {c}" for (m, p), c in CASES])
async def test_each_caller_gets_what_the_rule_says(
    world: World, route: tuple[str, str], caller: str
) -> None:
    builder = builder_for(route)
    expected = EXPECTED[builder.rule][caller]
    has_victim = builder.rule is not Rule.CREATE
    if expected == OK:
        victim, before = await prepared_victim(world, builder), {}
        if has_victim and caller == "owner":
            before = await victim_snapshot(world, builder, victim)
    else:
        victim, before = await intact_victim(world, builder)
    response = await send(world, builder.build(victim.ids()), caller)
    if expected == OK:
        assert response.is_success, f"{builder.rule}: {caller} refused: {response.text}"
    else:
        assert response.status_code in expected, f"{builder.rule}: {caller}: {response.text}"
    if caller != "none":
        event = await audit_event(world, response)
        assert event is not None, f"no audit event for the {caller}'s {builder.label}"
        assert (event["principal"], event["method"], event["status"]) == (
            caller,
            builder.method,
            response.status_code,
        )
    if before:
        after = await victim_snapshot(world, builder, victim)
        changed = changes(before, after)
        if expected != OK:
            assert changed == [], f"refused ({response.status_code}) but changed: {changed}"
            world.intact[builder.label] = victim, after
        elif builder.visible:
            assert changed, "the owner's request changed nothing: it proves no refusal"


async def test_a_member_creates_runs_in_its_own_experiment(world: World) -> None:
    member = world.headers("member")
    created = await world.client.post(
        f"{ML}/experiments/create", json={"name": "own-runs"}, headers=member
    )
    assert created.status_code == 200, created.text
    body = {"experiment_id": created.json()["experiment_id"]}
    run = await world.client.post(f"{ML}/runs/create", json=body, headers=member)
    assert run.status_code == 200, run.text
    assert run.json()["run"]["info"]["experiment_id"] == body["experiment_id"]


GRANT_LISTS = ("GET", f"{V1}/experiments/{{experiment_id}}/grants")

if GRANT_LISTS in route_table():  # the listing being added; tested from the day it exists

    async def test_only_its_owner_or_an_admin_lists_an_experiments_grants(world: World) -> None:
        victim = await prepared_victim(world, builder_for(("POST", GRANT_LISTS[1])))
        path = f"{V1}/experiments/{victim.experiment}/grants"
        got = {
            c: (await world.client.get(path, headers=world.headers(c))).status_code for c in CALLERS
        }
        refused = {c: got[c] in (403, 404) for c in ("member", "grantee")}
        assert (got["none"], got["viewer"], refused, got["owner"], got["admin"]) == (
            401,
            403,
            {"member": True, "grantee": True},
            200,
            200,
        )
