"""Who may grant, list and revoke write access; disabling, enabling, re-roling and deleting
users; and what the api_key table keeps. Through the app's HTTP interface, on SQLite and on
PostgreSQL + Redis. (Several workers: tests/api/test_access_workers.py.)"""

import hashlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from mltrail_server.db.tables import ApiKey
from tests.api.access import Keys, as_key, first_admin_key, make_users
from tests.conftest import Backend, Server, side_database, start_server, stop_server


@pytest.fixture
async def secured_on(backend: Backend) -> AsyncIterator[tuple[Server, Keys]]:
    """Authentication on, with an admin, an owner, another member and a viewer."""
    admin = await first_admin_key(backend)
    server = await start_server(backend.settings(auth_enabled=True), backend)
    keys = await make_users(server, admin)
    yield server, keys
    await stop_server(server)


async def new_user(client: httpx.AsyncClient, admin: str, role: str = "member") -> tuple[str, str]:
    """A new user with one key: (user id, key)."""
    user = await client.post(
        "/api/v1/users",
        json={"name": f"u-{uuid.uuid4().hex[:8]}", "role": role},
        headers=as_key(admin),
    )
    assert user.status_code == 201, user.text
    key = await client.post(
        f"/api/v1/users/{user.json()['id']}/keys", json={}, headers=as_key(admin)
    )
    assert key.status_code == 201, key.text
    return user.json()["id"], key.json()["key"]


async def owned_experiment(client: httpx.AsyncClient, key: str) -> str:
    response = await client.post(
        "/api/v1/experiments",
        json={"name": f"e-{uuid.uuid4().hex[:8]}"},
        headers=as_key(key),
    )
    assert response.status_code == 201, response.text
    experiment_id: str = response.json()["id"]
    return experiment_id


async def write(client: httpx.AsyncClient, experiment_id: str, key: str) -> int:
    """A write to the experiment: start a run in it."""
    response = await client.post(
        f"/api/v1/experiments/{experiment_id}/runs", json={}, headers=as_key(key)
    )
    return response.status_code


async def grant(client: httpx.AsyncClient, experiment_id: str, user_id: str, key: str) -> int:
    response = await client.post(
        f"/api/v1/experiments/{experiment_id}/grants",
        json={"user_id": user_id},
        headers=as_key(key),
    )
    return response.status_code


async def user_id_of(client: httpx.AsyncClient, admin: str, name: str) -> str:
    users = (await client.get("/api/v1/users", headers=as_key(admin))).json()
    found: str = next(user["id"] for user in users if user["name"] == name)
    return found


class TestGrantingIsForOwnersAndAdmins:
    async def test_a_grantee_cannot_pass_its_access_on(
        self, secured_on: tuple[Server, Keys]
    ) -> None:
        server, keys = secured_on
        client = server.client
        experiment_id = await owned_experiment(client, keys.owner)
        assert await grant(client, experiment_id, keys.member_id, keys.owner) == 204
        assert await write(client, experiment_id, keys.member) == 201
        third_id, third_key = await new_user(client, keys.admin)
        refused = await client.post(
            f"/api/v1/experiments/{experiment_id}/grants",
            json={"user_id": third_id},
            headers=as_key(keys.member),
        )
        assert refused.status_code == 403
        assert "owner" in refused.json()["detail"]
        assert await write(client, experiment_id, third_key) == 403

    async def test_an_admin_can_grant(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        experiment_id = await owned_experiment(server.client, keys.owner)
        assert await write(server.client, experiment_id, keys.member) == 403
        assert await grant(server.client, experiment_id, keys.member_id, keys.admin) == 204
        assert await write(server.client, experiment_id, keys.member) == 201

    async def test_a_viewer_is_not_granted(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        experiment_id = await owned_experiment(server.client, keys.owner)
        viewer_id = await user_id_of(server.client, keys.admin, "viewer")
        response = await server.client.post(
            f"/api/v1/experiments/{experiment_id}/grants",
            json={"user_id": viewer_id},
            headers=as_key(keys.owner),
        )
        assert response.status_code == 409
        assert "viewer" in response.json()["detail"]

    async def test_a_missing_experiment_is_404(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        missing = f"/api/v1/experiments/{uuid.uuid4()}/grants"
        for caller in (keys.owner, keys.admin):
            posted = await server.client.post(
                missing, json={"user_id": keys.member_id}, headers=as_key(caller)
            )
            listed = await server.client.get(missing, headers=as_key(caller))
            deleted = await server.client.delete(
                f"{missing}/{keys.member_id}", headers=as_key(caller)
            )
            assert (posted.status_code, listed.status_code, deleted.status_code) == (404, 404, 404)


class TestListingAndRevokingGrants:
    async def test_list_then_revoke(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        client = server.client
        experiment_id = await owned_experiment(client, keys.owner)
        url = f"/api/v1/experiments/{experiment_id}/grants"
        assert (await client.get(url, headers=as_key(keys.owner))).json() == []
        assert await grant(client, experiment_id, keys.member_id, keys.owner) == 204
        for reader in (keys.owner, keys.admin):
            listed = await client.get(url, headers=as_key(reader))
            assert listed.status_code == 200
            [entry] = listed.json()
            assert (entry["user_id"], entry["name"], entry["role"]) == (
                keys.member_id,
                "member",
                "member",
            )
            assert entry["granted_at"]
        for outsider in (keys.member, keys.viewer):
            assert (await client.get(url, headers=as_key(outsider))).status_code == 403
        assert await write(client, experiment_id, keys.member) == 201

        # A grantee cannot take anyone's grant away, its own included.
        own = await client.delete(f"{url}/{keys.member_id}", headers=as_key(keys.member))
        assert own.status_code == 403
        revoked = await client.delete(f"{url}/{keys.member_id}", headers=as_key(keys.owner))
        assert revoked.status_code == 204
        assert await write(client, experiment_id, keys.member) == 403
        assert (await client.get(url, headers=as_key(keys.owner))).json() == []
        again = await client.delete(f"{url}/{keys.member_id}", headers=as_key(keys.owner))
        assert again.status_code == 404
        assert "no grant" in again.json()["detail"]

    async def test_an_admin_can_revoke(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        experiment_id = await owned_experiment(server.client, keys.owner)
        assert await grant(server.client, experiment_id, keys.member_id, keys.owner) == 204
        assert await write(server.client, experiment_id, keys.member) == 201
        revoked = await server.client.delete(
            f"/api/v1/experiments/{experiment_id}/grants/{keys.member_id}",
            headers=as_key(keys.admin),
        )
        assert revoked.status_code == 204
        assert await write(server.client, experiment_id, keys.member) == 403


class TestDisablingAndEnabling:
    async def test_a_disabled_users_keys_are_refused_until_enabled(
        self, secured_on: tuple[Server, Keys]
    ) -> None:
        server, keys = secured_on
        client = server.client
        assert (await client.get("/api/v1/me", headers=as_key(keys.member))).status_code == 200
        disabled = await client.patch(
            f"/api/v1/users/{keys.member_id}", json={"disabled": True}, headers=as_key(keys.admin)
        )
        assert disabled.status_code == 200
        assert disabled.json()["disabled"] is True and disabled.json()["disabled_at"]
        refused = await client.get("/api/v1/me", headers=as_key(keys.member))
        assert refused.status_code == 401
        assert "disabled" in refused.json()["detail"]
        listed = (await client.get("/api/v1/users", headers=as_key(keys.admin))).json()
        assert next(u for u in listed if u["id"] == keys.member_id)["disabled"] is True

        enabled = await client.patch(
            f"/api/v1/users/{keys.member_id}", json={"disabled": False}, headers=as_key(keys.admin)
        )
        assert enabled.json()["disabled"] is False and enabled.json()["disabled_at"] is None
        assert (await client.get("/api/v1/me", headers=as_key(keys.member))).status_code == 200


class TestChangingRoles:
    async def test_a_demoted_member_writes_no_more(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        client = server.client
        experiment_id = await owned_experiment(client, keys.member)
        assert await write(client, experiment_id, keys.member) == 201
        changed = await client.patch(
            f"/api/v1/users/{keys.member_id}", json={"role": "viewer"}, headers=as_key(keys.admin)
        )
        assert changed.status_code == 200 and changed.json()["role"] == "viewer"
        assert (await client.get("/api/v1/me", headers=as_key(keys.member))).json()["role"] == (
            "viewer"
        )
        assert await write(client, experiment_id, keys.member) == 403

    async def test_a_promoted_member_administers(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        assert (
            await server.client.get("/api/v1/users", headers=as_key(keys.member))
        ).status_code == 403
        await server.client.patch(
            f"/api/v1/users/{keys.member_id}", json={"role": "admin"}, headers=as_key(keys.admin)
        )
        assert (
            await server.client.get("/api/v1/users", headers=as_key(keys.member))
        ).status_code == 200

    async def test_unusable_changes_name_their_field(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        url = f"/api/v1/users/{keys.member_id}"
        for body, field in (
            ({}, "role and disabled"),
            ({"role": "owner"}, "role"),
            ({"disable": True}, "disable"),
            ({"disabled": "sometimes"}, "disabled"),
        ):
            response = await server.client.patch(url, json=body, headers=as_key(keys.admin))
            assert response.status_code == 422, body
            assert field in str(response.json()["detail"]), body
        missing = await server.client.patch(
            f"/api/v1/users/{uuid.uuid4()}", json={"role": "viewer"}, headers=as_key(keys.admin)
        )
        assert missing.status_code == 404


class TestTheLastAdmin:
    async def test_is_not_demoted_disabled_or_deleted(
        self, secured_on: tuple[Server, Keys]
    ) -> None:
        server, keys = secured_on
        client = server.client
        admin_id = await user_id_of(client, keys.admin, "admin")
        url = f"/api/v1/users/{admin_id}"
        demote = await client.patch(url, json={"role": "member"}, headers=as_key(keys.admin))
        assert demote.status_code == 409
        assert (
            demote.json()["detail"].startswith("role:")
            and "last active admin" in (demote.json()["detail"])
        )
        disable = await client.patch(url, json={"disabled": True}, headers=as_key(keys.admin))
        assert disable.status_code == 409 and disable.json()["detail"].startswith("disabled:")
        delete = await client.delete(url, headers=as_key(keys.admin))
        assert delete.status_code == 409
        assert (await client.get("/api/v1/me", headers=as_key(keys.admin))).json()[
            "role"
        ] == "admin"

    async def test_with_a_second_admin_the_first_may_go(
        self, secured_on: tuple[Server, Keys]
    ) -> None:
        server, keys = secured_on
        client = server.client
        admin_id = await user_id_of(client, keys.admin, "admin")
        second_id, second_key = await new_user(client, keys.admin, role="admin")
        demoted = await client.patch(
            f"/api/v1/users/{admin_id}", json={"role": "member"}, headers=as_key(second_key)
        )
        assert demoted.status_code == 200
        # Now the second admin is the last one: it cannot leave, and a disabled admin does
        # not count as one.
        refused = await client.patch(
            f"/api/v1/users/{second_id}", json={"role": "viewer"}, headers=as_key(second_key)
        )
        assert refused.status_code == 409


class TestDeletingUsers:
    async def test_keys_go_experiments_stay_with_the_deleting_admin(
        self, secured_on: tuple[Server, Keys]
    ) -> None:
        server, keys = secured_on
        client = server.client
        owner_id = await user_id_of(client, keys.admin, "owner")
        experiment_id = await owned_experiment(client, keys.owner)
        assert await grant(client, experiment_id, keys.member_id, keys.owner) == 204
        deleted = await client.delete(f"/api/v1/users/{owner_id}", headers=as_key(keys.admin))
        assert deleted.status_code == 200
        assert deleted.json() == {
            "id": owner_id,
            "name": "owner",
            "keys_deleted": 1,
            "experiments_transferred": 1,
            "new_owner": "admin",
        }
        assert (await client.get("/api/v1/me", headers=as_key(keys.owner))).status_code == 401
        experiment = await client.get(
            f"/api/v1/experiments/{experiment_id}", headers=as_key(keys.admin)
        )
        assert experiment.status_code == 200 and experiment.json()["owner"] == "admin"
        users = (await client.get("/api/v1/users", headers=as_key(keys.admin))).json()
        assert "owner" not in {u["name"] for u in users}
        listed = await client.get(
            "/api/v1/keys", params={"user_id": owner_id}, headers=as_key(keys.admin)
        )
        assert listed.json() == []
        # Grants given on the experiment stay; a new user named like the deleted one owns
        # nothing of what it owned.
        assert await write(client, experiment_id, keys.member) == 201
        _, reborn_key = await new_user(client, keys.admin)
        renamed = await client.post(
            "/api/v1/users", json={"name": "owner"}, headers=as_key(keys.admin)
        )
        assert renamed.status_code == 201
        key = await client.post(
            f"/api/v1/users/{renamed.json()['id']}/keys", json={}, headers=as_key(keys.admin)
        )
        assert await write(client, experiment_id, key.json()["key"]) == 403
        assert await write(client, experiment_id, reborn_key) == 403

    async def test_an_admin_does_not_delete_itself(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        _, second_key = await new_user(server.client, keys.admin, role="admin")
        admin_id = await user_id_of(server.client, keys.admin, "admin")
        response = await server.client.delete(
            f"/api/v1/users/{admin_id}", headers=as_key(keys.admin)
        )
        assert response.status_code == 409 and "is you" in response.json()["detail"]
        missing = await server.client.delete(
            f"/api/v1/users/{uuid.uuid4()}", headers=as_key(second_key)
        )
        assert missing.status_code == 404


class TestKeysAreStoredAsHashes:
    async def test_no_column_holds_a_key(self, secured_on: tuple[Server, Keys]) -> None:
        server, keys = secured_on
        _, extra = await new_user(server.client, keys.admin)
        raw_keys = [keys.admin, keys.owner, keys.member, keys.viewer, extra]
        database = side_database(server.backend.settings().resolved_database_url)
        try:
            async with database.session() as session:
                rows = (await session.execute(select(ApiKey))).scalars().all()
        finally:
            await database.dispose()
        assert len(rows) == len(raw_keys)
        stored = [
            str(getattr(row, column.key)) for row in rows for column in ApiKey.__table__.columns
        ]
        for raw in raw_keys:
            assert not any(raw in value for value in stored)
        assert {row.hash for row in rows} == {
            hashlib.sha256(raw.encode()).hexdigest() for raw in raw_keys
        }
        for row in rows:
            assert len(row.prefix) < len(raw_keys[0]) / 2
