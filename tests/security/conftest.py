"""Fixtures of the adversarial suite: one server with auth on and one set of callers per
module (each case then builds the victims it attacks)."""

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.api.access import first_admin_key
from tests.conftest import Backend, Server, _migrate, start_server, stop_server
from tests.security.world import V1, World

ROLES = {"owner": "member", "member": "member", "grantee": "member", "viewer": "viewer"}


async def make_world(server: Server, admin_key: str) -> World:
    keys = {"admin": admin_key}
    user_ids: dict[str, uuid.UUID] = {}
    headers = {"X-API-Key": admin_key}
    for name, role in ROLES.items():
        user = await server.client.post(
            f"{V1}/users", json={"name": name, "role": role}, headers=headers
        )
        assert user.status_code == 201, user.text
        user_ids[name] = uuid.UUID(user.json()["id"])
        key = await server.client.post(
            f"{V1}/users/{user_ids[name]}/keys", json={"name": "k"}, headers=headers
        )
        assert key.status_code == 201, key.text
        keys[name] = key.json()["key"]
    return World(server, keys, user_ids)


async def secured_world(backend: Backend, artifact_root: Path) -> tuple[Server, World]:
    admin = await first_admin_key(backend)
    settings = backend.settings(
        auth_enabled=True, rate_limit_per_second=0, artifact_root=str(artifact_root)
    )
    server = await start_server(settings, backend)
    return server, await make_world(server, admin)


@pytest.fixture(scope="session")
def memory_sqlite_backend() -> Iterator[Backend]:
    """A migrated SQLite database on a RAM disk where there is one: the suite makes some ten
    thousand commits, and on a disk each waits for its fsync."""
    shm = Path("/dev/shm")
    directory = Path(
        tempfile.mkdtemp(prefix="mltrail-security-", dir=shm if shm.is_dir() else None)
    )
    backend = Backend("sqlite", f"sqlite:///{directory / 'tracker.db'}", "")
    _migrate(backend.settings())
    yield backend
    shutil.rmtree(directory, ignore_errors=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(memory_sqlite_backend: Backend) -> AsyncIterator[World]:
    """Callers of every kind on an emptied SQLite database, for the whole module."""
    root = Path(memory_sqlite_backend.database_url.removeprefix("sqlite:///")).parent
    server, made = await secured_world(memory_sqlite_backend, root / "artifacts")
    yield made
    await stop_server(server)
