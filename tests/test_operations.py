"""Middleware and operations: headers, logs, health, readiness, CORS, unexpected errors."""

import json
import logging
import os

import httpx
import pytest

from mltrail_server import __version__
from mltrail_server.main import create_app
from tests.conftest import Backend, Server, start_server, stop_server


class TestHeaders:
    async def test_every_response_has_request_id_and_process_time(
        self, client: httpx.AsyncClient
    ) -> None:
        for response in (
            await client.get("/health"),
            await client.get("/api/v1/experiments/not-a-uuid"),
            await client.post("/api/v1/experiments", json={}),
        ):
            assert len(response.headers["x-request-id"]) == 32
            assert float(response.headers["x-process-time"]) >= 0

    async def test_a_sane_incoming_request_id_is_kept(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health", headers={"X-Request-ID": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"
        odd = await client.get("/health", headers={"X-Request-ID": "a b;<script>"})
        assert odd.headers["x-request-id"] != "a b;<script>"


class TestHealth:
    async def test_health_has_the_seed_body_and_the_real_version(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {
            "status": "healthy",
            "version": __version__,
            "worker_pid": os.getpid(),  # the ASGI app runs in this process
        }

    async def test_ready_checks_database_and_cache(self, server: Server) -> None:
        response = await server.client.get("/ready")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ready" and body["database"] == "ok"
        expected = "redis" if server.backend.redis_url else "memory"
        assert body["cache_backend"] == expected

    async def test_ready_is_503_when_the_database_is_down(self, sqlite_backend: Backend) -> None:
        # Nothing listens on port 1.
        settings = sqlite_backend.settings(database_url="postgresql://postgres@127.0.0.1:1/x")
        # Not started: a server whose database is down at start still answers, lazily.
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.get("/ready")
            assert response.status_code == 503
            assert response.headers["retry-after"]
            assert response.json()["database"] == "unavailable"
            api = await client.get("/api/v1/experiments")
            assert api.status_code == 503
            assert api.headers["retry-after"]
            assert "retry" in api.json()["detail"]


class TestUnexpectedErrors:
    async def test_500_carries_the_request_id_and_no_internals(
        self, sqlite_backend: Backend
    ) -> None:
        server = await start_server(sqlite_backend.settings(), sqlite_backend)

        @server.app.get("/boom")  # type: ignore[attr-defined]
        async def boom() -> None:
            raise RuntimeError("secret internal detail")

        try:
            response = await server.client.get("/boom")
            assert response.status_code == 500
            body = response.json()
            assert body["request_id"] == response.headers["x-request-id"]
            assert "secret" not in response.text and "Traceback" not in response.text
        finally:
            await stop_server(server)


class TestAccessLog:
    async def test_one_structured_line_per_request(
        self, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="mltrail_server.access")
        response = await client.get("/api/v1/experiments")
        records = [r for r in caplog.records if r.name == "mltrail_server.access"]
        assert len(records) == 1
        record = records[0]
        assert record.method == "GET"  # type: ignore[attr-defined]
        assert record.path == "/api/v1/experiments"  # type: ignore[attr-defined]
        assert record.status == 200  # type: ignore[attr-defined]
        assert record.request_id == response.headers["x-request-id"]  # type: ignore[attr-defined]
        from mltrail_server.logs import JsonFormatter

        line = json.loads(JsonFormatter().format(record))
        assert line["status"] == 200 and line["duration_ms"] >= 0


class TestCors:
    async def test_configured_origin_is_allowed_others_are_not(
        self, client: httpx.AsyncClient
    ) -> None:
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = await client.options(
            "/api/v1/experiments", headers={"Origin": "http://localhost:3000", **preflight}
        )
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
        denied = await client.options(
            "/api/v1/experiments", headers={"Origin": "http://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in denied.headers

    async def test_origins_come_from_settings(self, sqlite_backend: Backend) -> None:
        settings = sqlite_backend.settings(cors_origins="https://ui.example,https://b.example")
        server = await start_server(settings, sqlite_backend)
        try:
            response = await server.client.get("/health", headers={"Origin": "https://b.example"})
            assert response.headers["access-control-allow-origin"] == "https://b.example"
        finally:
            await stop_server(server)


class TestPrometheus:
    async def test_requests_are_counted_by_route_template(self, client: httpx.AsyncClient) -> None:
        await client.get("/api/v1/experiments/00000000-0000-0000-0000-000000000000")
        text = (await client.get("/metrics")).text
        assert (
            'mltrail_http_requests_total{method="GET",'
            'route="/api/v1/experiments/{experiment_id}",status="404"}'
        ) in text
        assert "mltrail_http_request_duration_seconds_bucket" in text
