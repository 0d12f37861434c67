"""The same attack in every spelling a client could send: media types, id forms, ids in the
query string beside the body, and bodies naming two runs. Whatever the spelling, a member
who may not write to the victim is refused, and the victim's data stays as it was."""

import json
import uuid
from collections.abc import Callable

import pytest

from tests.security.builders import (
    BUILDERS,
    Builder,
    Rule,
    builder_for,
    prepared_victim,
    victim_snapshot,
    write_routes,
)
from tests.security.world import JSON, ML, V1, Call, Ids, Victim, World, changes, send

pytestmark = pytest.mark.asyncio(loop_scope="module")

MEDIA_TYPES = [
    "application/json",
    "Application/JSON",
    "APPLICATION/JSON",
    "application/json; charset=utf-8",
    "application/vnd.api+json",
    None,  # no Content-Type at all
]
# The route matrix sends 32-hex ids; these are the other spellings the API accepts.
SPELLINGS: dict[str, Callable[[uuid.UUID], str]] = {
    "uuid": str,
    "UPPER-HEX": lambda u: u.hex.upper(),
    "UPPER-UUID": lambda u: str(u).upper(),
}
_PROBE = Ids("e", "r", "m", "u", "k", "a", "b")
VICTIM_ROUTES = [r for r in write_routes() if builder_for(r).rule in (Rule.OWNED, Rule.GRANTS)]
JSON_ROUTES = [r for r in VICTIM_ROUTES if builder_for(r).build(_PROBE).json is not None]
RUN_BODY_ROUTES = [r for r in JSON_ROUTES if "run_id" in (builder_for(r).build(_PROBE).json or {})]


def label(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


async def attack(
    world: World,
    builder: Builder,
    attempts: dict[str, Callable[[Victim], tuple[Call, str | None]]],
    *,
    refused: bool = True,
) -> list[str]:
    """Send each attempt as `member`; the ones that got through, or changed the victim.

    The attempts go one after another at one victim, which is read back once at the end: a
    write that got through stays visible, since every later attempt is refused too. Only when
    something changed is each attempt replayed on a fresh victim, to name the ones to blame."""
    victim = await prepared_victim(world, builder)
    before = await victim_snapshot(world, builder, victim)
    leaks: list[str] = []
    for name, make in attempts.items():
        call, media = make(victim)
        response = await send(world, call, "member", content_type=media)
        if refused and response.is_success:
            leaks.append(f"{name}: {response.status_code}")
    if not changes(before, await victim_snapshot(world, builder, victim)):
        return leaks
    for name, make in attempts.items():
        victim = await prepared_victim(world, builder)
        before = await victim_snapshot(world, builder, victim)
        call, media = make(victim)
        response = await send(world, call, "member", content_type=media)
        changed = changes(before, await victim_snapshot(world, builder, victim))
        if changed:
            leaks.append(f"{name}: {response.status_code}, changed {changed}")
    return leaks or ["the attempts together changed the victim, none alone did"]


@pytest.mark.parametrize("route", JSON_ROUTES, ids=label)
async def test_every_media_type_is_checked(world: World, route: tuple[str, str]) -> None:
    builder = builder_for(route)
    attempts = {
        str(media): (lambda v, m=media: (builder.build(v.ids()), m)) for media in MEDIA_TYPES
    }
    leaks = await attack(world, builder, attempts)
    assert leaks == [], f"the member wrote to the owner's data with: {leaks}"


# Without a Content-Type the body is not read as JSON: a 400 for everyone, owner included.
@pytest.mark.parametrize("media", [m for m in MEDIA_TYPES if m], ids=str)
async def test_the_owner_is_served_in_every_media_type(world: World, media: str) -> None:
    """The spellings above are ones the server accepts: refusing them proves something."""
    for key in [("POST", f"{ML}/runs/set-tag"), ("PATCH", f"{V1}/runs/{{run_id}}")]:
        builder = BUILDERS[key]
        victim = await prepared_victim(world, builder)
        before = await victim_snapshot(world, builder, victim)
        response = await send(world, builder.build(victim.ids()), "owner", content_type=media)
        assert response.is_success, response.text
        assert changes(before, await victim_snapshot(world, builder, victim))


@pytest.mark.parametrize("route", VICTIM_ROUTES, ids=label)
async def test_every_id_spelling_is_checked(world: World, route: tuple[str, str]) -> None:
    builder = builder_for(route)
    attempts = {
        name: (lambda v, s=spell: (builder.build(v.ids(s)), JSON))
        for name, spell in SPELLINGS.items()
    }
    leaks = await attack(world, builder, attempts)
    assert leaks == [], f"the member wrote to the owner's data with ids spelled: {leaks}"


@pytest.mark.parametrize("spelling", list(SPELLINGS))
async def test_the_owner_is_served_in_every_id_spelling(world: World, spelling: str) -> None:
    for key in [("POST", f"{ML}/runs/set-tag"), ("PUT", f"{V1}/runs/{{run_id}}/tags/{{key}}")]:
        builder = BUILDERS[key]
        victim = await prepared_victim(world, builder)
        before = await victim_snapshot(world, builder, victim)
        response = await send(world, builder.build(victim.ids(SPELLINGS[spelling])), "owner")
        assert response.is_success, response.text
        assert changes(before, await victim_snapshot(world, builder, victim))


def _query(ids: Ids) -> dict[str, str]:
    return {"run_id": ids.run, "run_uuid": ids.run, "experiment_id": ids.experiment}


@pytest.mark.parametrize("route", VICTIM_ROUTES, ids=label)
async def test_the_id_acted_on_is_the_id_checked(world: World, route: tuple[str, str]) -> None:
    """Ids in the query string beside the ones in the body or path, both ways round."""
    builder = builder_for(route)
    own = (await prepared_victim(world, builder, owner="member")).ids()

    def victim_in_body(v: Victim) -> tuple[Call, str | None]:
        call = builder.build(v.ids())
        return Call(call.method, call.path, call.json, call.content, _query(own)), JSON

    leaks = await attack(world, builder, {"victim in body, own in query": victim_in_body})
    assert leaks == [], f"the member wrote to the owner's data: {leaks}"

    def own_in_body(v: Victim) -> tuple[Call, str | None]:
        call = builder.build(own)
        return Call(call.method, call.path, call.json, call.content, _query(v.ids())), JSON

    leaks = await attack(
        world, builder, {"own in body, victim in query": own_in_body}, refused=False
    )
    assert leaks == [], f"the member's write to its own run reached the owner's: {leaks}"


@pytest.mark.parametrize("route", RUN_BODY_ROUTES, ids=label)
async def test_a_body_naming_two_runs_is_checked_for_the_one_acted_on(
    world: World, route: tuple[str, str]
) -> None:
    builder = builder_for(route)
    own = (await prepared_victim(world, builder, owner="member")).ids()

    def raw(text: Callable[[str, str], str]) -> Callable[[Victim], tuple[Call, str | None]]:
        def make(v: Victim) -> tuple[Call, str | None]:
            body = dict(builder.build(own).json)
            body.pop("run_id")
            rest = json.dumps(body)[1:-1]
            content = "{" + text(own.run, v.ids().run) + (", " + rest if rest else "") + "}"
            call = Call(builder.method, builder.build(own).path, content=content.encode())
            return Call(call.method, call.path, content=call.content, content_type=JSON), JSON

        return make

    attempts = {
        "run_uuid only": raw(lambda o, v: f'"run_uuid": "{v}"'),
        "run_id own, run_uuid victim": raw(lambda o, v: f'"run_id": "{o}", "run_uuid": "{v}"'),
        "run_id victim, run_uuid own": raw(lambda o, v: f'"run_id": "{v}", "run_uuid": "{o}"'),
        "empty run_id, run_uuid victim": raw(lambda o, v: f'"run_id": "", "run_uuid": "{v}"'),
        "run_id twice, own then victim": raw(lambda o, v: f'"run_id": "{o}", "run_id": "{v}"'),
        "run_id twice, victim then own": raw(lambda o, v: f'"run_id": "{v}", "run_id": "{o}"'),
    }
    leaks = await attack(world, builder, attempts, refused=False)
    assert leaks == [], f"the member wrote to the owner's run: {leaks}"
