"""Users and API keys from the command line, against a live server with authentication on:
`keys create --admin` writes a working admin key straight into the database, and the
`users`/`keys` commands manage the rest through the API (revocation, roles, refusals)."""

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

import mltrail
from mltrail.cli import app
from mltrail_server.services.auth import AuthService
from tests.conftest import side_database
from tests.sdk.live_server import LiveServer

runner = CliRunner(env={"COLUMNS": "200"})  # a wide table, whatever runs the tests


@dataclass(frozen=True)
class Secured:
    server: LiveServer
    database_url: str
    admin_key: str


def as_key(secured: Secured, key: str | None, *arguments: str) -> Result:
    options = ["--url", secured.server.url, "--retry-for", "0"]
    if key is not None:
        options += ["--api-key", key]
    return runner.invoke(app, [*options, *arguments])


def ok(secured: Secured, key: str | None, *arguments: str) -> str:
    result = as_key(secured, key, *arguments)
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(secured: Secured, key: str | None, *arguments: str, status: int) -> str:
    """The one-line reason of a command the server refused with `status`."""
    result = as_key(secured, key, *arguments)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1
    assert f"(HTTP {status})" in result.stderr
    return result.stderr


def me(secured: Secured, key: str) -> httpx.Response:
    return httpx.get(f"{secured.server.url}/api/v1/me", headers={"X-API-Key": key}, timeout=5)


async def principal_of(database_url: str, key: str) -> tuple[str, str]:
    """Who the server takes `key` for: its user's name and role."""
    database = side_database(database_url.replace("sqlite://", "sqlite+aiosqlite://"))
    try:
        async with database.read_session() as session:
            principal = await AuthService(session).authenticate(key)
        return principal.name, principal.role.value
    finally:
        await database.dispose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """An admin key made by `keys create --admin` in a fresh database, then a server with
    AUTH_ENABLED=true over that database."""
    directory: Path = tmp_path_factory.mktemp("secured")
    database_url = f"sqlite:///{directory / 't.db'}"
    result = runner.invoke(
        app, ["keys", "create", "--admin", "--json"], env={"DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert (created["user"], created["role"], created["name"]) == (
        "admin",
        "admin",
        "first admin key",
    )
    server = LiveServer(directory, env={"AUTH_ENABLED": "true"})
    server.start()
    yield Secured(server, database_url, created["key"])
    server.stop()


class TestAdminKeyFromTheDatabase:
    def test_the_key_made_on_a_fresh_database_is_an_admins(self, secured: Secured) -> None:
        answer = me(secured, secured.admin_key)
        assert answer.status_code == 200
        assert answer.json() == {"name": "admin", "role": "admin", "authenticated": True}
        assert httpx.get(f"{secured.server.url}/api/v1/me", timeout=5).status_code == 401
        # The database had its admin already: the server made and printed no key of its own.
        assert "First admin API key" not in secured.server.log.read_text()

    def test_another_key_for_the_existing_admin(self, secured: Secured) -> None:
        result = runner.invoke(
            app,
            ["keys", "create", "--admin", "--name", "rescue"],
            env={"DATABASE_URL": secured.database_url},
        )
        assert result.exit_code == 0, result.output
        key = result.stdout.strip()
        assert result.stdout == f"{key}\n"  # alone on stdout: KEY=$(mltrail keys create ...)
        assert "shown this once" in result.stderr and "admin" in result.stderr
        assert key != secured.admin_key
        assert me(secured, key).json()["role"] == "admin"

        keys = json.loads(ok(secured, key, "keys", "ls", "--user", "admin", "--json"))
        assert "rescue" in [k["name"] for k in keys]
        assert all("key" not in k or k["key"] is None for k in keys)

    def test_a_database_whose_admins_are_all_disabled_gets_an_enabled_admin(
        self, tmp_path: Path
    ) -> None:
        """The server's one rule (AuthService.admin_key): first the fresh database's first
        key, as a first start makes it; later, with no active admin left, user `admin` is
        enabled again and gets the new key."""
        env = {"DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}"}
        first = runner.invoke(app, ["keys", "create", "--admin", "--json"], env=env)
        assert json.loads(first.stdout)["name"] == "first admin key", first.output
        with sqlite3.connect(tmp_path / "t.db") as connection:
            connection.execute("UPDATE app_user SET disabled_at = CURRENT_TIMESTAMP")
        again = runner.invoke(app, ["keys", "create", "--admin", "--json"], env=env)
        assert again.exit_code == 0, again.output
        created = json.loads(again.stdout)
        assert (created["user"], created["name"]) == ("admin", "mltrail keys create --admin")
        assert asyncio.run(principal_of(env["DATABASE_URL"], created["key"])) == ("admin", "admin")

    def test_an_unreachable_database_is_one_line(self) -> None:
        url = "postgresql://nobody:secret@127.0.0.1:1/tracker"
        result = runner.invoke(app, ["keys", "create", "--admin", "--database-url", url])
        assert result.exit_code == 1
        assert result.stderr.startswith("error: cannot create a key in the database")
        assert "secret" not in result.stderr and result.stderr.count("\n") == 1

    def test_either_user_or_admin(self, secured: Secured) -> None:
        assert as_key(secured, secured.admin_key, "keys", "create").exit_code == 2
        both = as_key(secured, secured.admin_key, "keys", "create", "--admin", "--user", "x")
        assert both.exit_code == 2


class TestUsersAndKeys:
    def test_create_use_and_revoke_a_members_key(self, secured: Secured) -> None:
        admin = secured.admin_key
        name = unique("alice")
        created = json.loads(ok(secured, admin, "users", "create", name, "--json"))
        assert created["role"] == "member"
        assert name in ok(secured, admin, "users", "ls")

        new = json.loads(
            ok(secured, admin, "keys", "create", "--user", name, "--name", "laptop", "--json")
        )
        assert new["user"] == name and new["name"] == "laptop"
        key = new["key"]
        assert me(secured, key).json()["name"] == name
        experiment = unique("owned")
        ok(secured, key, "experiments", "create", experiment)

        table = ok(secured, admin, "keys", "ls", "--user", name)
        assert new["id"] in table and key[:10] in table and "laptop" in table
        assert key not in table  # never the secret

        assert f"Revoked key {new['id']}" in ok(secured, admin, "keys", "rm", new["id"])
        reason = refused(secured, key, "experiments", "ls", status=401)
        assert "Invalid or revoked API key" in reason
        listed = json.loads(ok(secured, admin, "keys", "ls", "--user", name, "--json"))
        assert [k["revoked_at"] is not None for k in listed] == [True]

    def test_revoke_by_prefix(self, secured: Secured) -> None:
        name = unique("bob")
        ok(secured, secured.admin_key, "users", "create", name)
        key = ok(secured, secured.admin_key, "keys", "create", "--user", name).strip()
        assert me(secured, key).status_code == 200
        ok(secured, secured.admin_key, "keys", "rm", key[:10])
        assert me(secured, key).status_code == 401

    def test_a_viewer_reads_but_may_not_create(self, secured: Secured) -> None:
        name = unique("val")
        ok(secured, secured.admin_key, "users", "create", name, "--role", "viewer")
        key = ok(secured, secured.admin_key, "keys", "create", "--user", name).strip()
        ok(secured, key, "experiments", "ls")
        reason = refused(secured, key, "experiments", "create", unique("nope"), status=403)
        assert "read-only" in reason

    def test_only_admins_manage_users_and_keys(self, secured: Secured) -> None:
        reason = refused(secured, None, "users", "ls", status=401)
        assert "MLTRAIL_API_KEY" in reason
        refused(secured, "et_not-a-key", "keys", "ls", status=401)
        name = unique("carol")
        ok(secured, secured.admin_key, "users", "create", name)
        member = ok(secured, secured.admin_key, "keys", "create", "--user", name).strip()
        refused(secured, member, "users", "ls", status=403)
        refused(secured, member, "users", "create", unique("eve"), "--role", "admin", status=403)
        refused(secured, member, "keys", "ls", status=403)

    def test_mistakes_are_one_line(self, secured: Secured) -> None:
        admin = secured.admin_key
        name = unique("dup")
        ok(secured, admin, "users", "create", name)
        refused(secured, admin, "users", "create", name, status=409)
        result = as_key(secured, admin, "keys", "create", "--user", "nobody-at-all")
        assert result.exit_code == 1 and "No user named 'nobody-at-all'" in result.stderr
        refused(secured, admin, "keys", "rm", str(uuid.uuid4()), status=404)
        assert (
            as_key(secured, admin, "users", "create", unique("x"), "--role", "god").exit_code == 2
        )


class TestOwnerOnAServerWithoutAuth:
    def test_a_client_with_a_key_still_creates_owned_by_its_user_name(
        self, server: LiveServer
    ) -> None:
        # A key left in the environment from a team server, used against a local one.
        mltrail.init(url=server.url, api_key="et_a-key-this-server-never-made", user="keyed")
        with mltrail.Client() as api:
            created = api.experiments.create(f"keyed-{uuid.uuid4().hex[:8]}")
        assert created.owner == "keyed"
