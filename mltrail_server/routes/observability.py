"""`/metrics` in Prometheus' text format: request counts and latencies by route, and the
backlog of artifact purges."""

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from mltrail_server.dependencies import RuntimeDep

router = APIRouter(tags=["health"])

REGISTRY = CollectorRegistry()
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


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics of this process (with several workers, of the worker that answers)."""
    PURGE_BACKLOG.set(runtime.purge_drainer.backlog)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
