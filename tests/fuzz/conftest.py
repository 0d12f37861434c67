"""Fixtures of the fuzz and property tests: the app in-process on a real database (SQLite, and
PostgreSQL with Redis when reachable), reached through schemathesis's ASGI transport (a
`requests` session that runs the app, lifespan included, on one event loop of its own), with
one live experiment and run that generated requests can aim at instead of random ids."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from schemathesis.python import asgi

from mltrail_server.main import create_app
from tests.conftest import Backend

# Off, so that hundreds of requests a second from one address are not answered with 429.
OPEN_SETTINGS: dict[str, Any] = {
    "auth_enabled": False,
    "rate_limit_per_second": 0,
    "log_level": "CRITICAL",
}


@dataclass
class Seeded:
    """A live experiment and run with params, a tag and a metric, recreated when a generated
    request deleted them, so that requests aimed at them reach past the 404."""

    app: FastAPI
    experiment_id: str = ""
    run_id: str = ""
    metric_key: str = "loss"
    tag_key: str = "team"

    def _client(self) -> asgi.ASGIClient:
        return asgi.get_client(self.app)

    def ensure(self) -> "Seeded":
        with self._client() as client:
            if self.run_id and client.get(f"/api/v1/runs/{self.run_id}").status_code == 200:
                return self
            response = client.post(
                "/api/v1/experiments", json={"name": f"seed-{id(self)}-{_next()}", "owner": "fz"}
            )
            assert response.status_code == 201, response.text
            self.experiment_id = response.json()["id"]
            response = client.post(f"/api/v1/experiments/{self.experiment_id}/runs", json={})
            assert response.status_code == 201, response.text
            self.run_id = response.json()["id"]
            body = {
                "metrics": [
                    {"key": self.metric_key, "value": 1.0 / (step + 1), "step": step}
                    for step in range(20)
                ],
                "params": {"lr": "0.01"},
                "tags": {self.tag_key: "fuzz"},
            }
            response = client.post(f"/api/v1/runs/{self.run_id}/batch", json=body)
            assert response.status_code == 200, response.text
        return self


_counter = 0


def _next() -> int:
    global _counter
    _counter += 1
    return _counter


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_app(request: pytest.FixtureRequest) -> Iterator[FastAPI]:
    """The app on the shared test database of the backend (migrated by the session fixture),
    its lifespan run by schemathesis on its own event loop and ended here."""
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    app = create_app(backend.settings(**OPEN_SETTINGS))
    yield app
    asgi.shutdown_lifespans()


@pytest.fixture(scope="module")
def seeded(fuzz_app: FastAPI) -> Seeded:
    return Seeded(fuzz_app).ensure()


@pytest.fixture(scope="module")
def api(fuzz_app: FastAPI) -> Iterator[asgi.ASGIClient]:
    """A synchronous HTTP client of the app (requests' interface), for hypothesis tests."""
    with asgi.get_client(fuzz_app) as client:
        yield client
