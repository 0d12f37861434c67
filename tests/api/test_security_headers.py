"""Security headers: every kind of response carries every header the middleware promises,
each with its exact value; artifacts go out as downloads unless their type cannot run code."""

import base64
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import Backend, Server, _empty, side_database, start_server, stop_server

A = "/api/2.0/mlflow"
MLFLOW_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"

# Written out, not imported: dropping a directive from the code must fail here.
LOCKDOWN = "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
ARTIFACT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
FIXED_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.DOTALL)


def page_policy(html: str) -> str:
    """The policy a UI page must carry: its one inline script, the import map, allowed by
    digest and nothing else inline."""
    match = IMPORT_MAP.search(html)
    assert match, "the page has no import map"
    digest = base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
    return (
        f"default-src 'none'; script-src 'self' 'sha256-{digest}'; style-src 'self'; "
        "img-src 'self' data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; "
        f"{LOCKDOWN}"
    )


INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_policy(html: str) -> str:
    """The policy of /docs: Swagger UI from our origin (no CDN), its one inline starter
    script by digest."""
    [script] = INLINE_SCRIPT.findall(html)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        f"default-src 'none'; script-src 'self' 'sha256-{digest}'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self'; worker-src blob:; {LOCKDOWN}"
    )


@dataclass
class Seeded:
    server: Server
    experiment_id: str
    run_id: str

    @property
    def client(self) -> httpx.AsyncClient:
        return self.server.client

    def v1_artifact(self, path: str) -> str:
        return f"/api/v1/runs/{self.run_id}/artifacts/{path}"

    def mlflow_artifact(self, path: str) -> str:
        return f"{MLFLOW_ARTIFACTS}/{self.experiment_id}/{self.run_id}/artifacts/{path}"

    async def upload(self, path: str, body: bytes) -> None:
        response = await self.client.put(self.v1_artifact(path), content=body)
        assert response.status_code == 201, response.text


@pytest.fixture
async def seeded(sqlite_backend: Backend) -> AsyncIterator[Seeded]:
    """A server on an emptied SQLite database with one MLflow experiment and run."""
    settings = sqlite_backend.settings()
    database = side_database(settings.resolved_database_url)
    await _empty(database)
    await database.dispose()
    server = await start_server(settings, sqlite_backend)
    experiment = await server.client.post(
        f"{A}/experiments/create", json={"name": f"h-{uuid.uuid4().hex[:8]}"}
    )
    experiment_id = experiment.json()["experiment_id"]
    run = await server.client.post(f"{A}/runs/create", json={"experiment_id": experiment_id})
    yield Seeded(server, experiment_id, run.json()["run"]["info"]["run_id"])
    await stop_server(server)


async def fetch(seeded: Seeded, kind: str) -> tuple[httpx.Response, str]:
    """A response of `kind` and the CSP it must carry."""
    client = seeded.client
    if kind == "json":
        response = await client.get("/api/v1/experiments")
        assert response.status_code == 200
        return response, API_POLICY
    if kind == "error":
        response = await client.get(f"/api/v1/runs/{uuid.uuid4()}")
        assert response.status_code == 404
        return response, API_POLICY
    if kind == "mlflow error":
        response = await client.get(f"{A}/runs/get", params={"run_id": uuid.uuid4().hex})
        assert response.status_code == 404
        return response, API_POLICY
    if kind == "ui page":
        response = await client.get("/")
        assert response.status_code == 200
        return response, page_policy(response.text)
    if kind == "ui not found":
        response = await client.get("/runs/not-a-run")
        assert response.status_code == 404
        return response, page_policy(response.text)
    if kind == "docs":
        response = await client.get("/docs")
        assert response.status_code == 200
        return response, docs_policy(response.text)
    if kind == "static":
        response = await client.get("/static/css/app.css")
        assert response.status_code == 200
        return response, API_POLICY
    if kind == "artifact":
        await seeded.upload("page.html", b"<script>alert(1)</script>")
        response = await client.get(seeded.v1_artifact("page.html"))
        assert response.status_code == 200
        return response, ARTIFACT_POLICY
    assert kind == "missing artifact"
    response = await client.get(seeded.v1_artifact("nothing.html"))
    assert response.status_code == 404
    return response, API_POLICY


KINDS = [
    "json",
    "error",
    "mlflow error",
    "ui page",
    "ui not found",
    "docs",
    "static",
    "artifact",
    "missing artifact",
]


class TestEveryResponseCarriesEveryHeader:
    @pytest.mark.parametrize("header", sorted(FIXED_HEADERS))
    @pytest.mark.parametrize("kind", KINDS)
    async def test_fixed_header(self, seeded: Seeded, kind: str, header: str) -> None:
        response, _ = await fetch(seeded, kind)
        assert response.headers.get_list(header) == [FIXED_HEADERS[header]]

    @pytest.mark.parametrize("kind", KINDS)
    async def test_content_security_policy(self, seeded: Seeded, kind: str) -> None:
        response, policy = await fetch(seeded, kind)
        assert response.headers.get_list("content-security-policy") == [policy]


PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def attachment(name: str) -> str:
    return f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"


def inline(name: str) -> str:
    return f"inline; filename=\"{name}\"; filename*=UTF-8''{name}"


# name, body, Content-Type, Content-Disposition
ARTIFACTS = [
    ("report.html", b"<script>alert(1)</script>", "application/octet-stream", "attachment"),
    ("report.HTM", b"<script>alert(1)</script>", "application/octet-stream", "attachment"),
    ("plot.svg", SVG, "application/octet-stream", "attachment"),
    ("page.xhtml", b"<html/>", "application/octet-stream", "attachment"),
    ("model.pkl", b"\x80\x04", "application/octet-stream", "attachment"),
    ("MLmodel", b"flavors: {}", "application/octet-stream", "attachment"),
    ("plot.png", PNG, "image/png", "inline"),
    ("photo.JPG", b"\xff\xd8\xff", "image/jpeg", "inline"),
    ("notes.txt", b"hello", "text/plain; charset=utf-8", "inline"),
    ("train.py", b"print(1)", "text/plain; charset=utf-8", "inline"),
    ("config.yaml", b"a: 1", "text/plain; charset=utf-8", "inline"),
    ("metrics.json", b'{"a": 1}', "application/json", "inline"),
    ("table.csv", b"a,b\n1,2\n", "text/csv; charset=utf-8", "inline"),
]


class TestArtifactsByType:
    @pytest.mark.parametrize("route", ["v1", "mlflow"])
    @pytest.mark.parametrize(("name", "body", "media_type", "disposition"), ARTIFACTS)
    async def test_type_and_disposition(
        self, seeded: Seeded, route: str, name: str, body: bytes, media_type: str, disposition: str
    ) -> None:
        await seeded.upload(name, body)
        url = seeded.v1_artifact(name) if route == "v1" else seeded.mlflow_artifact(name)
        response = await seeded.client.get(url)
        assert response.status_code == 200
        assert response.content == body
        assert response.headers["content-type"] == media_type
        expected = attachment(name) if disposition == "attachment" else inline(name)
        assert response.headers["content-disposition"] == expected
        assert response.headers.get_list("content-security-policy") == [ARTIFACT_POLICY]
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]

    async def test_a_name_outside_ascii_is_encoded(self, seeded: Seeded) -> None:
        name = 'rapport "final"; é.html'
        await seeded.upload(name, b"<p>hi</p>")
        response = await seeded.client.get(seeded.v1_artifact(name))
        assert response.status_code == 200
        assert response.headers["content-disposition"] == (
            'attachment; filename="rapport _final__ e.html"; '
            "filename*=UTF-8''rapport%20%22final%22%3B%20%C3%A9.html"
        )

    async def test_ranges_still_work(self, seeded: Seeded) -> None:
        await seeded.upload("big.bin", bytes(range(256)) * 16)
        response = await seeded.client.get(
            seeded.v1_artifact("big.bin"), headers={"Range": "bytes=10-19"}
        )
        assert response.status_code == 206
        assert response.content == bytes(range(10, 20))
        assert response.headers["content-disposition"] == attachment("big.bin")
