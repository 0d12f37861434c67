"""Side-by-side benchmark: `mlflow server`, our server and the floor (bench/_floor.py: a bare
FastAPI + asyncpg app that only inserts what it is sent), same PostgreSQL, same worker count,
same client, same workloads, in one run with the lanes interleaved round by round. Prints
each figure for all three with ours/MLflow and ours/floor, the first and the last round of
each load loop (a cold start shows as a slow first round), and writes
bench/results/compare-<time>.{json,md} (and compare-latest.*).

    .venv/bin/python bench/compare_mlflow.py            # full run (~13 min on a busy machine)
    .venv/bin/python bench/compare_mlflow.py --quick    # smoke run, about 2 minutes
    .venv/bin/python bench/compare_mlflow.py --wire mlflow   # ours only through MLflow's API

See bench/README.md for what each workload does and the flags.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402
import _workloads as w  # noqa: E402
from _workloads import API_MLFLOW, API_V1  # noqa: E402

WORKLOADS = ("ingest", "single", "search", "history")

# Servers (which process receives the requests).
MLFLOW = "mlflow"
OURS = "ours"
FLOOR = "floor"
SERVERS = (MLFLOW, OURS, FLOOR)
# The floor only inserts: it takes part in the load loops, not in search or history.
FLOOR_WORKLOADS = ("ingest", "single")
WIRES = ("native", "mlflow", "both")


@dataclass(frozen=True)
class Lane:
    """One column of the result tables: a server, and the API the client speaks to it.

    Which API a request speaks is independent of which server receives it: our server also
    implements MLflow's REST API, so on the MLflow wire it gets exactly the requests that
    `mlflow server` gets."""

    name: str  # key in the results
    server: str  # MLFLOW or OURS
    api: str  # API_MLFLOW or API_V1
    label: str


LANE_MLFLOW = Lane("mlflow", MLFLOW, API_MLFLOW, "MLflow")
LANE_OURS = Lane("ours", OURS, API_V1, "ours (/api/v1)")
LANE_OURS_MLFLOW_API = Lane("ours-mlflow-api", OURS, API_MLFLOW, "ours (MLflow API)")
# The floor gets the very requests MLflow gets (MLflow's API).
LANE_FLOOR = Lane("floor", FLOOR, API_MLFLOW, "floor")

# Each table compares MLflow with one lane of ours: (key, title, our lane).
TABLES = (
    ("native", "Native wire: MLflow API on MLflow vs /api/v1 on ours", LANE_OURS),
    ("mlflow", "MLflow wire: the same MLflow API requests on both servers", LANE_OURS_MLFLOW_API),
)


def select_lanes(servers: list[str], wire: str) -> list[Lane]:
    """The lanes to run: MLflow (on its own API) once, and ours on the wire(s) asked for."""
    lanes = []
    if MLFLOW in servers:
        lanes.append(LANE_MLFLOW)
    if OURS in servers:
        if wire in ("native", "both"):
            lanes.append(LANE_OURS)
        if wire in ("mlflow", "both"):
            lanes.append(LANE_OURS_MLFLOW_API)
    if FLOOR in servers:
        lanes.append(LANE_FLOOR)
    return lanes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of ~1-2 min")
    p.add_argument("--workers", type=int, default=2, help="server worker processes, both sides")
    p.add_argument("--clients", type=int, default=4, help="concurrent client processes (ingest)")
    p.add_argument("--sides", default="mlflow,ours,floor", help="which servers to run (comma list)")
    p.add_argument(
        "--wire",
        choices=WIRES,
        default="both",
        help="which API our server is driven through: native (/api/v1), mlflow (the same "
        "/api/2.0/mlflow requests MLflow gets), or both (two tables). MLflow always gets its "
        "own API",
    )
    p.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma list of " + ",".join(WORKLOADS)
    )
    g = p.add_argument_group("metric ingest, batches")
    g.add_argument("--batch-size", type=int, default=1000, help="points per batch request")
    g.add_argument("--batch-keys", type=int, default=10, help="metric keys per batch")
    g.add_argument("--ingest-seconds", type=float, default=20.0)
    g.add_argument("--ingest-max-requests", type=int, default=20_000, help="per client")
    g = p.add_argument_group("one point per request")
    g.add_argument("--single-clients", type=int, default=4)
    g.add_argument("--single-seconds", type=float, default=15.0)
    g.add_argument("--single-max-requests", type=int, default=200_000, help="per client")
    g = p.add_argument_group("run search")
    g.add_argument("--search-runs", type=int, default=10_000, help="runs seeded per server")
    g.add_argument("--search-reps", type=int, default=30, help="timed searches per server")
    g.add_argument("--search-max-results", type=int, default=1000)
    g.add_argument("--search-filter", default=w.SEARCH_FILTER)
    g.add_argument("--seed-concurrency", type=int, default=8, help="client processes seeding")
    g = p.add_argument_group("metric history")
    g.add_argument("--history-points", type=int, default=100_000)
    g.add_argument("--history-page", type=int, default=25_000, help="page size asked for")
    g.add_argument("--history-reps", type=int, default=5, help="timed full reads per server")
    g = p.add_argument_group("environment")
    g.add_argument("--warmup", type=int, default=3, help="untimed requests per client first")
    g.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="load loops are split into this many rounds, alternating the servers, so that "
        "background load on a shared machine hits both alike",
    )
    g.add_argument("--keep-dbs", action="store_true", help="do not drop the databases at the end")
    g.add_argument(
        "--mlflow-stock-http",
        action="store_true",
        help="run MLflow on uvicorn's asyncio loop + h11 (a bare `pip install mlflow`) instead "
        "of uvloop + httptools; see README (keep-alive requests then stall ~40 ms)",
    )
    g.add_argument("--no-setup", action="store_true", help="fail instead of building the venv")
    args = p.parse_args(argv)
    if args.quick:
        args.ingest_seconds = min(args.ingest_seconds, 5.0)
        args.single_seconds = min(args.single_seconds, 4.0)
        args.search_runs = min(args.search_runs, 500)
        args.search_reps = min(args.search_reps, 5)
        args.history_points = min(args.history_points, 20_000)
        args.history_page = min(args.history_page, 5_000)
        args.history_reps = min(args.history_reps, 2)
        args.warmup = min(args.warmup, 1)
        args.rounds = min(args.rounds, 2)
    args.sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    args.workloads = [x.strip() for x in args.workloads.split(",") if x.strip()]
    for side in args.sides:
        if side not in SERVERS:
            p.error(f"unknown side {side!r}")
    for name in args.workloads:
        if name not in WORKLOADS:
            p.error(f"unknown workload {name!r}")
    args.lanes = select_lanes(args.sides, args.wire)
    if not args.lanes:
        p.error("nothing to run: no lane for these --sides and --wire")
    if any(lane.api == API_MLFLOW for lane in args.lanes):
        if args.batch_size > w.MLFLOW_MAX_BATCH_METRICS:
            p.error(f"--batch-size: MLflow's log-batch takes ≤ {w.MLFLOW_MAX_BATCH_METRICS}")
        if args.history_page > w.MLFLOW_MAX_HISTORY_PAGE:
            p.error(f"--history-page: MLflow's get-history takes ≤ {w.MLFLOW_MAX_HISTORY_PAGE}")
    return args


# --------------------------------------------------------------------------------------------


def loop_stats(results: list[h.LoopResult]) -> dict[str, Any]:
    t_start = min(r.t_start for r in results)
    t_end = max(r.t_end for r in results)
    elapsed = max(t_end - t_start, 1e-9)
    requests = sum(r.requests for r in results)
    items = sum(r.items for r in results)
    errors = sum(r.errors for r in results)
    latencies = [x for r in results for x in r.latencies]
    return {
        "elapsed_s": round(elapsed, 3),
        "requests": requests,
        "ok_items": items,
        "errors": errors,
        "first_error": next((r.first_error for r in results if r.first_error), None),
        "requests_per_s": requests / elapsed,
        "ok_requests_per_s": (requests - errors) / elapsed,
        "items_per_s": items / elapsed,
        "latency": h.latency_summary(latencies),
    }


class Bench:
    def __init__(
        self, args: argparse.Namespace, servers: dict[str, h.Server], dbs: dict[str, str]
    ) -> None:
        self.args = args
        self.servers = servers
        self.dbs = dbs
        self.lanes: list[Lane] = args.lanes
        # One client per server; every lane on that server shares it (requests are serial).
        self.clients = {name: h.http_client(s.base_url) for name, s in servers.items()}
        # results[workload][lane.name]
        self.results: dict[str, dict[str, Any]] = {}
        # Points acknowledged by each lane; the lanes of one server share its database.
        self.acked_points: dict[str, int] = {lane.name: 0 for lane in self.lanes}
        self.tag = h.rand_suffix(6)

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def record(self, workload: str, lane: Lane, data: dict[str, Any]) -> None:
        self.results.setdefault(workload, {})[lane.name] = data

    def meter(self, lane: Lane) -> h.CpuMeter:
        return h.CpuMeter(self.servers[lane.server], self.dbs[lane.server])

    def client(self, lane: Lane) -> httpx.Client:
        return self.clients[lane.server]

    def url(self, lane: Lane) -> str:
        return self.servers[lane.server].base_url

    def experiment(self, lane: Lane, purpose: str) -> str:
        name = f"bench-{purpose}-{lane.name}-{self.tag}"
        return w.create_experiment(self.client(lane), lane.api, name)

    def order(self, r: int, lanes: list[Lane] | None = None) -> list[Lane]:
        """Lanes in alternating order per round, so slow drifts in background load hit all."""
        lanes = self.lanes if lanes is None else lanes
        return lanes if r % 2 == 0 else lanes[::-1]

    @property
    def read_lanes(self) -> list[Lane]:
        """The lanes of the read workloads (the floor only inserts)."""
        return [lane for lane in self.lanes if lane.server != FLOOR]

    # ---- bounded load loops in alternating rounds -------------------------------------------
    def load(
        self,
        name: str,
        worker: Any,
        n_clients: int,
        seconds: float,
        max_requests: int,
        warmup: int,
        items_per_request: int,
        extra: tuple[Any, ...],
    ) -> None:
        a = self.args
        runs: dict[str, list[str]] = {}
        for lane in self.lanes:
            try:
                exp = self.experiment(lane, name)
                runs[lane.name] = [
                    w.create_run(self.client(lane), lane.api, exp, f"{name}-{i}")
                    for i in range(n_clients)
                ]
            except Exception as exc:  # noqa: BLE001 - reported, the other lanes still run
                self.record(name, lane, {"failed": str(exc)})
                h.log(f"    {lane.name}: setup failed: {exc}")
        live = [lane for lane in self.lanes if lane.name in runs]
        rounds = max(1, a.rounds)
        per_round = seconds / rounds
        results: dict[str, list[h.LoopResult]] = {lane.name: [] for lane in live}
        meters: dict[str, list[h.CpuMeter]] = {lane.name: [] for lane in live}
        elapsed: dict[str, float] = {lane.name: 0.0 for lane in live}
        # Each round's figure (points/s or requests/s): the first shows a cold start.
        by_round: dict[str, list[float]] = {lane.name: [] for lane in live}
        for r in range(rounds):
            for lane in self.order(r):
                if lane.name not in runs:
                    continue
                start_at = time.time() + 1.5 + (0.5 if r == 0 and warmup else 0)
                meter = self.meter(lane)
                out = h.run_workers_timed(
                    worker,
                    [
                        (
                            lane.api,
                            self.url(lane),
                            run,
                            *extra,
                            per_round,
                            max(1, max_requests // rounds),
                            start_at,
                            warmup if r == 0 else 0,
                            r,
                        )
                        for run in runs[lane.name]
                    ],
                    start_at,
                    meter,
                )
                results[lane.name].extend(out)
                meters[lane.name].append(meter)
                round_stats = loop_stats(out)
                elapsed[lane.name] += round_stats["elapsed_s"]
                by_round[lane.name].append(round_stats["items_per_s"])
                unit = "points" if items_per_request > 1 else "requests"
                h.log(
                    f"    round {r + 1}/{rounds} {lane.name}: "
                    f"{h.fmt_num(round_stats['items_per_s'])} {unit}/s"
                )
        for lane in live:
            stats = loop_stats(results[lane.name])
            # Throughput over the timed windows only (not the pauses between rounds).
            total = max(elapsed[lane.name], 1e-9)
            stats["elapsed_s"] = round(total, 3)
            stats["requests_per_s"] = stats["requests"] / total
            stats["ok_requests_per_s"] = (stats["requests"] - stats["errors"]) / total
            stats["items_per_s"] = stats["ok_items"] / total
            stats["rounds"] = rounds
            stats["by_round"] = by_round[lane.name]
            stats["first_round"] = by_round[lane.name][0]
            stats["last_round"] = by_round[lane.name][-1]
            stats["cpu"] = h.cpu_summary(meters[lane.name])
            # CPU cost per request: steadier than throughput when the machine is shared.
            done = max(stats["requests"] - stats["errors"], 1)
            server_s = sum(m.server_s for m in meters[lane.name])
            pg_s = sum(m.pg_s for m in meters[lane.name])
            stats["server_cpu_ms_per_request"] = 1000 * server_s / done
            stats["postgres_cpu_ms_per_request"] = 1000 * pg_s / done
            stats["warmup_items"] = warmup * items_per_request * len(runs[lane.name])
            self.acked_points[lane.name] += stats["ok_items"] + stats["warmup_items"]
            if items_per_request > 1:
                stats["points_per_s"] = stats.pop("items_per_s")
                figure = f"{h.fmt_num(stats['points_per_s'])} points/s"
            else:
                stats.pop("items_per_s")
                figure = f"{h.fmt_num(stats['ok_requests_per_s'])} requests/s"
            self.record(name, lane, stats)
            h.log(f"    {lane.name} {h.cpu_line(stats['cpu'])}")
            h.log(
                f"    {lane.name}: {figure} ({stats['requests']} requests, {stats['errors']} "
                f"errors, median {h.fmt_num(stats['latency'].get('median_ms'))} ms/request; CPU "
                f"per request: server {h.fmt_num(stats['server_cpu_ms_per_request'])} ms, "
                f"PostgreSQL {h.fmt_num(stats['postgres_cpu_ms_per_request'])} ms)"
            )
            per = "points/s" if items_per_request > 1 else "requests/s"
            h.log(
                f"    {lane.name}: first round {h.fmt_num(stats['first_round'])}, last round "
                f"{h.fmt_num(stats['last_round'])} {per}"
            )
            if stats["first_error"]:
                h.log(f"    {lane.name}: first error: {stats['first_error']}")

    # ---- metric ingest, batches of 1,000 points -------------------------------------------
    def ingest(self) -> None:
        a = self.args
        self.load(
            "ingest",
            w.ingest_worker,
            a.clients,
            a.ingest_seconds,
            a.ingest_max_requests,
            a.warmup,
            a.batch_size,
            (a.batch_size, a.batch_keys),
        )

    # ---- one point per request -------------------------------------------------------------
    def single(self) -> None:
        a = self.args
        self.load(
            "single",
            w.single_worker,
            a.single_clients,
            a.single_seconds,
            a.single_max_requests,
            a.warmup * 10,
            1,
            (),
        )

    # ---- run search over N runs ------------------------------------------------------------
    def search(self) -> None:
        a = self.args
        seed = 7
        exps: dict[str, str] = {}
        jobs: list[tuple[Any, ...]] = []
        owners: list[str] = []  # the lane of each job
        for lane in self.read_lanes:
            exps[lane.name] = self.experiment(lane, "search")
            for part in h.chunks(list(range(a.search_runs)), a.seed_concurrency):
                jobs.append((lane.api, self.url(lane), exps[lane.name], part, seed))
                owners.append(lane.name)
        # All lanes are seeded at once (untimed); only the searches are measured.
        t0 = time.perf_counter()
        seeded = h.run_workers(w.seed_runs_worker, jobs)
        seed_s = time.perf_counter() - t0
        expected = min(w.expected_search_matches(a.search_runs, seed), a.search_max_results)

        def search_once(lane: Lane) -> int:
            return w.search_once(
                self.client(lane), lane.api, exps[lane.name], a.search_filter, a.search_max_results
            )

        live: dict[str, dict[str, Any]] = {}
        for lane in self.read_lanes:
            mine = [s for owner, s in zip(owners, seeded, strict=True) if owner == lane.name]
            done = sum(s["done"] for s in mine)
            errors = sum(s["errors"] for s in mine)
            self.acked_points[lane.name] += done
            h.log(f"    {lane.name}: seeded {done} runs ({errors} errors); all took {seed_s:.1f}s")
            if errors:
                first = next(s["first_error"] for s in mine if s["errors"])
                h.log(f"    first seeding error: {first}")
            try:
                got = search_once(lane)
            except h.HTTPFailure as exc:
                self.record("search", lane, {"unavailable": str(exc)})
                h.log(f"    {lane.name}: search unavailable: {exc}")
                continue
            live[lane.name] = {
                "runs_seeded": done,
                "seed_errors": errors,
                "counts": {got},
                "latencies": [],
                "server_cpu": [],
            }
        for _ in range(max(0, a.warmup - 1)):
            for lane in self.read_lanes:
                if lane.name in live:
                    search_once(lane)
        for r in range(a.search_reps):
            for lane in self.order(r, self.read_lanes):
                if lane.name not in live:
                    continue
                server = self.servers[lane.server]
                cpu0 = server.cpu_seconds()
                t = time.perf_counter()
                n = search_once(lane)
                live[lane.name]["latencies"].append(time.perf_counter() - t)
                live[lane.name]["server_cpu"].append(server.cpu_seconds() - cpu0)
                live[lane.name]["counts"].add(n)
        for lane in self.read_lanes:
            if lane.name not in live:
                continue
            d = live[lane.name]
            stats = {
                "runs_seeded": d["runs_seeded"],
                "seed_errors": d["seed_errors"],
                "seed_seconds_all": round(seed_s, 1),
                "runs_returned": sorted(d["counts"]),
                "runs_expected": expected,
                "correct": d["counts"] == {expected},
                "latency": h.latency_summary(d["latencies"]),
                "server_cpu_ms_per_request": 1000 * sum(d["server_cpu"]) / len(d["server_cpu"]),
            }
            self.record("search", lane, stats)
            lat = stats["latency"]
            h.log(
                f"    {lane.name}: median {h.fmt_num(lat['median_ms'])} ms, p95 "
                f"{h.fmt_num(lat['p95_ms'])} ms; server CPU "
                f"{h.fmt_num(stats['server_cpu_ms_per_request'])} ms/search; "
                f"{stats['runs_returned']} runs returned (expected {expected})"
            )

    # ---- read a long metric history ------------------------------------------------------
    def history(self) -> None:
        a = self.args
        key = "loss"
        runs: dict[str, str] = {}
        jobs: list[tuple[Any, ...]] = []
        for lane in self.read_lanes:
            exp = self.experiment(lane, "history")
            runs[lane.name] = w.create_run(self.client(lane), lane.api, exp, "history")
            # MLflow's API takes at most 1,000 points a batch; ours takes up to 10,000.
            per_batch = w.MLFLOW_MAX_BATCH_METRICS if lane.api == API_MLFLOW else 10_000
            ranges = [
                (s, min(s + per_batch, a.history_points))
                for s in range(0, a.history_points, per_batch)
            ]
            for part in h.chunks(ranges, min(4, len(ranges))):
                jobs.append((lane.api, self.url(lane), runs[lane.name], key, part))
        t0 = time.perf_counter()
        h.run_workers(w.seed_history_worker, jobs)
        seed_s = time.perf_counter() - t0

        def read(lane: Lane) -> tuple[int, int]:
            return w.read_history(self.client(lane), lane.api, runs[lane.name], key, a.history_page)

        live: dict[str, dict[str, Any]] = {}
        for lane in self.read_lanes:
            self.acked_points[lane.name] += a.history_points
            try:
                got, pages = read(lane)
            except h.HTTPFailure as exc:
                self.record("history", lane, {"unavailable": str(exc)})
                h.log(f"    {lane.name}: history unavailable: {exc}")
                continue
            live[lane.name] = {"got": {got}, "pages": pages, "latencies": [], "server_cpu": []}
        h.log(f"    seeded {a.history_points} points in each lane in {seed_s:.1f}s")
        for r in range(a.history_reps):
            for lane in self.order(r, self.read_lanes):
                if lane.name not in live:
                    continue
                server = self.servers[lane.server]
                cpu0 = server.cpu_seconds()
                t = time.perf_counter()
                got, pages = read(lane)
                live[lane.name]["latencies"].append(time.perf_counter() - t)
                live[lane.name]["server_cpu"].append(server.cpu_seconds() - cpu0)
                live[lane.name]["got"].add(got)
        for lane in self.read_lanes:
            if lane.name not in live:
                continue
            d = live[lane.name]
            lat = h.latency_summary(d["latencies"])
            stats = {
                "points": a.history_points,
                "points_returned": sorted(d["got"]),
                "pages": d["pages"],
                "correct": d["got"] == {a.history_points},
                "seed_seconds_all": round(seed_s, 1),
                "latency": lat,
                "points_per_s": a.history_points / (lat["median_ms"] / 1000),
                "server_cpu_ms_per_read": 1000 * sum(d["server_cpu"]) / len(d["server_cpu"]),
            }
            self.record("history", lane, stats)
            h.log(
                f"    {lane.name}: full read median {h.fmt_num(lat['median_ms'])} ms, p95 "
                f"{h.fmt_num(lat['p95_ms'])} ms ({sorted(d['got'])} points in {d['pages']} "
                f"pages); server CPU {h.fmt_num(stats['server_cpu_ms_per_read'])} ms/read"
            )

    # ---- sanity: what the databases hold -------------------------------------------------
    def stored_points(self) -> dict[str, Any]:
        """Per server: the points its lanes acknowledged (whichever API they came through)
        against the rows in its database."""
        out = {}
        for server, db in self.dbs.items():
            table = {MLFLOW: "metrics", OURS: "metric", FLOOR: "floor_metric"}[server]
            try:
                stored: Any = h.pg_scalar(db, f"SELECT count(*) FROM {table}")
            except Exception as exc:  # noqa: BLE001
                stored = f"error: {exc}"
            by_lane = {
                lane.name: self.acked_points[lane.name]
                for lane in self.lanes
                if lane.server == server
            }
            acknowledged = sum(by_lane.values())
            out[server] = {
                "acknowledged": acknowledged,
                "acknowledged_by_lane": by_lane,
                "stored": stored,
                "match": isinstance(stored, int) and stored == acknowledged,
            }
        return out


# --------------------------------------------------------------------------------------------
# Report

# (text, speed-up over MLflow, fraction of the floor) per workload (issue 13's targets).
TARGETS = {
    "ingest": ("≥ 15× MLflow and ≥ 0.7× floor", 15.0, 0.7),
    "single": ("≥ 10× MLflow and ≥ 0.7× floor", 10.0, 0.7),
    "search": ("≥ 15× faster", 15.0, None),
    "history": ("≥ 10× faster", 10.0, None),
}


def summarize(results: dict[str, dict[str, Any]], ours: Lane) -> list[dict[str, Any]]:
    """One row per figure, MLflow against lane `ours`: both values, ours/MLflow, and the
    speed-up (higher = ours better)."""
    rows = []

    def get(workload: str, lane: Lane, *path: str) -> float | None:
        node: Any = results.get(workload, {}).get(lane.name)
        for p in path:
            if not isinstance(node, dict):
                return None
            node = node.get(p)
        return node if isinstance(node, int | float) else None

    def add(
        workload: str,
        label: str,
        path: tuple[str, ...],
        unit: str,
        higher_better: bool,
        targeted: bool = True,
    ) -> None:
        m, o = get(workload, LANE_MLFLOW, *path), get(workload, ours, *path)
        f = get(workload, LANE_FLOOR, *path)
        ratio = o / m if m and o is not None else None
        floor_ratio = o / f if f and o is not None else None
        speedup = None
        if m and o:
            speedup = o / m if higher_better else m / o
        target_text, target, floor_target = TARGETS[workload]
        ok = None
        if not targeted:
            target_text = "(cost or round; no target)"
        elif speedup is not None:
            ok = speedup >= target
            if floor_target is not None and floor_ratio is not None:
                ok = ok and floor_ratio >= floor_target
        rows.append(
            {
                "workload": workload,
                "figure": label,
                "unit": unit,
                "mlflow": m,
                "ours": o,
                "floor": f,
                "ratio_ours_over_mlflow": ratio,
                "ratio_ours_over_floor": floor_ratio,
                "speedup": speedup,
                "target": target_text,
                "meets_target": ok,
                "ours_lane": ours.name,
                "ours_note": (results.get(workload, {}).get(ours.name) or {}).get("unavailable"),
            }
        )

    if "ingest" in results:
        add("ingest", "batch ingest", ("points_per_s",), "points/s", True)
        add("ingest", "batch: first round", ("first_round",), "points/s", True, False)
        add("ingest", "batch: last round", ("last_round",), "points/s", True, False)
    if "single" in results:
        add("single", "one point per request", ("ok_requests_per_s",), "requests/s", True)
        add("single", "single: first round", ("first_round",), "requests/s", True, False)
        add("single", "single: last round", ("last_round",), "requests/s", True, False)
    if "ingest" in results:
        add(
            "ingest",
            "batch: server CPU per batch",
            ("server_cpu_ms_per_request",),
            "ms",
            False,
            False,
        )
    if "single" in results:
        add(
            "single",
            "single: server CPU per request",
            ("server_cpu_ms_per_request",),
            "ms",
            False,
            False,
        )
    if "search" in results:
        add("search", "search median", ("latency", "median_ms"), "ms", False)
        add("search", "search p95", ("latency", "p95_ms"), "ms", False)
    if "search" in results:
        add(
            "search",
            "search: server CPU per search",
            ("server_cpu_ms_per_request",),
            "ms",
            False,
            False,
        )
    if "history" in results:
        add("history", "history full read (median)", ("latency", "median_ms"), "ms", False)
        add("history", "history full read (p95)", ("latency", "p95_ms"), "ms", False)
        add(
            "history",
            "history: server CPU per read",
            ("server_cpu_ms_per_read",),
            "ms",
            False,
            False,
        )
    return rows


def ours_cell(r: dict[str, Any]) -> str:
    if r["ours"] is not None:
        return h.fmt_num(r["ours"])
    return "unavailable" if r["ours_note"] else "n/a"


def render(tables: list[tuple[str, str, list[dict[str, Any]]]], meta: dict[str, Any]) -> str:
    lines = [
        "# Experiment Tracker vs MLflow",
        "",
        f"- command: `{meta['command']}`",
        f"- when: {meta['started']}; our commit {meta['git'].get('commit')} "
        f"(mltrail_server/ or migrations/ modified: {meta['git'].get('app_dirty')})",
        f"- MLflow {h.MLFLOW_VERSION} ({meta['mlflow_http']}) vs ours; both on PostgreSQL "
        f"127.0.0.1:5432, {meta['workers']} workers each; {meta['cpus']} CPUs; client: httpx "
        "in separate processes on the same machine",
        f"- machine load average (1/5/15 min) at the start: {meta['loadavg_start']}, at the "
        f"end: {meta['loadavg_end']}",
    ]
    for _key, title, rows in tables:
        lines += [
            "",
            f"## {title}",
            "",
            "| figure | unit | MLflow | ours | floor | ours / MLflow | ours / floor | speed-up "
            "| target | met |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for r in rows:
            met = {True: "yes", False: "**no**", None: "n/a"}[r["meets_target"]]
            lines.append(
                f"| {r['figure']} | {r['unit']} | {h.fmt_num(r['mlflow'])} | {ours_cell(r)} | "
                f"{h.fmt_num(r['floor'])} | {h.fmt_num(r['ratio_ours_over_mlflow'])} | "
                f"{h.fmt_num(r['ratio_ours_over_floor'])} | "
                f"{h.fmt_num(r['speedup'], '×')} | {r['target']} | {met} |"
            )
    lines.append("")
    lines.append(
        "Speed-up is ours/MLflow for throughput and MLflow/ours for latency. MLflow always gets "
        "its own API (`/api/2.0/mlflow`); on the native wire ours gets `/api/v1`, on the MLflow "
        "wire ours gets the very same `/api/2.0/mlflow` requests as MLflow. The MLflow and "
        "floor columns are the same measurements in both tables. The floor (bench/_floor.py) "
        "is a bare FastAPI + asyncpg app that only inserts what it is sent (COPY for a batch, "
        "one INSERT for a point), with no validation, no auth and no index: it takes MLflow's "
        "requests, and has no search or history figures."
    )
    return "\n".join(lines) + "\n"


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'figure':<40} {'MLflow':>10} {'ours':>10} {'floor':>10} {'ours/MLflow':>11} "
        f"{'ours/floor':>10}  target"
    )
    print(f"\n{title}\n")
    print(head)
    print("-" * len(head) + "-" * 30)
    for r in rows:
        unit = r["unit"]
        met = {True: "met", False: "NOT met", None: ""}[r["meets_target"]]
        print(
            f"{r['figure'] + ' (' + unit + ')':<40} {h.fmt_num(r['mlflow']):>10} "
            f"{ours_cell(r):>10} {h.fmt_num(r['floor']):>10} "
            f"{h.fmt_num(r['ratio_ours_over_mlflow']):>11} "
            f"{h.fmt_num(r['ratio_ours_over_floor']):>10}  {r['target']} {met}"
        )
    print()


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    loadavg_start = loadavg()
    h.log(
        "lanes: "
        + ", ".join(f"{lane.name} ({lane.api} API on {lane.server})" for lane in args.lanes)
    )
    run_id = h.rand_suffix(6)
    logs_dir = h.RESULTS_DIR / f"logs-{run_id}"
    mlflow_bin = None
    if MLFLOW in args.sides:
        if args.no_setup and not (h.MLFLOW_VENV / "bin" / "mlflow").exists():
            print("bench/.venv-mlflow is missing (run without --no-setup)", file=sys.stderr)
            return 2
        mlflow_bin = h.ensure_mlflow_venv()

    dbs = {side: f"bench_{side}_{run_id}" for side in args.sides}
    servers: dict[str, h.Server] = {}
    artifact_dir = tempfile.TemporaryDirectory(prefix="bench-mlflow-artifacts-")
    bench: Bench | None = None
    stored: dict[str, Any] = {}
    status = 0
    try:
        for db in dbs.values():
            h.create_database(db)
            h.log(f"created database {db}")
        if MLFLOW in args.sides:
            assert mlflow_bin is not None
            servers[MLFLOW] = h.mlflow_server(
                mlflow_bin,
                dbs[MLFLOW],
                h.free_port(),
                args.workers,
                Path(artifact_dir.name),
                logs_dir / "mlflow.log",
                stock_http=args.mlflow_stock_http,
            )
        if OURS in args.sides:
            servers[OURS] = h.our_server(
                dbs[OURS], h.free_port(), args.workers, logs_dir / "ours.log"
            )
        if FLOOR in args.sides:
            servers[FLOOR] = h.floor_server(
                dbs[FLOOR], h.free_port(), args.workers, logs_dir / "floor.log"
            )
        for s in servers.values():
            s.start()
        for s in servers.values():
            s.wait_ready(workers=args.workers)
            h.log(f"{s.name} ready")

        bench = Bench(args, servers, dbs)
        for name in args.workloads:
            with h.phase(name):
                try:
                    getattr(bench, name)()
                except Exception as exc:  # noqa: BLE001 - one failure must not stop the rest
                    status = 1
                    h.log(f"    {name} FAILED: {exc}")
                    traceback.print_exc()
                    for lane in bench.lanes:
                        bench.results.setdefault(name, {}).setdefault(
                            lane.name, {"failed": str(exc)}
                        )
        stored = bench.stored_points()
    finally:
        if bench is not None:
            bench.close()
        for s in servers.values():
            s.stop()
        if not args.keep_dbs:
            for db in dbs.values():
                h.drop_database(db)
            h.log("dropped the databases")
        else:
            h.log(f"kept databases: {', '.join(dbs.values())}")
        artifact_dir.cleanup()

    if bench is None:
        return 1
    tables = [
        (key, title, summarize(bench.results, ours))
        for key, title, ours in TABLES
        if args.wire in (key, "both")
    ]
    meta = {
        "command": " ".join(
            [".venv/bin/python", "bench/compare_mlflow.py", *(argv or sys.argv[1:])]
        ),
        "started": started,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git": h.git_describe(),
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "mlflow_version": h.MLFLOW_VERSION,
        "mlflow_http": "asyncio+h11 (stock)" if args.mlflow_stock_http else "uvloop+httptools",
        "args": {k: v for k, v in vars(args).items() if k != "lanes"},
        "lanes": [vars(lane) for lane in args.lanes],
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg(),
        "server_logs": str(logs_dir),
    }
    for _key, title, rows in tables:
        print_table(title, rows)
    for server, counts in stored.items():
        by_lane = ", ".join(f"{k} {v:,}" for k, v in counts["acknowledged_by_lane"].items())
        verdict = "ok" if counts["match"] else "MISMATCH"
        h.log(
            f"sanity: {server} acknowledged {counts['acknowledged']:,} points ({by_lane}), "
            f"database holds {counts['stored']}: {verdict}"
        )
        if not counts["match"]:
            status = 1
    h.log(
        f"machine load average: {meta['loadavg_start']} at the start, "
        f"{meta['loadavg_end']} at the end"
    )
    markdown = render(tables, meta)
    summaries = {key: rows for key, _title, rows in tables}
    json_path, md_path = h.write_results(
        "compare-quick" if args.quick else "compare",
        {
            "meta": meta,
            # "summary" is the native-wire table (as before); "summaries" has every table.
            "summary": summaries.get("native", []),
            "summaries": summaries,
            "results": bench.results,
            "stored_points": stored,
        },
        markdown,
    )
    h.log(f"wrote {json_path.relative_to(h.ROOT)} and {md_path.relative_to(h.ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
