"""Users and keys for access tests: an admin, an experiment owner, another member, a viewer."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mltrail_server.db.unit_of_work import transaction
from mltrail_server.services.auth import AuthService
from tests.conftest import Backend, Server, _empty, side_database, start_server, stop_server


@dataclass
class Keys:
    admin: str
    owner: str
    member: str
    viewer: str
    member_id: str


async def first_admin_key(backend: Backend) -> str:
    """Empty the database and create its first admin, as a first start would."""
    database = side_database(backend.settings().resolved_database_url)
    await _empty(database)
    async with transaction(database.session()) as session:
        admin = await AuthService(session).bootstrap_admin()
    await database.dispose()
    assert admin is not None
    return admin


async def make_users(server: Server, admin: str) -> Keys:
    keys: dict[str, str] = {}
    ids: dict[str, str] = {}
    for name, role in (("owner", "member"), ("member", "member"), ("viewer", "viewer")):
        user = await server.client.post(
            "/api/v1/users", json={"name": name, "role": role}, headers={"X-API-Key": admin}
        )
        assert user.status_code == 201, user.text
        ids[name] = user.json()["id"]
        key = await server.client.post(
            f"/api/v1/users/{ids[name]}/keys", json={"name": "t"}, headers={"X-API-Key": admin}
        )
        assert key.status_code == 201
        keys[name] = key.json()["key"]
    return Keys(admin, keys["owner"], keys["member"], keys["viewer"], ids["member"])


def as_key(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@asynccontextmanager
async def secured_server(backend: Backend) -> AsyncIterator[tuple[Server, Keys]]:
    """A server with auth on, over an emptied database, and the keys of its four callers."""
    admin = await first_admin_key(backend)
    server = await start_server(backend.settings(auth_enabled=True), backend)
    try:
        yield server, await make_users(server, admin)
    finally:
        await stop_server(server)
