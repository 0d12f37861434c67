"""`/graphql` attacked: it reads what the REST reads let the same caller read and nothing
more, it cannot write (its schema has no mutations), and no query shaped to exhaust the server
(batched, deep, aliased, a fragment bomb, a huge text) is run: each is answered with an error
and the victim's data stays as it was."""

import pytest

from tests.security.world import CALLERS, ML, SIGNED_IN, World, changes, make_victim, snapshot

pytestmark = pytest.mark.asyncio(loop_scope="module")

GET_RUN = (
    "query GetRun($data: MlflowGetRunInput!) { mlflowGetRun(input: $data) { run {"
    " info { runUuid runName experimentId } data { params { key value } tags { key value } }"
    " experiment { name } modelVersions { name version } } } }"
)


def _fragment_bomb(levels: int, width: int = 4) -> str:
    """Each fragment selects `width` aliased fields that each spread the next fragment:
    width**levels selections once expanded, from a text of a few hundred characters."""
    fragments = [
        f"fragment F{i} on MlflowRunExtension {{ "
        + " ".join(f"a{j}: info {{ ...F{i + 1} }}" for j in range(width))
        + " }"
        for i in range(levels)
    ]
    fragments.append(f"fragment F{levels} on MlflowRunExtension {{ info {{ runName }} }}")
    query = '{ mlflowGetRun(input: {runId: "x"}) { run { ...F0 } } }'
    return " ".join([query, *fragments])


HOSTILE = {
    "batched root fields": "{ "
    + " ".join(
        f'r{i}: mlflowGetRun(input: {{runId: "x"}}) {{ apiError {{ code }} }}' for i in range(50)
    )
    + " }",
    "aliases": '{ mlflowGetRun(input: {runId: "x"}) { run { info { '
    + " ".join(f"n{i}: runName" for i in range(500))
    + " } } } }",
    "repeated field": '{ mlflowGetRun(input: {runId: "x"}) { run { info { '
    + "runName " * 900
    + "} } } }",
    "depth": "{ " + " { ".join(f"f{i}" for i in range(200)) + " }" * 200,
    "fragment cycle": '{ mlflowGetRun(input: {runId: "x"}) { run { info { ...A } } } }'
    " fragment A on MlflowRunInfo { runName ...B } fragment B on MlflowRunInfo { runId ...A }",
    "fragment bomb": _fragment_bomb(6),
    "huge text": "{ " + "mlflowGetRun " * 20_000 + "}",
    "many tokens": "{ " + "a " * 40_000 + "}",
    "mutation": 'mutation { mlflowSearchRuns(input: {experimentIds: ["0"]}) '
    "{ runs { info { runId } } } }",
}


async def test_every_signed_in_caller_reads_the_victims_run_as_through_rest(world: World) -> None:
    """REST reads are open to every signed-in caller (writes are what owners guard), so the
    run page's query answers each of them what runs/get does, and refuses an anonymous one."""
    victim = await make_victim(world)
    body = {"query": GET_RUN, "variables": {"data": {"runId": victim.run.hex}}}
    got = {}
    for caller in CALLERS:
        response = await world.client.post("/graphql", json=body, headers=world.headers(caller))
        got[caller] = response.status_code
        if caller in SIGNED_IN:
            answer = response.json()
            assert answer["errors"] is None, answer
            run = answer["data"]["mlflowGetRun"]["run"]
            rest = await world.client.get(
                f"{ML}/runs/get", params={"run_id": victim.run.hex}, headers=world.headers(caller)
            )
            info = rest.json()["run"]["info"]
            assert (run["info"]["runUuid"], run["info"]["runName"]) == (
                info["run_uuid"],
                info["run_name"],
            )
            assert run["data"]["params"] == [{"key": "p", "value": "1"}]
            assert run["modelVersions"] == [{"name": victim.registered, "version": "1"}]
    assert got == {"none": 401, **dict.fromkeys(SIGNED_IN, 200)}


@pytest.mark.parametrize("shape", sorted(HOSTILE))
async def test_a_hostile_query_is_refused_and_changes_nothing(world: World, shape: str) -> None:
    victim = await make_victim(world)
    before = await snapshot(world, victim)
    response = await world.client.post(
        "/graphql", json={"query": HOSTILE[shape]}, headers=world.headers("member")
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["data"] is None, answer
    assert answer["errors"], answer
    assert changes(before, await snapshot(world, victim)) == []
