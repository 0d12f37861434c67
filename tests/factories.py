"""Plain factory functions that create things through the API, as a user would."""

import uuid
from typing import Any

import httpx


def unique_name(prefix: str = "exp") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create_experiment(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": unique_name(), "owner": "alice", **fields}
    response = await client.post("/api/v1/experiments", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def create_run(
    client: httpx.AsyncClient, experiment_id: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(f"/api/v1/experiments/{experiment_id}/runs", json=fields)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data
