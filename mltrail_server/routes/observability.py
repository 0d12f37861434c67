"""`/metrics` in Prometheus' text format: request counts and latencies by route, metric points
ingested and the requests waiting for their commit, cache hits and misses, the database
pool's use, the read replica's lag, open live streams, the backlog of artifact purges and
of soft-deleted runs and experiments to collect. Gauges are sampled when scraped."""

import math

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from mltrail_server.dependencies import LiveHubDep, RuntimeDep
from mltrail_server.services.point_writer import requests_waiting
from mltrail_server.services.telemetry import REGISTRY

router = APIRouter(tags=["health"])

REQUESTS = Counter(
    "mltrail_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "mltrail_http_request_duration_seconds",
    "Time to answer HTTP requests, by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
    registry=REGISTRY,
)

PURGE_BACKLOG = Gauge(
    "mltrail_artifact_purge_backlog",
    "Purged runs' and experiments' artifact folders not deleted from the store yet (as of "
    "this process's last look at the queue)",
    registry=REGISTRY,
)


POOL_SIZE = Gauge(
    "mltrail_db_pool_size",
    "Connections the primary database's pool keeps (its size; overflow comes on top)",
    registry=REGISTRY,
)
POOL_CHECKED_OUT = Gauge(
    "mltrail_db_pool_checked_out",
    "Connections of the primary database's pool in use by a request now",
    registry=REGISTRY,
)
INGEST_WAITING = Gauge(
    "mltrail_ingest_requests_waiting",
    "Single-point requests waiting for the group commit of their point now (queued or being "
    "written): a queue that stays long says the database cannot keep up",
    registry=REGISTRY,
)
REPLICA_LAG = Gauge(
    "mltrail_db_replica_lag_seconds",
    "How far the read replica's replay lags behind the WAL it received, in seconds (NaN "
    "without a replica, or when it cannot be reached)",
    registry=REGISTRY,
)
GC_BACKLOG = Gauge(
    "mltrail_gc_backlog",
    "Soft-deleted runs and experiments old enough to be purged (GC_DELETED_AFTER_DAYS; any "
    "age without it) and not purged yet, by kind",
    ["kind"],
    registry=REGISTRY,
)
LIVE_STREAMS = Gauge(
    "mltrail_live_streams",
    "Live (SSE) streams open now",
    registry=REGISTRY,
)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep, hub: LiveHubDep) -> Response:
    """Prometheus metrics of this process (with several workers, of the worker that answers)."""
    PURGE_BACKLOG.set(runtime.purge_drainer.backlog)
    LIVE_STREAMS.set(hub.followers)
    INGEST_WAITING.set(requests_waiting())
    lag = await runtime.replica_lag()
    REPLICA_LAG.set(math.nan if lag is None else lag)
    runs, experiments = await runtime.gc_backlog()
    GC_BACKLOG.labels("run").set(runs)
    GC_BACKLOG.labels("experiment").set(experiments)
    database, _ = await runtime.resources()
    pool = database.engine.pool
    # A pool without a size (SQLite's, a connection per session) reports what it can.
    size = getattr(pool, "size", None)
    POOL_SIZE.set(size() if callable(size) else 0)
    checked_out = getattr(pool, "checkedout", None)
    POOL_CHECKED_OUT.set(checked_out() if callable(checked_out) else 0)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
