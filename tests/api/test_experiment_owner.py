"""Who owns a new experiment with auth on: the user of the API key that created it, whatever
the client's machine is called. An admin may name another existing user; a name of nobody is
refused, naming the field. Through the CLI against a live server, and through the API."""

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from mltrail.cli import app
from mltrail_server.db.unit_of_work import transaction
from mltrail_server.services.auth import AuthService, Role
from tests.conftest import side_database
from tests.sdk.live_server import LiveServer

# The CLI's default owner used to be $MLTRAIL_USER, else the login name (often `root`).
runner = CliRunner(env={"COLUMNS": "200", "MLTRAIL_USER": "root"})


@dataclass(frozen=True)
class Live:
    server: LiveServer
    admin: str
    admin_key: str
    member: str
    member_key: str

    def post(self, body: dict[str, str], key: str) -> httpx.Response:
        return httpx.post(
            f"{self.server.url}/api/v1/experiments",
            json=body,
            headers={"X-API-Key": key},
            timeout=30,
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = LiveServer(tmp_path_factory.mktemp("owner"), {"AUTH_ENABLED": "true"})
    admin_name, member_name = f"ops-{uuid.uuid4().hex[:6]}", f"m-{uuid.uuid4().hex[:6]}"

    async def prepare() -> tuple[str, str]:
        database = side_database(f"sqlite+aiosqlite:///{server.database}")
        await database.migrate()
        async with transaction(database.session()) as session:
            service = AuthService(session)
            admin = await service.create_user(admin_name, Role.ADMIN)
            _, admin_key = await service.create_key(admin.id, "t")
            member = await service.create_user(member_name, Role.MEMBER)
            _, member_key = await service.create_key(member.id, "t")
        await database.dispose()
        return admin_key, member_key

    admin_key, member_key = asyncio.run(prepare())
    server.start()
    try:
        yield Live(server, admin_name, admin_key, member_name, member_key)
    finally:
        server.stop()


def cli(live: Live, *arguments: str, key: str) -> tuple[int, str, str]:
    options = ["--url", live.server.url, "--retry-for", "0", "--api-key", key]
    result = runner.invoke(app, [*options, *arguments])
    return result.exit_code, result.stdout, result.stderr


def name() -> str:
    return f"owned-{uuid.uuid4().hex[:8]}"


class TestThroughTheCli:
    def test_an_admins_experiment_is_owned_by_the_admin_not_the_login_name(
        self, live: Live
    ) -> None:
        code, out, err = cli(live, "experiments", "create", name(), "--json", key=live.admin_key)
        assert code == 0, err
        experiment = json.loads(out)
        assert experiment["owner"] == live.admin
        # What a member is told when refused names the admin, not `root`.
        refused = httpx.patch(
            f"{live.server.url}/api/v1/experiments/{experiment['id']}",
            json={"description": "mine now"},
            headers={"X-API-Key": live.member_key},
            timeout=30,
        )
        assert refused.status_code == 403
        assert live.admin in refused.json()["detail"] and "root" not in refused.json()["detail"]

    def test_a_members_experiment_is_owned_by_the_member(self, live: Live) -> None:
        code, out, err = cli(live, "experiments", "create", name(), "--json", key=live.member_key)
        assert code == 0, err
        assert json.loads(out)["owner"] == live.member

    def test_an_admin_may_name_an_existing_user(self, live: Live) -> None:
        arguments = ("experiments", "create", name(), "--owner", live.member, "--json")
        code, out, err = cli(live, *arguments, key=live.admin_key)
        assert code == 0, err
        assert json.loads(out)["owner"] == live.member

    def test_an_admin_naming_nobody_is_refused_with_the_reason(self, live: Live) -> None:
        arguments = ("experiments", "create", name(), "--owner", "nobody-here")
        code, _, err = cli(live, *arguments, key=live.admin_key)
        assert code == 1
        assert "no user named 'nobody-here'" in err


class TestThroughTheApi:
    def test_an_admin_without_owner_owns_it(self, live: Live) -> None:
        created = live.post({"name": name()}, live.admin_key)
        assert created.status_code == 201, created.text
        assert created.json()["owner"] == live.admin

    def test_an_admin_naming_a_non_user_gets_422_naming_the_field(self, live: Live) -> None:
        refused = live.post({"name": name(), "owner": "root"}, live.admin_key)
        assert refused.status_code == 422
        assert refused.json()["detail"].startswith("owner: there is no user named 'root'")

    def test_an_admin_naming_a_user_gives_it_to_that_user(self, live: Live) -> None:
        created = live.post({"name": name(), "owner": live.member}, live.admin_key)
        assert created.status_code == 201, created.text
        assert created.json()["owner"] == live.member

    def test_a_member_cannot_give_an_experiment_to_someone_else(self, live: Live) -> None:
        created = live.post({"name": name(), "owner": live.admin}, live.member_key)
        assert created.status_code == 201, created.text
        assert created.json()["owner"] == live.member
