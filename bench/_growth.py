"""What grows with the metric table, for `scale.py`: its size on disk per point, the ingest
rate into it, a purge from it and a history read from it, measured at one size; and the
projection of those figures to a billion points from two measured sizes (`scale.py --project
A.json B.json`).

The projection assumes what a B-tree gives: sizes grow in proportion to the points, and
per-request costs with the logarithm of the points (one more index level per ~100x), so a
cost is extrapolated on a log scale of the size from the two measured points. Where the hot
part of the index stops fitting in memory that stops holding: the projection prints the
index size against the machine's memory so a reader sees when that is.
"""

from __future__ import annotations

import math
import time
from typing import Any

import _harness as h
import _workloads as w
import orjson

BILLION = 1_000_000_000
INGEST_CLIENTS = 4
INGEST_BATCH = 1000
INGEST_KEYS = 10
HISTORY_PAGE = 25_000


def storage(db: str) -> dict[str, Any]:
    """The metric table's points and bytes (heap, indexes, total), over its partitions."""
    row = h.pg_run(
        db,
        "SELECT count(*), coalesce(sum(pg_relation_size(relid)), 0), "
        "coalesce(sum(pg_indexes_size(relid)), 0), "
        "coalesce(sum(pg_total_relation_size(relid)), 0) "
        "FROM pg_partition_tree('metric') WHERE isleaf",
    )[0][0]
    partitions, heap, indexes, total = (int(v) for v in row)
    points = int(h.pg_scalar(db, "SELECT count(*) FROM metric"))
    return {
        "points": points,
        "partitions": partitions if partitions > 1 else 0,
        "heap_bytes": heap,
        "index_bytes": indexes,
        "total_bytes": total,
        "bytes_per_point": round(total / points, 1) if points else None,
        "index_bytes_per_point": round(indexes / points, 1) if points else None,
    }


def ingest(
    server: h.Server, db: str, experiment_id: str, seconds: float
) -> tuple[dict[str, Any], list[str]]:
    """Batches of 1,000 points (10 keys) from 4 clients into new runs, for `seconds`: the
    figures, and the runs written (for `purge`)."""
    with h.http_client(server.base_url) as client:
        runs = [
            w.create_run(client, w.API_V1, experiment_id, f"ingest-{h.rand_suffix(6)}")
            for _ in range(INGEST_CLIENTS)
        ]
    start_at = time.time() + 2
    meter = h.CpuMeter(server, db)
    results = h.run_workers_timed(
        w.ingest_worker,
        [
            (
                w.API_V1,
                server.base_url,
                run,
                INGEST_BATCH,
                INGEST_KEYS,
                seconds,
                100_000,
                start_at,
                3,
            )
            for run in runs
        ],
        start_at,
        meter,
    )
    points = sum(r.items for r in results)
    window = max(r.t_end for r in results) - min(r.t_start for r in results)
    errors = sum(r.errors for r in results)
    out = {
        "points": points,
        "seconds": round(window, 2),
        "points_per_s": round(points / window) if window > 0 else None,
        "errors": errors,
        "first_error": next((r.first_error for r in results if r.first_error), None),
        "latency": h.latency_summary([x for r in results for x in r.latencies]),
        "cpu": meter.as_dict(),
    }
    h.log(
        f"ingest into the seeded table: {out['points_per_s']:,} points/s "
        f"({points:,} points in {window:.1f}s, {errors} errors)"
    )
    return out, runs


def purge(server: h.Server, runs: list[str], points: int) -> dict[str, Any]:
    """The runs deleted, then purged for good by one `POST /api/v1/admin/gc` (their points
    and rollups go in the request; only their artifact files, none here, go later)."""
    with h.http_client(server.base_url) as client:
        for run in runs:
            h.check(client.delete(f"{w.V1}/runs/{run}"))
        t = time.perf_counter()
        h.check(client.post(f"{w.V1}/admin/gc", content=orjson.dumps({"run_ids": runs})))
        seconds = time.perf_counter() - t
    out = {"points": points, "seconds": round(seconds, 3), "points_per_s": round(points / seconds)}
    h.log(f"purge of {len(runs)} runs, {points:,} points: {seconds:.2f}s")
    return out


def history(server: h.Server, run_id: str, key: str, reps: int, warmup: int) -> dict[str, Any]:
    """The first page (25,000 points) of the long series' history, on MLflow's wire."""
    params = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
    latencies, returned = [], set()
    with h.http_client(server.base_url) as client:
        for i in range(warmup + reps):
            t = time.perf_counter()
            response = h.check(client.get(f"{w.ML}/metrics/get-history", params=params))
            elapsed = time.perf_counter() - t
            returned.add(len(orjson.loads(response.content).get("metrics") or []))
            if i >= warmup:
                latencies.append(elapsed)
    lat = h.latency_summary(latencies)
    h.log(
        f"history page of {sorted(returned)} points: median {h.fmt_num(lat['median_ms'])} ms, "
        f"p95 {h.fmt_num(lat['p95_ms'])} ms"
    )
    return {"latency": lat, "points_returned": sorted(returned)}


# --------------------------------------------------------------------------------------------
# The projection


def figures(results: dict[str, Any]) -> dict[str, float | None]:
    """The growing figures of one `scale` results file."""
    r = results["results"]
    growth = r.get("growth") or {}
    store = growth.get("storage") or {}

    def p95(name: str) -> float | None:
        entry = r.get(name) or growth.get(name) or {}
        return (entry.get("latency") or {}).get("p95_ms")

    return {
        "points": store.get("points"),
        "bytes_per_point": store.get("bytes_per_point"),
        "index_bytes_per_point": store.get("index_bytes_per_point"),
        "ingest_points_per_s": (growth.get("ingest") or {}).get("points_per_s"),
        "purge_points_per_s": (growth.get("purge") or {}).get("points_per_s"),
        "history_p95_ms": p95("history"),
        "search_p95_ms": p95("search"),
        "downsampled_p95_ms": p95("downsampled"),
    }


def _log_scale(small: float, large: float, n_small: float, n_large: float, n: float) -> float:
    return large + (large - small) * math.log(n / n_large) / math.log(n_large / n_small)


def project(small: dict[str, Any], large: dict[str, Any], memory_bytes: int) -> str:
    """A Markdown table: the two measured sizes and a billion points."""
    a, b = figures(small), figures(large)
    if not (a["points"] and b["points"]) or a["points"] >= b["points"]:
        raise SystemExit("--project needs two scale results, the smaller first, with growth")
    n_a, n_b = float(a["points"]), float(b["points"])

    def cell(value: float | None, unit: str = "") -> str:
        return "n/a" if value is None else f"{h.fmt_num(value)}{unit}"

    rows = []
    for name, label, how in (
        ("bytes_per_point", "disk per point (heap + index), bytes", "size"),
        ("index_bytes_per_point", "index per point, bytes", "size"),
        ("ingest_points_per_s", "ingest, points/s (4 clients, batches of 1,000)", "rate"),
        ("purge_points_per_s", "purge (gc) of runs, points/s", "rate"),
        ("history_p95_ms", "history page of 25,000 points, p95 ms", "latency"),
        ("search_p95_ms", "run search, p95 ms", "latency"),
        ("downsampled_p95_ms", "1,000-point view of a 1M-point series, p95 ms", "latency"),
    ):
        x, y = a[name], b[name]
        if x is None or y is None:
            projected = None
        elif how == "size":
            projected = y  # per point: flat, the points' own bytes
        else:
            # Never better than measured at the larger size: a figure that improved between
            # the two sizes did so by run-to-run noise, not because the table grew.
            trend = _log_scale(x, y, n_a, n_b, BILLION)
            projected = min(y, trend) if how == "rate" else max(y, trend)
        rows.append(f"| {label} | {cell(x)} | {cell(y)} | {cell(projected)} |")
    total = (b["bytes_per_point"] or 0) * BILLION
    index = (b["index_bytes_per_point"] or 0) * BILLION
    return "\n".join(
        [
            "# A billion points, projected",
            "",
            f"From `{small['meta']['command']}` and `{large['meta']['command']}`: sizes in "
            "proportion to the points, per-request figures on a log scale of the points, "
            "never better than at the larger size.",
            "",
            f"| figure | {n_a:,.0f} points | {n_b:,.0f} points | {BILLION:,} points, projected |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"At a billion points the metric table takes about {total / 2**30:,.0f} GiB on disk, "
            f"{index / 2**30:,.0f} GiB of it index; this machine has {memory_bytes / 2**30:,.0f} "
            "GiB of memory. Ingest touches the right edge of each live series' part of the "
            "index, so it holds while the live series' pages stay in memory; history reads and "
            "purges touch one partition's index each.",
        ]
    )
