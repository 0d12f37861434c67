"""`/metrics` as an operator's Prometheus scrapes it: a real server process over HTTP, and the
series move with what clients do (points sent, cached reads, open live streams)."""

import json
import logging
import math
import re
import sqlite3
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mltrail_server.logs import JsonFormatter
from mltrail_server.services.auth import OPEN
from tests.polling import wait_for
from tests.sdk.live_server import LiveServer

MLFLOW = "/api/2.0/mlflow"
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("observability"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, timeout=httpx.Timeout(10, read=10)) as client:
        yield client


def scrape(api: httpx.Client) -> dict[str, float]:
    """Every unlabelled sample of `/metrics`, by its name as Prometheus stores it."""
    response = api.get("/metrics")
    assert response.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if not sample.labels
    }


def ok(response: httpx.Response) -> dict[str, object]:
    assert response.status_code < 300, response.text
    body: dict[str, object] = response.json()
    return body


def new_run(api: httpx.Client) -> str:
    experiment = ok(
        api.post("/api/v1/experiments", json={"name": f"obs-{uuid.uuid4().hex}", "owner": "ada"})
    )
    run = ok(
        api.post(f"/api/v1/experiments/{experiment['id']}/runs", json={"name": "r", "user": "ada"})
    )
    return str(run["id"])


def test_points_accepted_are_counted_on_both_apis(api: httpx.Client) -> None:
    run_id = new_run(api)
    before = scrape(api)["mltrail_ingest_points_total"]
    batch = [{"key": "loss", "value": 1.0 / (step + 1), "step": step} for step in range(7)]
    ok(api.post(f"/api/v1/runs/{run_id}/batch", json={"metrics": batch}))
    ok(api.post(f"/api/v1/runs/{run_id}/metrics", json={"key": "acc", "value": 0.5}))
    mlflow_id = uuid.UUID(run_id).hex
    metric = {"key": "lr", "value": 0.1, "timestamp": 1, "step": 0}
    ok(api.post(f"{MLFLOW}/runs/log-metric", json={"run_id": mlflow_id, **metric}))
    many = [{**metric, "step": step} for step in range(1, 5)]
    ok(api.post(f"{MLFLOW}/runs/log-batch", json={"run_id": mlflow_id, "metrics": many}))
    assert scrape(api)["mltrail_ingest_points_total"] == before + 7 + 1 + 1 + 4
    # Points refused (the run does not exist) are not counted.
    missing = uuid.uuid4()
    refused = api.post(f"/api/v1/runs/{missing}/metrics", json={"key": "x", "value": 1})
    assert refused.status_code == 404
    assert scrape(api)["mltrail_ingest_points_total"] == before + 13


def test_a_repeated_cached_read_is_a_hit(api: httpx.Client) -> None:
    api.get("/api/v1/experiments")  # loaded (a miss) or already cached
    before = scrape(api)
    first = ok(api.get("/api/v1/experiments"))
    second = ok(api.get("/api/v1/experiments"))
    assert first == second
    after = scrape(api)
    assert after["mltrail_cache_hits_total"] == before["mltrail_cache_hits_total"] + 2
    # A write makes the next read a miss, then a hit again.
    ok(api.post("/api/v1/experiments", json={"name": f"obs-{uuid.uuid4().hex}", "owner": "ada"}))
    ok(api.get("/api/v1/experiments"))
    assert scrape(api)["mltrail_cache_misses_total"] == after["mltrail_cache_misses_total"] + 1


def test_open_live_streams_are_a_gauge(api: httpx.Client) -> None:
    run_id = new_run(api)
    assert scrape(api)["mltrail_live_streams"] == 0
    request = api.build_request("GET", f"/api/v1/runs/{run_id}/events")
    response = api.send(request, stream=True)
    try:
        assert response.status_code == 200
        # The first event (the run's whole state) is sent once the stream follows the run.
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
        assert scrape(api)["mltrail_live_streams"] == 1
    finally:
        response.close()
    # The server learns the client left at its next write; the gauge drops within the wait.
    wait_for(lambda: scrape(api)["mltrail_live_streams"] == 0, "the closed streams counted off")


def test_the_pool_is_sampled_at_scrape(api: httpx.Client) -> None:
    samples = scrape(api)
    assert samples["mltrail_db_pool_checked_out"] >= 0
    assert "mltrail_db_pool_size" in samples
    assert "mltrail_artifact_purge_backlog" in samples


def test_the_dashboard_names_only_series_the_server_exposes(api: httpx.Client) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "mltrail.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert exprs, "the dashboard has no queries"
    api.get("/health")  # so the labelled request series have samples
    response = api.get("/metrics")
    exposed = {
        sample.name
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    for expr in exprs:
        # Every identifier of a PromQL expression that names one of ours (functions, label
        # names and `by` lists are not mltrail_*).
        names = set(re.findall(r"\bmltrail_[a-z0-9_]+", expr))
        assert names, f"a panel queries none of the server's series: {expr}"
        assert names <= exposed, f"{expr} names {sorted(names - exposed)}, not at /metrics"


async def test_the_access_log_names_the_principal_and_the_run(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    experiment = await client.post(
        "/api/v1/experiments", json={"name": f"obs-{uuid.uuid4().hex}", "owner": "ada"}
    )
    run = await client.post(
        f"/api/v1/experiments/{experiment.json()['id']}/runs", json={"name": "r", "user": "ada"}
    )
    run_id = run.json()["id"]
    caplog.set_level(logging.INFO, logger="mltrail_server.access")
    caplog.clear()
    response = await client.post(f"/api/v1/runs/{run_id}/metrics", json={"key": "k", "value": 1})
    assert response.status_code == 200
    await client.get("/api/v1/experiments")
    records = [r for r in caplog.records if r.name == "mltrail_server.access"]
    assert len(records) == 2
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["run_id"] == run_id
    assert line["principal"] == OPEN.name  # auth off: the open local principal
    assert json.loads(JsonFormatter().format(records[1]))["run_id"] is None


def labelled(api: httpx.Client, name: str) -> dict[str, float]:
    """The samples of one labelled series, by their first label's value."""
    response = api.get("/metrics")
    assert response.status_code == 200
    return {
        next(iter(sample.labels.values())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    }


def test_deleted_runs_and_experiments_wait_in_the_gc_backlog_until_collected(
    api: httpx.Client,
) -> None:
    run_id = new_run(api)
    experiment = ok(
        api.post("/api/v1/experiments", json={"name": f"gc-{uuid.uuid4().hex}", "owner": "ada"})
    )
    before = labelled(api, "mltrail_gc_backlog")
    assert api.delete(f"/api/v1/runs/{run_id}").status_code == 204
    assert api.delete(f"/api/v1/experiments/{experiment['id']}").status_code == 204
    during = labelled(api, "mltrail_gc_backlog")
    assert during["run"] == before["run"] + 1
    assert during["experiment"] == before["experiment"] + 1
    report = ok(api.post("/api/v1/admin/gc", json={}))
    purged, kept = report["purged"], report["kept"]
    assert isinstance(purged, list) and isinstance(kept, list)
    assert {run_id, experiment["id"]} <= {item["id"] for item in purged}
    after = labelled(api, "mltrail_gc_backlog")
    assert after["run"] == sum(1 for item in kept if item["kind"] == "run")
    assert after["experiment"] == sum(1 for item in kept if item["kind"] == "experiment")


def test_without_a_replica_its_lag_is_not_a_number(api: httpx.Client) -> None:
    assert math.isnan(scrape(api)["mltrail_db_replica_lag_seconds"])


def test_single_points_waiting_for_a_busy_database_are_a_gauge(tmp_path: Path) -> None:
    """While another process holds SQLite's write lock, single-point requests queue for the
    group commit; the gauge counts them, and drops to 0 once they are written."""
    server = LiveServer(tmp_path, {"DATABASE_BUSY_TIMEOUT_SECONDS": "120"})
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=httpx.Timeout(10, read=120)) as api:
            run_id = uuid.UUID(new_run(api)).hex
            blocker = sqlite3.connect(server.database, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            sent = 3

            def log(step: int) -> int:
                metric = {"run_id": run_id, "key": "loss", "value": 1.0, "timestamp": 1}
                with httpx.Client(base_url=server.url, timeout=120) as client:
                    body = {**metric, "step": step}
                    return client.post(f"{MLFLOW}/runs/log-metric", json=body).status_code

            with ThreadPoolExecutor(sent) as pool:
                answers = [pool.submit(log, step) for step in range(sent)]
                try:
                    wait_for(
                        lambda: scrape(api)["mltrail_ingest_requests_waiting"] == sent,
                        "every point waiting for the write lock counted",
                    )
                finally:
                    blocker.execute("ROLLBACK")
                    blocker.close()
                assert [answer.result() for answer in answers] == [200] * sent
            assert scrape(api)["mltrail_ingest_requests_waiting"] == 0
            history = api.get(
                f"{MLFLOW}/metrics/get-history", params={"run_id": run_id, "metric_key": "loss"}
            )
            assert len(history.json()["metrics"]) == sent
    finally:
        server.stop()
