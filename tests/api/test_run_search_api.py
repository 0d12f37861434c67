"""POST /api/v1/runs/search: the filter language, ordering, pagination and scope."""

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.factories import create_experiment, create_run

URL = "/api/v1/runs/search"
MISSING = "00000000-0000-0000-0000-000000000000"


def millis(iso: str) -> int:
    return int(datetime.fromisoformat(iso).astimezone(UTC).timestamp() * 1000)


async def log(client: httpx.AsyncClient, run_id: str, **body: Any) -> None:
    response = await client.post(f"/api/v1/runs/{run_id}/batch", json=body)
    assert response.status_code == 200, response.text


async def set_status(client: httpx.AsyncClient, run_id: str, **fields: Any) -> None:
    response = await client.patch(f"/api/v1/runs/{run_id}", json=fields)
    assert response.status_code == 200, response.text


async def search(client: httpx.AsyncClient, experiment_ids: list[str], **body: Any) -> Any:
    response = await client.post(URL, json={"experiment_ids": experiment_ids, **body})
    assert response.status_code == 200, response.text
    return response.json()


async def names(client: httpx.AsyncClient, experiment_ids: list[str], **body: Any) -> list[str]:
    return [run["name"] for run in (await search(client, experiment_ids, **body))["runs"]]


@dataclass
class Seed:
    experiment_id: str
    runs: dict[str, dict[str, Any]]


async def seed(client: httpx.AsyncClient) -> Seed:
    """Four runs, started a day apart (a first), that differ in every field search reads:

    | run | status    | user  | params               | tags                | acc       | loss |
    | a   | completed | alice | lr=0.01 model=ResNet | team=nlp stage=Prod | 0.95      | 0.2  |
    | b   | failed    | bob   | lr=0.1  model=resnet | team=vision         | 0.99, 0.8 | NaN  |
    | c   | running   | -     | lr=0.01 model=bert   | team=NLP            | 0.7, NaN  | 0.5  |
    | d   | killed    | alice | optimizer=adam       | -                   | -         | -    |

    (acc lists the points in step order: the last one is the latest value.)
    """
    experiment = await create_experiment(client)
    eid = experiment["id"]
    a = await create_run(
        client,
        eid,
        name="a",
        user="alice",
        started_at="2026-01-01T00:00:00Z",
        params={"lr": "0.01", "model": "ResNet"},
        tags={"team": "nlp", "stage": "Prod"},
    )
    b = await create_run(
        client,
        eid,
        name="b",
        user="bob",
        started_at="2026-01-02T00:00:00.000500Z",  # half a millisecond past the day
        params={"lr": "0.1", "model": "resnet"},
        tags={"team": "vision"},
    )
    c = await create_run(
        client,
        eid,
        name="c",
        started_at="2026-01-03T00:00:00Z",
        params={"lr": "0.01", "model": "bert"},
        tags={"team": "NLP"},
    )
    d = await create_run(
        client,
        eid,
        name="d",
        user="alice",
        started_at="2026-01-04T00:00:00Z",
        params={"optimizer": "adam"},
    )
    await log(
        client,
        a["id"],
        metrics=[
            {"key": "acc", "value": 0.5, "step": 0},
            {"key": "acc", "value": 0.95, "step": 1},
            {"key": "loss", "value": 0.2, "step": 1},
        ],
    )
    await log(
        client,
        b["id"],
        metrics=[
            {"key": "acc", "value": 0.99, "step": 0},
            {"key": "acc", "value": 0.8, "step": 1},
            {"key": "loss", "value": "NaN", "step": 1},
        ],
    )
    await log(
        client,
        c["id"],
        metrics=[
            {"key": "acc", "value": 0.7, "step": 0},
            {"key": "acc", "value": "NaN", "step": 1},
            {"key": "loss", "value": 0.5, "step": 1},
        ],
    )
    await set_status(client, a["id"], status="completed", ended_at="2026-01-01T01:00:00Z")
    await set_status(client, b["id"], status="failed", ended_at="2026-01-02T02:00:00Z")
    await set_status(client, d["id"], status="killed", ended_at="2026-01-04T03:00:00Z")
    return Seed(eid, {"a": a, "b": b, "c": c, "d": d})


async def matching(client: httpx.AsyncClient, data: Seed, filter: str) -> list[str]:
    """Names of the matching runs, sorted: the assertions compare sets."""
    return sorted(await names(client, [data.experiment_id], filter=filter))


class TestMetricFilters:
    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            ("metrics.acc > 0.9", ["a"]),  # b's 0.99 is not its latest value
            ("metrics.acc >= 0.8", ["a", "b"]),
            ("metrics.acc < 0.9", ["b"]),  # c's latest is NaN, d has no acc
            ("metrics.acc <= 0.95", ["a", "b"]),
            ("metrics.acc = 0.8", ["b"]),
            ("metrics.acc != 0.8", ["a"]),  # neither NaN nor a missing metric matches !=
            ("metrics.loss >= 0", ["a", "c"]),
            ("metric.`loss` < 1e9", ["a", "c"]),
            ("metrics.missing > 0", []),
        ],
    )
    async def test_compares_the_latest_value(
        self, client: httpx.AsyncClient, filter: str, expected: list[str]
    ) -> None:
        data = await seed(client)
        assert await matching(client, data, filter) == expected


class TestParamAndTagFilters:
    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            ("params.lr = '0.01'", ["a", "c"]),
            ("params.lr != '0.01'", ["b"]),  # d has no lr: != needs the key
            ("params.lr IN ('0.1', '0.5')", ["b"]),
            ("params.lr NOT IN ('0.1')", ["a", "c"]),
            ("params.lr IS NULL", ["d"]),
            ("params.lr IS NOT NULL", ["a", "b", "c"]),
            ("params.model LIKE 'res%'", ["b"]),  # LIKE is case-sensitive
            ("params.model LIKE '%Net'", ["a"]),
            ("params.model LIKE 'r_sn_t'", ["b"]),
            ("params.model ILIKE 'RES%'", ["a", "b"]),
            ("params.model ILIKE '%e%'", ["a", "b", "c"]),
            ("tags.team = 'nlp'", ["a"]),
            ("tags.team != 'nlp'", ["b", "c"]),
            ("tags.team LIKE 'nlp'", ["a"]),
            ("tags.team ILIKE 'nlp'", ["a", "c"]),
            ("tags.team IN ('NLP', 'vision')", ["b", "c"]),
            ("tags.stage IS NULL", ["b", "c", "d"]),
            ("tags.stage IS NOT NULL", ["a"]),
            ("tags.stage LIKE 'prod'", []),
        ],
    )
    async def test_operators(
        self, client: httpx.AsyncClient, filter: str, expected: list[str]
    ) -> None:
        data = await seed(client)
        assert await matching(client, data, filter) == expected

    async def test_like_wildcards_can_be_escaped_and_glob_characters_are_literal(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        eid = experiment["id"]
        for name, promo in [
            ("percent", "50%_off"),
            ("plain", "50xyoff"),
            ("star", "a*b"),
            ("long", "axxb"),
            ("bracket", "[x]"),
            ("backslash", "c:\\tmp"),
        ]:
            await create_run(client, eid, name=name, params={"promo": promo})

        async def like(pattern: str, op: str = "LIKE") -> list[str]:
            quoted = pattern.replace("'", "''")
            return sorted(await names(client, [eid], filter=f"params.promo {op} '{quoted}'"))

        assert await like("50%") == ["percent", "plain"]
        assert await like("50\\%\\_off") == ["percent"]
        assert await like("50\\%\\_OFF", "ILIKE") == ["percent"]
        assert await like("a*b") == ["star"]
        assert await like("a?b") == []
        assert await like("[x]") == ["bracket"]
        assert await like("c:\\\\tmp") == ["backslash"]
        assert await like("c:\\") == []  # a trailing escape stands for itself, not an error


class TestAttributeFilters:
    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            ("attributes.run_name = 'a'", ["a"]),
            ("run_name != 'a'", ["b", "c", "d"]),
            ("`Run name` LIKE 'A'", []),
            ("attributes.`run name` ILIKE 'A'", ["a"]),
            ("status = 'FINISHED'", ["a"]),
            ("status = 'completed'", ["a"]),
            ("attributes.status = 'RUNNING'", ["c"]),
            ("status = 'running'", ["c"]),
            ("status != 'FINISHED'", ["b", "c", "d"]),
            ("status LIKE 'FIN%'", ["a"]),
            ("status LIKE 'fin%'", []),
            ("status ILIKE 'fail%'", ["b"]),
            ("status LIKE '%ED'", ["a", "b", "d"]),
            ("user_id = 'alice'", ["a", "d"]),
            ("user_id != 'alice'", ["b"]),  # c has no user
            ("user_id LIKE 'b%'", ["b"]),
        ],
    )
    async def test_string_attributes(
        self, client: httpx.AsyncClient, filter: str, expected: list[str]
    ) -> None:
        data = await seed(client)
        assert await matching(client, data, filter) == expected

    @pytest.mark.parametrize(
        ("op", "expected"),
        [
            ("=", ["b"]),  # b started 0.5 ms past the day: same millisecond
            ("!=", ["a", "c", "d"]),
            (">", ["c", "d"]),
            (">=", ["b", "c", "d"]),
            ("<", ["a"]),
            ("<=", ["a", "b"]),
        ],
    )
    async def test_start_time_in_milliseconds(
        self, client: httpx.AsyncClient, op: str, expected: list[str]
    ) -> None:
        data = await seed(client)
        day = millis("2026-01-02T00:00:00Z")
        assert await matching(client, data, f"attributes.start_time {op} {day}") == expected
        assert await matching(client, data, f"created {op} {day}") == expected

    async def test_end_time_never_matches_a_run_that_has_not_ended(
        self, client: httpx.AsyncClient
    ) -> None:
        data = await seed(client)
        assert await matching(client, data, "end_time > 0") == ["a", "b", "d"]
        ended = millis("2026-01-02T02:00:00Z")
        assert await matching(client, data, f"end_time != {ended}") == ["a", "d"]
        assert await matching(client, data, f"end_time <= {ended}") == ["a", "b"]

    async def test_run_id(self, client: httpx.AsyncClient) -> None:
        data = await seed(client)
        a, b = data.runs["a"]["id"], data.runs["b"]["id"]
        assert await matching(client, data, f"attributes.run_id = '{a}'") == ["a"]
        hex_id = a.replace("-", "")  # MLflow's spelling of an id
        assert await matching(client, data, f"run_id = '{hex_id}'") == ["a"]
        assert await matching(client, data, f"run_id IN ('{a}', '{b}', 'junk')") == ["a", "b"]
        assert await matching(client, data, f"run_id NOT IN ('{a}')") == ["b", "c", "d"]
        assert await matching(client, data, "run_id = 'not-an-id'") == []
        assert await matching(client, data, "run_id != 'not-an-id'") == ["a", "b", "c", "d"]
        assert await matching(client, data, f"run_id LIKE '{a[:13]}%'") == ["a"]
        assert await matching(client, data, f"run_id ILIKE '{a.upper()}'") == ["a"]

    async def test_parent_run_id_finds_top_level_runs_and_children(
        self, client: httpx.AsyncClient
    ) -> None:
        data = await seed(client)
        a = data.runs["a"]["id"]
        child = await create_run(
            client,
            data.experiment_id,
            name="a.1",
            started_at="2026-01-05T00:00:00Z",
            parent_run_id=a,
        )
        await create_run(
            client,
            data.experiment_id,
            name="a.1.1",
            started_at="2026-01-06T00:00:00Z",
            parent_run_id=child["id"],
        )
        assert await matching(client, data, "parent_run_id IS NULL") == ["a", "b", "c", "d"]
        assert await matching(client, data, f"parent_run_id = '{a}'") == ["a.1"]
        assert await matching(client, data, f"parent_run_id = '{a.replace('-', '')}'") == ["a.1"]
        both = f"attributes.parent_run_id IN ('{a}', '{child['id']}')"
        assert await matching(client, data, both) == ["a.1", "a.1.1"]
        assert await matching(client, data, "parent_run_id IS NOT NULL") == ["a.1", "a.1.1"]

    async def test_unknown_status_is_422_listing_the_names(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        response = await client.post(
            URL, json={"experiment_ids": [experiment["id"]], "filter": "status = 'DONE'"}
        )
        assert response.status_code == 422
        assert "'DONE'" in response.json()["detail"]
        assert "FINISHED" in response.json()["detail"]

    async def test_datasets_are_not_supported_yet(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        response = await client.post(
            URL, json={"experiment_ids": [experiment["id"]], "filter": "datasets.name = 'x'"}
        )
        assert response.status_code == 422
        assert "not supported" in response.json()["detail"]


class TestBooleanLogic:
    @pytest.mark.parametrize(
        ("filter", "expected"),
        [
            ("params.lr = '0.01' AND metrics.acc > 0.9", ["a"]),
            ("params.lr = '0.1' OR tags.team = 'NLP'", ["b", "c"]),
            (
                "(params.lr = '0.01' OR params.optimizer = 'adam') AND status != 'RUNNING'",
                ["a", "d"],
            ),
            # AND binds tighter than OR
            (
                "params.lr = '0.01' OR params.optimizer = 'adam' AND status != 'RUNNING'",
                ["a", "c", "d"],
            ),
            ("metrics.acc > 0.9 or (metrics.loss < 0.6 and tags.team = 'NLP')", ["a", "c"]),
            ("params.lr IS NULL OR metrics.acc < 0.9", ["b", "d"]),
            ("((tags.team ILIKE 'nlp') AND (user_id = 'alice' OR user_id = 'bob'))", ["a"]),
        ],
    )
    async def test_and_or_and_parentheses(
        self, client: httpx.AsyncClient, filter: str, expected: list[str]
    ) -> None:
        data = await seed(client)
        assert await matching(client, data, filter) == expected

    async def test_empty_filter_matches_every_run(self, client: httpx.AsyncClient) -> None:
        data = await seed(client)
        assert await matching(client, data, "  ") == ["a", "b", "c", "d"]


class TestOrdering:
    async def test_default_is_most_recently_started_first(self, client: httpx.AsyncClient) -> None:
        data = await seed(client)
        assert await names(client, [data.experiment_id]) == ["d", "c", "b", "a"]

    @pytest.mark.parametrize(
        ("order_by", "expected"),
        [
            (["metrics.acc DESC"], ["a", "b", "c", "d"]),  # NaN after numbers, missing last
            (["metrics.acc"], ["b", "a", "c", "d"]),
            (["metrics.loss ASC"], ["a", "c", "b", "d"]),
            (["params.lr"], ["c", "a", "b", "d"]),  # a tie is broken by start_time DESC
            (["params.lr DESC", "start_time"], ["b", "a", "c", "d"]),  # missing stays last
            (["tags.team"], ["c", "a", "b", "d"]),  # by code point: 'NLP' < 'nlp'
            (["attributes.start_time"], ["a", "b", "c", "d"]),
            (["run_name DESC"], ["d", "c", "b", "a"]),
            (["end_time DESC"], ["d", "b", "a", "c"]),  # not ended: last
            (["status"], ["a", "b", "d", "c"]),
            (["user_id", "created"], ["a", "d", "b", "c"]),
        ],
    )
    async def test_order_by(
        self, client: httpx.AsyncClient, order_by: list[str], expected: list[str]
    ) -> None:
        data = await seed(client)
        assert await names(client, [data.experiment_id], order_by=order_by) == expected

    async def test_runs_started_together_are_ordered_by_id(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        ids = [
            (await create_run(client, experiment["id"], started_at="2026-01-01T00:00:00Z"))["id"]
            for _ in range(4)
        ]
        found = await search(client, [experiment["id"]])
        assert [run["id"] for run in found["runs"]] == sorted(ids)

    async def test_bad_order_by_is_422_naming_the_clause(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        response = await client.post(
            URL, json={"experiment_ids": [experiment["id"]], "order_by": ["metrics.acc UP"]}
        )
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert "order_by" in detail and "metrics.acc UP" in detail and "position 12" in detail


class TestResults:
    async def test_runs_are_rendered_as_get_run_renders_them(
        self, client: httpx.AsyncClient
    ) -> None:
        data = await seed(client)
        found = await search(
            client, [data.experiment_id], filter="run_name = 'a' OR run_name = 'b'"
        )
        for run in found["runs"]:
            expected = (await client.get(f"/api/v1/runs/{run['id']}")).json()
            assert run == expected
        b = next(run for run in found["runs"] if run["name"] == "b")
        assert b["params"] == {"lr": "0.1", "model": "resnet"}
        assert b["metrics"]["loss"]["value"] == "NaN"
        assert found["next_page_token"] is None


class TestPagination:
    async def make_runs(self, client: httpx.AsyncClient) -> str:
        """Nine runs: metric `m` with ties, a NaN and two runs without it; equal start times."""
        experiment = await create_experiment(client)
        values: list[Any] = [1, 3, 3, 2, "NaN", None, 3, None, 1]
        for index, value in enumerate(values):
            run = await create_run(
                client, experiment["id"], name=f"r{index}", started_at="2026-01-01T00:00:00Z"
            )
            if value is not None:
                await log(client, run["id"], metrics=[{"key": "m", "value": value}])
        return str(experiment["id"])

    async def walk(self, client: httpx.AsyncClient, eid: str, **body: Any) -> list[str]:
        ids: list[str] = []
        token = None
        for _ in range(20):
            page = await search(client, [eid], max_results=2, page_token=token, **body)
            assert len(page["runs"]) <= 2
            ids += [run["id"] for run in page["runs"]]
            token = page["next_page_token"]
            if token is None:
                return ids
            assert len(page["runs"]) == 2
        raise AssertionError("pagination did not end")

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"order_by": ["metrics.m DESC"]},
            {"order_by": ["metrics.m"], "filter": "run_name LIKE 'r%'"},
        ],
    )
    async def test_walks_every_run_exactly_once_in_order(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> None:
        eid = await self.make_runs(client)
        everything = await search(client, [eid], **body)
        assert len(everything["runs"]) == 9 and everything["next_page_token"] is None
        walked = await self.walk(client, eid, **body)
        assert walked == [run["id"] for run in everything["runs"]]
        assert len(set(walked)) == 9

    async def test_a_full_last_page_has_no_token(self, client: httpx.AsyncClient) -> None:
        eid = await self.make_runs(client)
        assert (await search(client, [eid], max_results=9))["next_page_token"] is None
        assert (await search(client, [eid], max_results=8))["next_page_token"] is not None

    async def test_token_of_another_search_is_422(self, client: httpx.AsyncClient) -> None:
        eid = await self.make_runs(client)
        first = await search(client, [eid], max_results=2, filter="metrics.m > 0")
        token = first["next_page_token"]
        for change in (
            {"filter": "metrics.m > 1"},
            {"filter": "metrics.m > 0", "order_by": ["metrics.m"]},
            {"filter": "metrics.m > 0", "view": "all"},
        ):
            response = await client.post(
                URL, json={"experiment_ids": [eid], "page_token": token, **change}
            )
            assert response.status_code == 422
            assert "page_token" in response.json()["detail"]
        same = await search(client, [eid], max_results=3, filter="metrics.m > 0", page_token=token)
        assert len(same["runs"]) == 3  # the page size may change between pages

    @pytest.mark.parametrize(
        "token",
        [
            "garbage!",
            base64.urlsafe_b64encode(b'{"offset": -1}').decode(),
            base64.urlsafe_b64encode(b"[1, 2]").decode(),
            base64.urlsafe_b64encode(json.dumps({"offset": "2", "q": "x"}).encode()).decode(),
        ],
    )
    async def test_forged_token_is_422(self, client: httpx.AsyncClient, token: str) -> None:
        experiment = await create_experiment(client)
        response = await client.post(
            URL, json={"experiment_ids": [experiment["id"]], "page_token": token}
        )
        assert response.status_code == 422
        assert "page_token" in response.json()["detail"]


class TestMalformedRequests:
    @pytest.mark.parametrize(
        ("filter", "position"),
        [
            ("metrics.acc > 0.9)", 17),
            ("metrics.acc > 0.9 AND", 21),
            ("(params.lr = '0.01'", 19),
            ("params.lr = 0.01", 12),
            ("params.lr = 'unterminated", 12),
        ],
    )
    async def test_filter_error_says_where(
        self, client: httpx.AsyncClient, filter: str, position: int
    ) -> None:
        experiment = await create_experiment(client)
        response = await client.post(
            URL, json={"experiment_ids": [experiment["id"]], "filter": filter}
        )
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert detail.startswith("filter: ")
        assert f"position {position}" in detail

    @pytest.mark.parametrize(
        "body",
        [
            {"experiment_ids": []},
            {"experiment_ids": ["not-a-uuid"]},
            {"experiment_ids": [MISSING] * 101},
            {"experiment_ids": [MISSING], "view": "archived"},
            {"experiment_ids": [MISSING], "max_results": 0},
            {"experiment_ids": [MISSING], "max_results": 1001},
            {},
        ],
    )
    async def test_invalid_body_is_422(
        self, client: httpx.AsyncClient, body: dict[str, Any]
    ) -> None:
        assert (await client.post(URL, json=body)).status_code == 422


class TestScope:
    async def test_several_experiments(self, client: httpx.AsyncClient) -> None:
        one = await create_experiment(client)
        two = await create_experiment(client)
        other = await create_experiment(client)
        await create_run(client, one["id"], name="one", started_at="2026-01-01T00:00:00Z")
        await create_run(client, two["id"], name="two", started_at="2026-01-02T00:00:00Z")
        await create_run(client, other["id"], name="other")
        assert await names(client, [one["id"], two["id"]]) == ["two", "one"]
        assert await names(client, [two["id"]]) == ["two"]
        assert await names(client, [one["id"], MISSING]) == ["one"]  # unknown: no runs

    async def test_view_selects_by_lifecycle(self, client: httpx.AsyncClient) -> None:
        data = await seed(client)
        deleted = await client.delete(f"/api/v1/runs/{data.runs['b']['id']}")
        assert deleted.status_code == 204
        eid = [data.experiment_id]
        assert await names(client, eid) == ["d", "c", "a"]
        assert await names(client, eid, view="active") == ["d", "c", "a"]
        assert await names(client, eid, view="deleted") == ["b"]
        assert await names(client, eid, view="all") == ["d", "c", "b", "a"]
        assert await names(client, eid, view="deleted", filter="params.lr = '0.01'") == []

    async def test_runs_of_a_deleted_experiment_are_excluded(
        self, client: httpx.AsyncClient
    ) -> None:
        gone = await create_experiment(client)
        kept = await create_experiment(client)
        await create_run(client, gone["id"], name="gone")
        await create_run(client, kept["id"], name="kept")
        assert (await client.delete(f"/api/v1/experiments/{gone['id']}")).status_code == 204
        for view in ("active", "deleted", "all"):
            expected = ["kept"] if view != "deleted" else []
            assert await names(client, [gone["id"], kept["id"]], view=view) == expected
