"""Fixtures of the API tests."""

from collections.abc import AsyncIterator

import pytest

from tests.api.access import Keys, first_admin_key, make_users
from tests.conftest import Backend, Server, start_server, stop_server


@pytest.fixture
async def secured(sqlite_backend: Backend) -> AsyncIterator[tuple[Server, Keys]]:
    admin = await first_admin_key(sqlite_backend)
    server = await start_server(sqlite_backend.settings(auth_enabled=True), sqlite_backend)
    keys = await make_users(server, admin)
    yield server, keys
    await stop_server(server)
