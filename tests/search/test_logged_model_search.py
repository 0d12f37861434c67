"""MLflow `logged-models/search` through the wire: filters and order in SQL, pages chained by
the one page token, and bad filters as MLflow's 400 INVALID_PARAMETER_VALUE naming the field."""

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

API = "/api/2.0/mlflow"
WIRE_STATUS = {"READY": "LOGGED_MODEL_READY", "FAILED": "LOGGED_MODEL_UPLOAD_FAILED"}


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def invalid(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    message: str = body["message"]
    return message


@dataclass
class Models:
    experiment_id: str
    run_id: str
    ids: dict[str, str]  # name -> model id


async def create_model(client: httpx.AsyncClient, experiment_id: str, **body: Any) -> str:
    created = ok(
        await client.post(f"{API}/logged-models", json={"experiment_id": experiment_id, **body})
    )
    model_id: str = created["model"]["info"]["model_id"]
    return model_id


async def seed(client: httpx.AsyncClient) -> Models:
    """Five models, created in this order:

    | name    | type    | run | status  | tags                          | params   |
    | a_b     | sklearn | yes | READY   | team=nlp, `mlflow.src`=it's   | depth=3  |
    | axb     | sklearn | -   | READY   | team=NLP                      | depth=10 |
    | A_B     | -       | yes | PENDING | team=vision                   | -        |
    | 50%     | torch   | -   | READY   | stage=prod                    | depth=3  |
    | c:\\d   | torch   | -   | FAILED  | -                             | -        |
    """
    experiment_id = ok(await client.post(f"{API}/experiments/create", json={"name": "models"}))[
        "experiment_id"
    ]
    run_id = ok(await client.post(f"{API}/runs/create", json={"experiment_id": experiment_id}))[
        "run"
    ]["info"]["run_id"]
    rows: list[tuple[str, str | None, bool, str, dict[str, str], dict[str, str]]] = [
        ("a_b", "sklearn", True, "READY", {"team": "nlp", "mlflow.src": "it's"}, {"depth": "3"}),
        ("axb", "sklearn", False, "READY", {"team": "NLP"}, {"depth": "10"}),
        ("A_B", None, True, "PENDING", {"team": "vision"}, {}),
        ("50%", "torch", False, "READY", {"stage": "prod"}, {"depth": "3"}),
        ("c:\\d", "torch", False, "FAILED", {}, {}),
    ]
    ids = {}
    for name, model_type, with_run, status, tags, params in rows:
        body: dict[str, Any] = {
            "name": name,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
            "params": [{"key": k, "value": v} for k, v in params.items()],
        }
        if model_type:
            body["model_type"] = model_type
        if with_run:
            body["source_run_id"] = run_id
        model_id = await create_model(client, experiment_id, **body)
        if status != "PENDING":
            ok(
                await client.patch(
                    f"{API}/logged-models/{model_id}",
                    json={"model_id": model_id, "status": WIRE_STATUS[status]},
                )
            )
        ids[name] = model_id
    return Models(experiment_id, run_id, ids)


async def search(client: httpx.AsyncClient, models: Models, **body: Any) -> Any:
    return ok(
        await client.post(
            f"{API}/logged-models/search", json={"experiment_ids": [models.experiment_id], **body}
        )
    )


async def names(client: httpx.AsyncClient, models: Models, **body: Any) -> list[str]:
    found = await search(client, models, **body)
    return [model["info"]["name"] for model in found.get("models", [])]


class TestFilter:
    async def test_attributes(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        order = {"order_by": [{"field_name": "name", "ascending": True}]}
        assert await names(client, models, filter="name = 'axb'") == ["axb"]
        assert await names(client, models, filter="name LIKE 'a_b'", **order) == ["a_b", "axb"]
        assert await names(client, models, filter="name ILIKE 'a_b'", **order) == [
            "A_B",
            "a_b",
            "axb",
        ]
        assert await names(client, models, filter="model_type != 'sklearn'", **order) == [
            "50%",
            "c:\\d",
        ]
        assert await names(client, models, filter="status = 'FAILED'") == ["c:\\d"]
        assert await names(client, models, filter="status = 'LOGGED_MODEL_UPLOAD_FAILED'") == [
            "c:\\d"
        ]
        assert await names(client, models, filter="status = 'LOGGED_MODEL_PENDING'") == ["A_B"]
        hyphenated = str(uuid.UUID(models.run_id))
        for run_id in (models.run_id, hyphenated):
            assert await names(client, models, filter=f"source_run_id = '{run_id}'", **order) == [
                "A_B",
                "a_b",
            ]
        assert await names(client, models, filter="run_id IN ('nope')") == []
        assert await names(
            client,
            models,
            filter=f"model_id IN ('{models.ids['50%']}', '{models.ids['axb']}')",
            **order,
        ) == ["50%", "axb"]

    async def test_escapes_are_read_as_in_every_other_search(
        self, client: httpx.AsyncClient
    ) -> None:
        models = await seed(client)
        assert await names(client, models, filter="name LIKE 'a\\_b'") == ["a_b"]
        assert await names(client, models, filter="name LIKE '50\\%'") == ["50%"]
        assert await names(client, models, filter="name = 'c:\\d'") == ["c:\\d"]
        assert await names(client, models, filter="name LIKE 'c:\\\\d'") == ["c:\\d"]

    async def test_times_in_milliseconds(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        created = ok(await client.get(f"{API}/logged-models/{models.ids['A_B']}"))["model"]["info"]
        millis = created["creation_timestamp_ms"]
        later = await names(client, models, filter=f"creation_timestamp > {millis}")
        assert "A_B" not in later and {"50%", "c:\\d"} <= set(later)
        assert "A_B" in await names(client, models, filter=f"creation_timestamp_ms = {millis}")

    async def test_tags_and_params(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        order = {"order_by": [{"field_name": "name", "ascending": True}]}
        assert await names(client, models, filter="tags.team = 'nlp'") == ["a_b"]
        assert await names(client, models, filter="tags.team ILIKE 'nlp'", **order) == [
            "a_b",
            "axb",
        ]
        assert await names(client, models, filter="tags.`mlflow.src` = 'it''s'") == ["a_b"]
        assert await names(client, models, filter="tags.team IS NULL", **order) == [
            "50%",
            "c:\\d",
        ]
        assert await names(client, models, filter="tags.team != 'nlp'", **order) == [
            "A_B",
            "axb",
        ]  # as in MLflow, != matches only models that have the tag
        assert await names(
            client, models, filter="params.depth IN ('3') AND model_type = 'torch'"
        ) == ["50%"]
        assert await names(client, models, filter="params.depth IS NOT NULL", **order) == [
            "50%",
            "a_b",
            "axb",
        ]

    async def test_other_experiments_and_deleted_models_are_not_found(
        self, client: httpx.AsyncClient
    ) -> None:
        models = await seed(client)
        other = ok(await client.post(f"{API}/experiments/create", json={"name": "other"}))[
            "experiment_id"
        ]
        await create_model(client, other, name="a_b")
        ok(await client.delete(f"{API}/logged-models/{models.ids['axb']}"))
        assert await names(client, models, filter="name LIKE 'a%'") == ["a_b"]


class TestOrder:
    async def test_newest_first_by_default(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        assert await names(client, models) == ["c:\\d", "50%", "A_B", "axb", "a_b"]

    async def test_by_field_and_direction(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        by_name = [{"field_name": "attributes.name", "ascending": False}]
        assert await names(client, models, order_by=by_name) == [
            "c:\\d",
            "axb",
            "a_b",
            "A_B",
            "50%",
        ]
        oldest = [{"field_name": "creation_time", "ascending": True}]
        assert await names(client, models, order_by=oldest) == [
            "a_b",
            "axb",
            "A_B",
            "50%",
            "c:\\d",
        ]

    async def test_a_field_that_cannot_order_is_named(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        response = await client.post(
            f"{API}/logged-models/search",
            json={
                "experiment_ids": [models.experiment_id],
                "order_by": [{"field_name": "name"}, {"field_name": "tags.team"}],
            },
        )
        assert invalid(response) == (
            "order_by: order_by clause 2 ('tags.team'): tags cannot be used in order_by "
            "at position 0"
        )


class TestPages:
    async def test_pages_chain_to_the_whole_result(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        body = {"filter": "name != 'none'", "max_results": 2}
        pages, token = [], None
        for _ in range(5):  # bounded: 5 models, 2 a page
            page = await search(client, models, page_token=token, **body)
            pages.append([model["info"]["name"] for model in page["models"]])
            token = page.get("next_page_token")
            if token is None:
                break
        assert pages == [["c:\\d", "50%"], ["A_B", "axb"], ["a_b"]]

    async def test_a_full_last_page_has_no_token(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        assert "next_page_token" not in await search(client, models, max_results=5)
        assert "next_page_token" in await search(client, models, max_results=4)

    async def test_a_token_of_another_search_is_refused(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        token = (await search(client, models, max_results=2))["next_page_token"]
        response = await client.post(
            f"{API}/logged-models/search",
            json={
                "experiment_ids": [models.experiment_id],
                "filter": "name = 'a_b'",
                "page_token": token,
            },
        )
        assert invalid(response).startswith("page_token: issued for a different search")

    async def test_a_tampered_token_is_refused(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        token = (await search(client, models, max_results=2))["next_page_token"]
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        negative = base64.urlsafe_b64encode(json.dumps({**payload, "offset": -2}).encode())
        for tampered in ("garbage!", negative.decode()):
            response = await client.post(
                f"{API}/logged-models/search",
                json={"experiment_ids": [models.experiment_id], "page_token": tampered},
            )
            assert invalid(response) == (
                "page_token: not a token this server issued; start without one"
            )


class TestBadFilters:
    async def test_errors_name_the_field_and_position(self, client: httpx.AsyncClient) -> None:
        models = await seed(client)
        for text, message in (
            (
                "name = 'a' OR name = 'b'",
                "filter: OR is not supported when searching logged models; join clauses with "
                "AND at position 11",
            ),
            (
                "metrics.acc > 1",
                "filter: unknown entity 'metrics'; expected tags., params. or attributes. "
                "at position 0",
            ),
            (
                "creation_timestamp > 'yesterday'",
                "filter: expected an integer (milliseconds) value after '>', found string "
                "'yesterday' at position 21",
            ),
            (
                "tags.t ın ('x')",
                "filter: expected a comparison operator after 'tags.t', found 'ın' at position 7",
            ),
        ):
            response = await client.post(
                f"{API}/logged-models/search",
                json={"experiment_ids": [models.experiment_id], "filter": text},
            )
            assert invalid(response) == message, text
