"""Every route of both APIs, reads included, is behind the key check, and the routes the
server treats as reads are exactly the ones this suite expects (a new read-only marker on a
POST route must be added here on purpose)."""

import re
import uuid

import pytest

from mltrail_server.config import Settings
from mltrail_server.main import create_app
from mltrail_server.services.access import ACCESS_KEY
from tests.security.builders import EXEMPT, READ_ONLY_POSTS, route_table
from tests.security.world import World, raw_url

# MLflow's UI paths too: `/ajax-api/...` aliases, `/get-artifact` and `/graphql` take the same
# key check.
API_PREFIXES = ("/api/v1/", "/api/2.0/", "/api/3.0/", "/ajax-api/", "/get-artifact", "/graphql")


def api_routes() -> list[tuple[str, str]]:
    return [
        route
        for route in route_table()
        if route[1].startswith(API_PREFIXES) and route not in EXEMPT
    ]


def concrete(template: str) -> str:
    """The template with every `{param}` filled in (an id that names nothing)."""
    return re.sub(r"\{[^}]+\}", uuid.uuid4().hex, template)


@pytest.mark.parametrize("route", api_routes(), ids=lambda r: f"{r[0]} {r[1]}")
async def test_no_key_is_a_401_on_every_route(world: World, route: tuple[str, str]) -> None:
    method, template = route
    response = await world.client.request(method, raw_url(concrete(template)), json={})
    assert response.status_code == 401, response.text
    assert "www-authenticate" in response.headers


def test_the_read_only_posts_are_the_expected_ones() -> None:
    settings = Settings(database_url="sqlite:///:memory:", redis_url="", log_level="WARNING")
    document = create_app(settings).openapi()["paths"]
    marked = {
        ("POST", path)
        for path, operations in document.items()
        if "post" in operations and operations["post"].get(ACCESS_KEY) == "read"
    }
    assert marked, "no route is marked read-only"
    assert marked <= READ_ONLY_POSTS, f"unexpected read-only POSTs: {marked - READ_ONLY_POSTS}"
    existing = {("POST", path) for path, operations in document.items() if "post" in operations}
    assert READ_ONLY_POSTS & existing == marked
