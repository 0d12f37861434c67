"""/api/v1/runs/{run_id}/artifact-previews, on SQLite and on PostgreSQL + Redis: markdown
comes back as HTML that holds none of the file's own markup, with relative images pointing at
the run's artifacts; a Parquet table comes back a page of rows at a time."""

import io
import re

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from tests.factories import create_experiment, create_run


async def _upload(client: httpx.AsyncClient, run_id: str, path: str, body: bytes) -> None:
    stored = await client.put(f"/api/v1/runs/{run_id}/artifacts/{path}", content=body)
    assert stored.status_code == 201, stored.text


def _parquet(rows: int, row_group_size: int | None = None) -> bytes:
    table = pa.table(
        {
            "id": list(range(rows)),
            "label": [f"<b>row {i}</b>" for i in range(rows)],
            "score": [float("nan") if i == 0 else i / 10 for i in range(rows)],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=row_group_size)
    return buffer.getvalue()


class TestMarkdown:
    async def test_raw_html_and_script_links_come_back_as_text(
        self, client: httpx.AsyncClient
    ) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        text = (
            "# Report\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
            "[click](javascript:alert(3)) ![plot](plots/loss.png) ![far](https://example.com/a.png)"
            "\n\n| epoch | accuracy |\n|---:|:---:|\n| 1 | 0.9 |\n"
        )
        await _upload(client, run["id"], "docs/README.md", text.encode())

        got = await client.get(
            f"/api/v1/runs/{run['id']}/artifact-previews/markdown/docs/README.md"
        )

        assert got.status_code == 200, got.text
        html = got.json()["html"]
        assert "<h1>Report</h1>" in html
        assert "<script" not in html and "&lt;script&gt;" in html
        assert "&lt;img src=x onerror=alert(2)&gt;" in html
        assert re.search(r"<[^>]*onerror", html) is None
        assert 'href="javascript' not in html
        assert f'src="/api/v1/runs/{run["id"]}/artifacts/docs/plots/loss.png"' in html
        assert 'src="https://example.com' not in html
        assert '<a href="https://example.com/a.png"' in html
        # Column alignment as classes: the UI's pages refuse inline styles.
        assert "style=" not in html
        assert '<th class="align-right">epoch</th>' in html

    async def test_a_missing_file_is_404(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        got = await client.get(f"/api/v1/runs/{run['id']}/artifact-previews/markdown/nope.md")
        assert got.status_code == 404
        assert "nope.md" in got.json()["detail"]


class TestTable:
    async def test_pages_of_rows_with_columns_and_total(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        await _upload(client, run["id"], "media/tables/preds/step-3.parquet", _parquet(120))
        url = f"/api/v1/runs/{run['id']}/artifact-previews/table/media/tables/preds/step-3.parquet"

        first = await client.get(url, params={"limit": 50})
        last = await client.get(url, params={"offset": 100, "limit": 50})

        assert first.status_code == 200, first.text
        page = first.json()
        assert page["columns"] == ["id", "label", "score"]
        assert page["total_rows"] == 120
        assert page["rows"][0] == [0, "<b>row 0</b>", "nan"]
        assert page["rows"][49] == [49, "<b>row 49</b>", 4.9]
        assert [row[0] for row in last.json()["rows"]] == list(range(100, 120))

    async def test_pages_that_cross_row_groups_hold_exactly_their_rows(
        self, client: httpx.AsyncClient
    ) -> None:
        # 1,000 rows in row groups of 64: a page starts and ends inside a group.
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        await _upload(client, run["id"], "t.parquet", _parquet(1_000, row_group_size=64))
        url = f"/api/v1/runs/{run['id']}/artifact-previews/table/t.parquet"

        middle = await client.get(url, params={"offset": 100, "limit": 150})
        tail = await client.get(url, params={"offset": 990, "limit": 50})
        beyond = await client.get(url, params={"offset": 5_000, "limit": 50})

        assert [row[0] for row in middle.json()["rows"]] == list(range(100, 250))
        assert middle.json()["rows"][0][1] == "<b>row 100</b>"
        assert [row[0] for row in tail.json()["rows"]] == list(range(990, 1_000))
        assert beyond.json()["rows"] == []
        assert beyond.json()["columns"] == ["id", "label", "score"]
        assert {page.json()["total_rows"] for page in (middle, tail, beyond)} == {1_000}

    async def test_a_file_that_is_not_parquet_says_so(self, client: httpx.AsyncClient) -> None:
        experiment = await create_experiment(client)
        run = await create_run(client, experiment["id"])
        await _upload(client, run["id"], "fake.parquet", b"not parquet at all")
        got = await client.get(f"/api/v1/runs/{run['id']}/artifact-previews/table/fake.parquet")
        assert got.status_code == 422
        assert "not a readable Parquet file" in got.json()["detail"]
