"""The same workloads against MLflow's REST API (`/api/2.0/mlflow`) and ours (`/api/v1`).

Every function takes `api` (API_MLFLOW or API_V1): the REST API the request speaks, which is
independent of the server that receives it (our server speaks both, so the same MLflow requests
can go to `mlflow server` and to ours). The driver code is shared and every target does the same
work. The functions are module-level (and take only plain arguments) so worker processes can
run them.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
import orjson
from _harness import LoopResult, check, http_client, timed_loop

API_MLFLOW = "mlflow"  # MLflow's REST API, /api/2.0/mlflow (both servers speak it)
API_V1 = "v1"  # our own API, /api/v1 (only our server)
APIS = (API_MLFLOW, API_V1)
MLFLOW_MAX_BATCH_METRICS = 1000  # MLflow's log-batch limit
MLFLOW_MAX_HISTORY_PAGE = 25_000  # MLflow's get-history max_results limit
ML = "/api/2.0/mlflow"
V1 = "/api/v1"

BASE_MS = 1_764_000_000_000  # fixed epoch-ms origin for synthetic timestamps
LR_CHOICES = ("0.1", "0.01", "0.001", "0.0001")
SEARCH_FILTER = "metrics.acc > 0.9 and params.lr = '0.01'"
ROUND_SPAN = 10_000_000  # request indices reserved for each round of a load loop


# --------------------------------------------------------------------------------------------
# Entities


def create_experiment(client: httpx.Client, api: str, name: str) -> str:
    if api == API_MLFLOW:
        return str(
            check(client.post(f"{ML}/experiments/create", json={"name": name})).json()[
                "experiment_id"
            ]
        )
    body = {"name": name, "owner": "bench"}
    return str(check(client.post(f"{V1}/experiments", json=body)).json()["id"])


def create_run(client: httpx.Client, api: str, experiment_id: str, name: str) -> str:
    if api == API_MLFLOW:
        body = {
            "experiment_id": experiment_id,
            "run_name": name,
            "start_time": int(time.time() * 1000),
            "user_id": "bench",
        }
        return str(
            check(client.post(f"{ML}/runs/create", json=body)).json()["run"]["info"]["run_id"]
        )
    response = client.post(f"{V1}/experiments/{experiment_id}/runs", json={"name": name})
    return str(check(response).json()["id"])


# --------------------------------------------------------------------------------------------
# Writes: (method, path, body) for one request


def batch_request(
    api: str,
    run_id: str,
    metrics: Sequence[dict[str, Any]],
    params: dict[str, str] | None = None,
) -> tuple[str, str, bytes]:
    if api == API_MLFLOW:
        body: dict[str, Any] = {"run_id": run_id, "metrics": metrics}
        if params:
            body["params"] = [{"key": k, "value": v} for k, v in params.items()]
        return "POST", f"{ML}/runs/log-batch", orjson.dumps(body)
    body = {"metrics": metrics}
    if params:
        body["params"] = params
    return "POST", f"{V1}/runs/{run_id}/batch", orjson.dumps(body)


def single_request(api: str, run_id: str, point: dict[str, Any]) -> tuple[str, str, bytes]:
    if api == API_MLFLOW:
        return "POST", f"{ML}/runs/log-metric", orjson.dumps({"run_id": run_id, **point})
    return "POST", f"{V1}/runs/{run_id}/metrics", orjson.dumps(point)


def batch_points(
    batch_index: int, batch_size: int, n_keys: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Points of batch `batch_index` of one run: `n_keys` keys, consecutive steps, no point
    ever repeated across batches (so neither server can skip work as a duplicate)."""
    per_key = max(1, batch_size // n_keys)
    step0 = batch_index * per_key
    points = []
    for k in range(n_keys):
        key = f"m{k}"
        for s in range(step0, step0 + per_key):
            points.append({"key": key, "value": rng.random(), "step": s, "timestamp": BASE_MS + s})
            if len(points) == batch_size:
                return points
    return points


# --------------------------------------------------------------------------------------------
# Worker bodies (run in their own processes by `_harness.run_workers`)


def ingest_worker(
    api: str,
    base_url: str,
    run_id: str,
    batch_size: int,
    n_keys: int,
    duration: float,
    max_requests: int,
    start_at: float,
    warmup: int,
    round_: int = 0,
) -> LoopResult:
    rng = random.Random(f"{run_id}-{round_}")

    def request(_client: httpx.Client, i: int) -> tuple[str, str, bytes, int]:
        # Each round has its own range of batch indices; warm-up requests (i < 0) use
        # indices above all of them.
        index = round_ * ROUND_SPAN + i if i >= 0 else 1_000 * ROUND_SPAN - i
        method, path, body = batch_request(
            api, run_id, batch_points(index, batch_size, n_keys, rng)
        )
        return method, path, body, batch_size

    return timed_loop(base_url, request, duration, max_requests, start_at, warmup)


def single_worker(
    api: str,
    base_url: str,
    run_id: str,
    duration: float,
    max_requests: int,
    start_at: float,
    warmup: int,
    round_: int = 0,
) -> LoopResult:
    rng = random.Random(f"{run_id}-{round_}")

    def request(_client: httpx.Client, i: int) -> tuple[str, str, bytes, int]:
        step = round_ * ROUND_SPAN + i if i >= 0 else 1_000 * ROUND_SPAN - i
        point = {"key": "loss", "value": rng.random(), "step": step, "timestamp": BASE_MS + step}
        method, path, body = single_request(api, run_id, point)
        return method, path, body, 1

    return timed_loop(base_url, request, duration, max_requests, start_at, warmup)


def search_run_values(index: int, seed: int) -> tuple[str, float]:
    """The param and metric of seeded run `index`, the same on both servers."""
    rng = random.Random(seed * 1_000_003 + index)
    return rng.choice(LR_CHOICES), rng.random()


def expected_search_matches(n_runs: int, seed: int) -> int:
    return sum(
        1
        for i in range(n_runs)
        if (lambda lr_acc: lr_acc[0] == "0.01" and lr_acc[1] > 0.9)(search_run_values(i, seed))
    )


def seed_runs_worker(
    api: str, base_url: str, experiment_id: str, indices: Sequence[int], seed: int
) -> dict[str, Any]:
    """Create runs `indices`, each with param `lr` and metric `acc` (two requests per run)."""
    done = errors = 0
    first_error = None
    with http_client(base_url) as client:
        for i in indices:
            lr, acc = search_run_values(i, seed)
            try:
                run_id = create_run(client, api, experiment_id, f"run-{i}")
                point = {"key": "acc", "value": acc, "step": 0, "timestamp": BASE_MS + i}
                method, path, body = batch_request(api, run_id, [point], {"lr": lr})
                check(client.request(method, path, content=body))
                done += 1
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors += 1
                first_error = first_error or str(exc)
                if errors > 20 and done == 0:
                    break
    return {"done": done, "errors": errors, "first_error": first_error}


def seed_history_worker(
    api: str, base_url: str, run_id: str, key: str, batch_ranges: Sequence[tuple[int, int]]
) -> dict[str, Any]:
    """Log steps [start, end) of `key` for each range, one batch request per range."""
    rng = random.Random(f"{run_id}-{key}")
    done = 0
    with http_client(base_url) as client:
        for start, end in batch_ranges:
            points = [
                {"key": key, "value": rng.random(), "step": s, "timestamp": BASE_MS + s}
                for s in range(start, end)
            ]
            method, path, body = batch_request(api, run_id, points)
            check(client.request(method, path, content=body))
            done += end - start
    return {"done": done}


# --------------------------------------------------------------------------------------------
# Reads


def search_once(
    client: httpx.Client, api: str, experiment_id: str, filter_: str, max_results: int
) -> int:
    """One search request (the first page); returns how many runs came back."""
    body = {"experiment_ids": [experiment_id], "filter": filter_, "max_results": max_results}
    if api == API_MLFLOW:
        body["run_view_type"] = "ACTIVE_ONLY"
        response = check(client.post(f"{ML}/runs/search", content=orjson.dumps(body)))
    else:
        response = check(client.post(f"{V1}/runs/search", content=orjson.dumps(body)))
    return len(orjson.loads(response.content).get("runs") or [])


def read_history(
    client: httpx.Client, api: str, run_id: str, key: str, page_size: int
) -> tuple[int, int]:
    """Read the whole series, following the server's page tokens. Returns (points, pages)."""
    points = pages = 0
    token: str | None = None
    while True:
        if api == API_MLFLOW:
            params: dict[str, Any] = {
                "run_id": run_id,
                "run_uuid": run_id,
                "metric_key": key,
                "max_results": page_size,
            }
            if token:
                params["page_token"] = token
            data = orjson.loads(
                check(client.get(f"{ML}/metrics/get-history", params=params)).content
            )
            points += len(data.get("metrics") or [])
            token = data.get("next_page_token") or None
        else:
            params = {"key": key, "limit": page_size}
            if token:
                params["cursor"] = token
            data = orjson.loads(
                check(client.get(f"{V1}/runs/{run_id}/metrics/history", params=params)).content
            )
            points += len(data.get("points") or [])
            token = data.get("next_cursor") or None
        pages += 1
        if not token or pages > 100_000:
            return points, pages
