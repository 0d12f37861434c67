"""The process's Prometheus registry and the counters the services bump (served at `/metrics`
by routes/observability.py). Each is bumped once per request or batch, never per point."""

from prometheus_client import CollectorRegistry, Counter

REGISTRY = CollectorRegistry()

POINTS = Counter(
    "mltrail_ingest_points",
    "Metric points accepted (committed or in the request's transaction), v1 and MLflow APIs",
    registry=REGISTRY,
)
CACHE_HITS = Counter("mltrail_cache_hits", "Cached reads served from the cache", registry=REGISTRY)
CACHE_MISSES = Counter(
    "mltrail_cache_misses",
    "Cached reads loaded from the database (not in the cache, or stale)",
    registry=REGISTRY,
)
