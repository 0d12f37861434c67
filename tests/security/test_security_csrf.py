"""Every write route, signed in by the UI's cookie: refused without X-Requested-With (and the
victim unchanged), served with it."""

import pytest

from tests.security.builders import (
    Rule,
    builder_for,
    prepared_victim,
    victim_snapshot,
    write_routes,
)
from tests.security.test_security_paths import ui_cookie
from tests.security.world import World, changes, send

pytestmark = pytest.mark.asyncio(loop_scope="module")

WRITER = {Rule.OWNED: "owner", Rule.GRANTS: "owner", Rule.ADMIN: "admin", Rule.CREATE: "member"}


@pytest.mark.parametrize("route", write_routes(), ids=lambda r: f"{r[0]} {r[1]}")
async def test_a_cookie_write_needs_the_csrf_header(world: World, route: tuple[str, str]) -> None:
    builder = builder_for(route)
    cookie = await ui_cookie(world, WRITER[builder.rule])
    victim = await prepared_victim(world, builder)
    before = await victim_snapshot(world, builder, victim)
    forged = await send(world, builder.build(victim.ids()), "none", headers=cookie)
    assert forged.status_code == 403, forged.text
    assert "X-Requested-With" in forged.text
    assert changes(before, await victim_snapshot(world, builder, victim)) == []
    ui = {**cookie, "X-Requested-With": "mltrail-ui"}
    served = await send(world, builder.build(victim.ids()), "none", headers=ui)
    assert served.is_success, served.text
