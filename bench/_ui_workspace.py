"""The experiment workspace figure of ui_speed.py: an experiment of `runs` runs, each with
`metrics` metrics of `points` points, and the time from navigation (to the page with the
workspace open, as its URL keeps it) until every chart is drawn."""

from __future__ import annotations

import concurrent.futures
import math
import time
from typing import Any

import httpx
from playwright.sync_api import Page

BATCH = 10_000  # what POST /runs/{id}/batch takes
SEED_THREADS = 2
TARGET_WARM_SECONDS = 1.5
# Resolves one frame after the condition holds: what was rendered has been painted.
AFTER_PAINT = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def check(response: httpx.Response) -> Any:
    if not response.is_success:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json() if response.content else None


def _seed_run(api: httpx.Client, experiment_id: str, index: int, metrics: int, points: int) -> None:
    run = check(
        api.post(
            f"/experiments/{experiment_id}/runs",
            json={
                "name": f"ws-{index:04d}",
                "user": "bench",
                "params": {
                    "lr": f"{10 ** -(1 + index % 4):g}",
                    "batch_size": str(32 * (1 + index % 4)),
                    "optimizer": ("adam", "sgd", "adamw")[index % 3],
                },
                "tags": {"mltrail.group": ("adam", "sgd", "adamw")[index % 3]},
            },
        )
    )
    pending: list[dict[str, Any]] = []
    for metric in range(metrics):
        for step in range(points):
            value = math.exp(-step / (points / 5)) * (1 + metric) + index / 1000
            pending.append({"key": f"m{metric}", "value": value, "step": step})
            if len(pending) == BATCH:
                check(api.post(f"/runs/{run['id']}/batch", json={"metrics": pending}))
                pending = []
    if pending:
        check(api.post(f"/runs/{run['id']}/batch", json={"metrics": pending}))
    check(api.patch(f"/runs/{run['id']}", json={"status": "completed"}))


def seed_workspace(api: httpx.Client, runs: int, metrics: int, points: int) -> str:
    """The experiment, filled through POST /runs/{id}/batch (10,000 points a request, the
    largest it takes) from two threads, so one encodes while the server writes."""
    experiment = check(
        api.post("/experiments", json={"name": f"ws-bench-{time.time_ns()}", "owner": "bench"})
    )
    with concurrent.futures.ThreadPoolExecutor(SEED_THREADS) as pool:
        futures = [
            pool.submit(_seed_run, api, experiment["id"], index, metrics, points)
            for index in range(runs)
        ]
        for future in futures:
            future.result()
    return str(experiment["id"])


def visit_workspace(page: Page, experiment_id: str, runs: int, metrics: int) -> dict[str, float]:
    """Navigation to the experiment page with the workspace open, ungrouped (one line per run),
    until every chart holds every run's line and has been painted."""
    started = time.perf_counter()
    page.goto(f"/experiments/{experiment_id}?ws_group=none&ws_band=minmax", wait_until="commit")
    page.wait_for_function(
        f"""() => {{
          const section = document.getElementById("workspace");
          if (!section || section.dataset.ready !== "true") return false;
          const charts = section.querySelectorAll(".workspace-chart");
          return charts.length === {metrics}
            && [...charts].every(c => c.querySelectorAll(".series").length === {runs});
        }}""",
        polling="raf",
        timeout=600_000,
    )
    page.evaluate(AFTER_PAINT)
    return {"workspace_drawn": time.perf_counter() - started}


def time_workspace_api(
    api: httpx.Client, experiment_id: str, runs: int, repeat: int
) -> dict[str, list[float]]:
    """The workspace's requests alone: the run search, and one metric's history of 100 runs
    at the points per run the workspace asks for (4,000 over all runs, 20-300 each)."""
    points = max(20, min(300, 4000 // runs))
    ids = [
        run["id"]
        for run in check(
            api.post("/runs/search", json={"experiment_ids": [experiment_id], "max_results": runs})
        )["runs"]
    ]
    calls = {
        f"search {runs:,} runs": lambda: api.post(
            "/runs/search", json={"experiment_ids": [experiment_id], "max_results": runs}
        ),
        f"history of 1 metric, {min(runs, 100)} runs, {points} points each": lambda: api.post(
            "/metrics/history", json={"run_ids": ids[:100], "key": "m0", "points": points}
        ),
    }
    result: dict[str, list[float]] = {}
    for name, call in calls.items():
        result[name] = []
        for _ in range(repeat):
            begun = time.perf_counter()
            check(call())
            result[name].append(time.perf_counter() - begun)
    return result
