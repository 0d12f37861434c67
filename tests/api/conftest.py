"""Fixtures of the API tests."""

from collections.abc import AsyncIterator

import pytest

from tests.api.access import Keys, secured_server
from tests.conftest import Backend, Server


@pytest.fixture
async def secured(sqlite_backend: Backend) -> AsyncIterator[tuple[Server, Keys]]:
    async with secured_server(sqlite_backend) as secured:
        yield secured
