"""`mltrail users set-role|disable|enable|rm` and `mltrail grants ls|add|rm` against a live
server with authentication on: each does what it says, and `--json` prints the server's
answer."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mltrail.cli import app
from mltrail_server.db.unit_of_work import transaction
from mltrail_server.services.auth import AuthService, Role
from tests.conftest import side_database
from tests.sdk.live_server import LiveServer

runner = CliRunner(env={"COLUMNS": "200"})  # a wide table, whatever runs the tests


@dataclass(frozen=True)
class Live:
    server: LiveServer
    admin_key: str
    member: str
    member_key: str


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    server = LiveServer(tmp_path, {"AUTH_ENABLED": "true"})

    async def prepare() -> tuple[str, str, str]:
        database = side_database(f"sqlite+aiosqlite:///{server.database}")
        await database.migrate()
        async with transaction(database.session()) as session:
            service = AuthService(session)
            admin = await service.create_user("root", Role.ADMIN)
            _, admin_key = await service.create_key(admin.id, "t")
            member = await service.create_user(f"m-{uuid.uuid4().hex[:6]}", Role.MEMBER)
            _, member_key = await service.create_key(member.id, "t")
        await database.dispose()
        return admin_key, member.name, member_key

    admin_key, member, member_key = asyncio.run(prepare())
    server.start()
    try:
        yield Live(server, admin_key, member, member_key)
    finally:
        server.stop()


def cli(live: Live, *arguments: str, key: str | None = None) -> str:
    options = ["--url", live.server.url, "--retry-for", "0", "--api-key", key or live.admin_key]
    result = runner.invoke(app, [*options, *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout


def me(live: Live, key: str) -> httpx.Response:
    return httpx.get(f"{live.server.url}/api/v1/me", headers={"X-API-Key": key}, timeout=5)


class TestUserCommands:
    def test_set_role_disable_enable_and_rm(self, live: Live) -> None:
        changed = json.loads(cli(live, "users", "set-role", live.member, "viewer", "--json"))
        assert changed["role"] == "viewer"
        assert me(live, live.member_key).json()["role"] == "viewer"

        assert "Disabled" in cli(live, "users", "disable", live.member)
        assert me(live, live.member_key).status_code == 401
        assert "Enabled" in cli(live, "users", "enable", live.member)
        assert me(live, live.member_key).status_code == 200

        deleted = json.loads(cli(live, "users", "rm", live.member, "--json"))
        assert (deleted["name"], deleted["keys_deleted"], deleted["new_owner"]) == (
            live.member,
            1,
            "root",
        )
        assert me(live, live.member_key).status_code == 401
        names = [user["name"] for user in json.loads(cli(live, "users", "ls", "--json"))]
        assert names == ["root"]

    def test_the_last_admin_is_refused_with_the_reason(self, live: Live) -> None:
        options = ["--url", live.server.url, "--retry-for", "0", "--api-key", live.admin_key]
        result = runner.invoke(app, [*options, "users", "disable", "root"])
        assert result.exit_code == 1
        assert "last active admin" in result.stderr and "(HTTP 409)" in result.stderr


class TestGrantCommands:
    def test_add_ls_and_rm(self, live: Live) -> None:
        experiment = httpx.post(
            f"{live.server.url}/api/v1/experiments",
            json={"name": "shared", "owner": "root"},
            headers={"X-API-Key": live.admin_key},
            timeout=5,
        )
        assert experiment.status_code == 201
        assert json.loads(cli(live, "grants", "ls", "shared", "--json")) == []
        cli(live, "grants", "add", "shared", live.member)
        [grant] = json.loads(cli(live, "grants", "ls", "shared", "--json"))
        assert grant["name"] == live.member and grant["granted_at"]
        assert live.member in cli(live, "grants", "ls", "shared")
        cli(live, "grants", "rm", "shared", live.member)
        assert "No grants." in cli(live, "grants", "ls", "shared")
