"""The model registry of /api/v1 (`/models`), on SQLite and on PostgreSQL + Redis: the
contract the UI codes against (Page shape, 201/204, 409 on a duplicate name, 404, 422
naming the field), and that it shows the same models as MLflow's registry."""

import uuid
from urllib.parse import quote

import httpx

from tests.api.access import Keys, as_key
from tests.conftest import Server
from tests.factories import create_experiment, create_run

API = "/api/v1/models"
ML = "/api/2.0/mlflow"


def _name(prefix: str = "clf") -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"  # a space: names travel percent-encoded


def _path(name: str) -> str:
    return f"{API}/{quote(name, safe='')}"


async def _model(client: httpx.AsyncClient, **body: object) -> dict[str, object]:
    name = str(body.pop("name", _name()))
    response = await client.post(API, json={"name": name, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


class TestModels:
    async def test_create_get_and_the_duplicate_409(self, client: httpx.AsyncClient) -> None:
        created = await _model(client, description="churn", tags={"team": "nlp"})
        name = str(created["name"])
        assert created["tags"] == {"team": "nlp"} and created["description"] == "churn"
        assert (created["versions_count"], created["latest_version"], created["aliases"]) == (
            0,
            None,
            {},
        )
        fetched = await client.get(_path(name))
        assert fetched.status_code == 200 and fetched.json() == created
        again = await client.post(API, json={"name": name})
        assert again.status_code == 409
        missing = await client.get(_path(_name("missing")))
        assert missing.status_code == 404

    async def test_a_name_with_a_slash_is_a_422_naming_the_field(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(API, json={"name": "a/b"})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", "name"]

    async def test_list_filters_with_or_and_pages(self, client: httpx.AsyncClient) -> None:
        prefix = uuid.uuid4().hex[:8]
        names = [f"{prefix}-{letter}" for letter in "abc"]
        for name in names:
            await _model(client, name=name)
        query = {"filter": f"name LIKE '{prefix}-%'", "per_page": 2, "order_by": "name DESC"}
        first = (await client.get(API, params=query)).json()
        assert (first["total"], first["pages"], first["page"], first["per_page"]) == (3, 2, 1, 2)
        assert [m["name"] for m in first["items"]] == names[::-1][:2]
        either = await client.get(
            API, params={"filter": f"name = '{names[0]}' OR name = '{names[2]}'"}
        )
        assert sorted(m["name"] for m in either.json()["items"]) == [names[0], names[2]]
        bad = await client.get(API, params={"filter": "colour = 'red'"})
        assert bad.status_code == 422 and "filter" in bad.text

    async def test_rename_keeps_versions_and_aliases(self, client: httpx.AsyncClient) -> None:
        name, new_name = _name(), _name("renamed")
        await _model(client, name=name)
        made = await client.post(f"{_path(name)}/versions", json={"source": "s3://b/m"})
        assert made.status_code == 201
        alias = await client.put(f"{_path(name)}/aliases/champion", json={"version": 1})
        assert alias.status_code == 204
        renamed = await client.patch(_path(name), json={"name": new_name, "description": "d"})
        assert renamed.status_code == 200, renamed.text
        body = renamed.json()
        assert (body["name"], body["aliases"], body["versions_count"], body["description"]) == (
            new_name,
            {"champion": 1},
            1,
            "d",
        )
        assert (await client.get(_path(name))).status_code == 404

    async def test_tags_and_delete(self, client: httpx.AsyncClient) -> None:
        name = str((await _model(client))["name"])
        assert (await client.put(f"{_path(name)}/tags/k", json={"value": "v"})).status_code == 204
        assert (await client.get(_path(name))).json()["tags"] == {"k": "v"}
        assert (await client.delete(f"{_path(name)}/tags/k")).status_code == 204
        assert (await client.delete(f"{_path(name)}/tags/k")).status_code == 404
        assert (await client.delete(_path(name))).status_code == 204
        assert (await client.get(_path(name))).status_code == 404


class TestVersions:
    async def test_versions_newest_first_with_aliases_and_stage(
        self, client: httpx.AsyncClient
    ) -> None:
        name = str((await _model(client))["name"])
        for index in range(3):
            made = await client.post(
                f"{_path(name)}/versions", json={"source": f"s3://b/{index}", "tags": {"i": "x"}}
            )
            assert made.json()["version"] == index + 1
        await client.put(f"{_path(name)}/aliases/champion", json={"version": 2})
        page = (await client.get(f"{_path(name)}/versions", params={"per_page": 2})).json()
        assert [v["version"] for v in page["items"]] == [3, 2] and page["total"] == 3
        assert page["items"][1]["aliases"] == ["champion"]
        by_alias = await client.get(f"{_path(name)}/aliases/champion")
        assert by_alias.json()["version"] == 2
        staged = await client.patch(f"{_path(name)}/versions/2", json={"stage": "production"})
        assert staged.json()["stage"] == "Production"
        bad = await client.patch(f"{_path(name)}/versions/2", json={"stage": "shipping"})
        assert bad.status_code == 422 and "stage" in bad.text
        assert (await client.delete(f"{_path(name)}/versions/2")).status_code == 204
        model = (await client.get(_path(name))).json()
        assert (model["aliases"], model["versions_count"], model["latest_version"]) == ({}, 2, 3)
        gone = await client.get(f"{_path(name)}/aliases/champion")
        assert gone.status_code == 404
        missing = await client.get(f"{_path(name)}/versions/9")
        assert missing.status_code == 404

    async def test_a_run_source_resolves_and_lists_under_the_run(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        name = str((await _model(client))["name"])
        made = await client.post(
            f"{_path(name)}/versions", json={"source": f"runs:/{run['id']}/model"}
        )
        assert made.status_code == 201, made.text
        assert made.json()["run_id"] == run["id"]
        listed = await client.get(f"/api/v1/runs/{run['id']}/model-versions")
        assert [(v["name"], v["version"]) for v in listed.json()] == [(name, 1)]
        uri = await client.get(
            f"{ML}/model-versions/get-download-uri", params={"name": name, "version": "1"}
        )
        assert uri.json()["artifact_uri"].endswith(f"/{uuid.UUID(run['id']).hex}/artifacts/model")

    async def test_an_unknown_run_is_a_404(self, client: httpx.AsyncClient) -> None:
        name = str((await _model(client))["name"])
        made = await client.post(
            f"{_path(name)}/versions", json={"source": f"runs:/{uuid.uuid4().hex}/model"}
        )
        assert made.status_code == 404

    async def test_the_openapi_document_has_the_registry(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert "/api/v1/models/{name}/versions/{version}" in paths
        assert "/api/v1/runs/{run_id}/model-versions" in paths


class TestPermissions:
    """Auth on: a model belongs to its creator; a viewer and a non-owner are refused until
    the owner grants a member access; anyone signed in reads."""

    async def test_owner_grantee_and_the_refused(self, secured: tuple[Server, Keys]) -> None:
        server, keys = secured
        client = server.client
        name = _name("owned")
        made = await client.post(API, json={"name": name}, headers=as_key(keys.owner))
        assert made.status_code == 201 and made.json()["owner"] == "owner"
        viewer_create = await client.post(API, json={"name": _name()}, headers=as_key(keys.viewer))
        assert viewer_create.status_code == 403
        for key in (keys.viewer, keys.member):
            assert (await client.get(_path(name), headers=as_key(key))).status_code == 200
            patch = await client.patch(_path(name), json={"description": "x"}, headers=as_key(key))
            assert patch.status_code == 403
            assert (
                await client.get(f"{_path(name)}/grants", headers=as_key(key))
            ).status_code == 403
        granted = await client.post(
            f"{_path(name)}/grants", json={"user_id": keys.member_id}, headers=as_key(keys.owner)
        )
        assert granted.status_code == 204
        listed = await client.get(f"{_path(name)}/grants", headers=as_key(keys.owner))
        assert [g["name"] for g in listed.json()] == ["member"]
        patch = await client.patch(
            _path(name), json={"description": "by member"}, headers=as_key(keys.member)
        )
        assert patch.status_code == 200
        revoked = await client.delete(
            f"{_path(name)}/grants/{keys.member_id}", headers=as_key(keys.owner)
        )
        assert revoked.status_code == 204
        again = await client.patch(
            _path(name), json={"description": "x"}, headers=as_key(keys.member)
        )
        assert again.status_code == 403

    async def test_a_deleted_owners_models_pass_to_the_admin(
        self, secured: tuple[Server, Keys]
    ) -> None:
        server, keys = secured
        name = _name("orphan")
        made = await server.client.post(API, json={"name": name}, headers=as_key(keys.owner))
        assert made.status_code == 201
        users = (await server.client.get("/api/v1/users", headers=as_key(keys.admin))).json()
        owner_id = next(u["id"] for u in users if u["name"] == "owner")
        deleted = await server.client.delete(
            f"/api/v1/users/{owner_id}", headers=as_key(keys.admin)
        )
        assert deleted.status_code == 200, deleted.text
        model = await server.client.get(_path(name), headers=as_key(keys.admin))
        assert model.json()["owner"] == "admin"
