"""Load test: mixed read/write traffic against our server on PostgreSQL with 2 workers.

    .venv/bin/python bench/load_test.py              # 60 s
    .venv/bin/python bench/load_test.py --quick      # 10 s smoke run
    .venv/bin/python bench/load_test.py --duration 300 --concurrency 64

It creates a fresh PostgreSQL database (127.0.0.1:5432, user postgres), starts `uvicorn
mltrail_server.main:app --workers 2` on a free port of 127.0.0.1 with Redis (127.0.0.1:6379,
under a key prefix of its own), seeds experiments, runs and metric series through the API, then
runs closed-loop clients (in separate OS processes, so that they share no GIL with each other)
for the duration. It prints requests/s, latency percentiles, errors (every non-2xx answer or
failed connection; the target is 0) and the resident memory of the server's processes (master
and workers, read from /proc) before, during and after the load. At the end it stops the server,
drops the database and deletes its Redis keys.

Nothing here imports `app`: the server is driven over HTTP only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PG_ADMIN = os.environ.get("LOAD_PG_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/0")

# What one client does, with weights: 65 % reads, 35 % writes.
MIX: dict[str, int] = {
    "get_experiment": 15,
    "list_experiments": 10,
    "get_run": 15,
    "list_runs": 5,
    "metric_history": 8,
    "downsampled": 7,
    "search_runs": 5,
    "log_batch": 15,
    "log_param": 5,
    "set_tag": 5,
    "create_run": 5,
    "describe_experiment": 5,
}
WRITES = {"log_batch", "log_param", "set_tag", "create_run", "describe_experiment"}
KEYS = [f"m{i}" for i in range(5)]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- the server and its memory -------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """The process and every process below it (uvicorn's workers and helpers)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            tasks = Path(f"/proc/{current}/task").iterdir()
            for task in tasks:
                children = (task / "children").read_text().split()
                queue.extend(int(child) for child in children)
        except OSError:
            continue
    return found


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(master: int) -> float:
    """User + system CPU time of the master and everything under it."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in descendants(master):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU ticks of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def memory(master: int) -> dict[str, float]:
    """RSS in MB of the master and of each process under it."""
    return {
        ("master" if pid == master else f"pid {pid}"): round(rss_mb(pid), 1)
        for pid in descendants(master)
    }


class Server:
    def __init__(self, database_url: str, redis_prefix: str, workers: int, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "REDIS_PREFIX": redis_prefix,
            "AUTH_ENABLED": "false",  # loopback only; no keys to juggle
            "RATE_LIMIT_PER_SECOND": "0",  # one client address sends everything
            "LOG_LEVEL": "WARNING",
            "MIGRATE_ON_START": "true",
        }
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "mltrail_server.main:app",
            "--host",
            "127.0.0.1",
        ]
        command += ["--port", str(self.port), "--workers", str(workers)]
        command += ["--log-level", "warning", "--no-access-log"]
        with log_path.open("ab") as output:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        self.workers = workers

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                ready = httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
                # Every worker up: the master has `workers` children (and a helper).
                if ready and len(descendants(self.process.pid)) > self.workers:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# --- the database and Redis ----------------------------------------------------------------


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(f"{PG_ADMIN}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(name: str) -> str:
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return f"{PG_ADMIN}/{name}"


def drop_database(name: str) -> None:
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def delete_redis_keys(prefix: str) -> int:
    with redis.Redis.from_url(REDIS_URL) as connection:
        keys = list(connection.scan_iter(match=f"{prefix}*", count=1000))
        for start in range(0, len(keys), 500):
            connection.delete(*keys[start : start + 500])
        return len(keys)


# --- seeding ---------------------------------------------------------------------------------


def points(first_step: int, steps: int) -> list[dict[str, Any]]:
    return [
        {"key": key, "value": random.random(), "step": step}
        for step in range(first_step, first_step + steps)
        for key in KEYS
    ]


def seed(url: str, experiments: int, runs: int, steps: int) -> dict[str, list[str]]:
    world: dict[str, list[str]] = {"experiments": [], "runs": []}
    tag = uuid.uuid4().hex[:6]
    with httpx.Client(base_url=url, timeout=60) as client:
        for index in range(experiments):
            body = {"name": f"load-{tag}-{index}", "owner": f"user{index % 3}"}
            response = client.post("/api/v1/experiments", json=body)
            response.raise_for_status()
            experiment = response.json()["id"]
            world["experiments"].append(experiment)
            for number in range(runs):
                body = {"name": f"run-{number}", "params": {"lr": str(0.001 * (number + 1))}}
                response = client.post(f"/api/v1/experiments/{experiment}/runs", json=body)
                response.raise_for_status()
                run = response.json()["id"]
                world["runs"].append(run)
                response = client.post(
                    f"/api/v1/runs/{run}/batch", json={"metrics": points(0, steps)}
                )
                response.raise_for_status()
    return world


# --- the clients -----------------------------------------------------------------------------


@dataclass
class ClientResult:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)


class Client:
    def __init__(self, http: httpx.AsyncClient, world: dict[str, list[str]], seed_value: int):
        self.http = http
        self.world = world
        self.random = random.Random(seed_value)
        self.step = 1_000_000 + seed_value * 1_000_000
        self.counter = 0

    def _experiment(self) -> str:
        return self.random.choice(self.world["experiments"])

    def _run(self) -> str:
        return self.random.choice(self.world["runs"])

    async def call(self, operation: str) -> httpx.Response:
        http, self.counter = self.http, self.counter + 1
        if operation == "get_experiment":
            return await http.get(f"/api/v1/experiments/{self._experiment()}")
        if operation == "list_experiments":
            return await http.get("/api/v1/experiments", params={"per_page": 20})
        if operation == "get_run":
            return await http.get(f"/api/v1/runs/{self._run()}")
        if operation == "list_runs":
            return await http.get(f"/api/v1/experiments/{self._experiment()}/runs")
        if operation == "metric_history":
            params = {"key": self.random.choice(KEYS), "limit": 500}
            return await http.get(f"/api/v1/runs/{self._run()}/metrics/history", params=params)
        if operation == "downsampled":
            params = {"key": self.random.choice(KEYS), "points": 200}
            return await http.get(f"/api/v1/runs/{self._run()}/metrics/downsampled", params=params)
        if operation == "search_runs":
            body = {
                "experiment_ids": [self._experiment()],
                "filter": "metrics.m0 > 0.5 AND params.lr != '0.002'",
                "order_by": ["metrics.m1 DESC"],
                "max_results": 50,
            }
            return await http.post("/api/v1/runs/search", json=body)
        if operation == "log_batch":
            self.step += 20
            body = {"metrics": points(self.step, 20)}
            return await http.post(f"/api/v1/runs/{self._run()}/batch", json=body)
        if operation == "log_param":
            body = {"key": f"p{id(self)}-{self.counter}", "value": str(self.random.random())}
            return await http.post(f"/api/v1/runs/{self._run()}/params", json=body)
        if operation == "set_tag":
            tag = f"t{self.random.randrange(20)}"
            body = {"value": str(self.counter)}
            return await http.put(f"/api/v1/runs/{self._run()}/tags/{tag}", json=body)
        if operation == "create_run":
            return await http.post(f"/api/v1/experiments/{self._experiment()}/runs", json={})
        if operation == "describe_experiment":
            body = {"description": f"load {self.counter}"}
            return await http.patch(f"/api/v1/experiments/{self._experiment()}", json=body)
        raise ValueError(operation)


async def _drive(
    url: str, world: dict[str, list[str]], concurrency: int, until: float, seed_value: int
) -> ClientResult:
    result = ClientResult()
    operations, weights = zip(*MIX.items(), strict=True)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def one(number: int, http: httpx.AsyncClient) -> None:
        client = Client(http, world, seed_value * 1000 + number)
        while time.time() < until:
            operation = client.random.choices(operations, weights)[0]
            started = time.perf_counter()
            try:
                response = await client.call(operation)
                failed = not 200 <= response.status_code < 300
                detail = f"{response.status_code} {response.text[:200]}" if failed else ""
            except httpx.HTTPError as exc:
                failed, detail = True, repr(exc)
            result.latencies[operation].append(time.perf_counter() - started)
            if failed:
                result.errors[operation] += 1
                if len(result.error_samples) < 10:
                    result.error_samples.append(f"{operation}: {detail}")

    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await asyncio.gather(*(one(number, http) for number in range(concurrency)))
    return result


def drive(args: tuple[str, dict[str, list[str]], int, float, int]) -> ClientResult:
    """One client process: `concurrency` closed-loop clients until the wall-clock deadline."""
    result = asyncio.run(_drive(*args))
    result.latencies = dict(result.latencies)  # picklable
    return result


# --- figures ---------------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def sample_memory(master: int, until: float, every: float) -> list[tuple[float, float]]:
    """(seconds since start, total RSS MB) every `every` seconds until the deadline."""
    samples, started = [], time.time()
    while time.time() < until:
        samples.append((round(time.time() - started, 1), round(sum(memory(master).values()), 1)))
        time.sleep(min(every, max(0.0, until - time.time())))
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--quick", action="store_true", help="a 10 s smoke run")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (2)")
    parser.add_argument("--concurrency", type=int, default=32, help="clients in all (32)")
    parser.add_argument("--client-processes", type=int, default=2, help="OS processes (2)")
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10, help="runs per experiment (10)")
    parser.add_argument("--steps", type=int, default=500, help="seeded steps per key (500)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.duration = 10.0
    processes = max(1, min(args.client_processes, args.concurrency))

    run_id = uuid.uuid4().hex[:8]
    database = f"load_{run_id}"
    prefix = f"load-{run_id}:"
    RESULTS.mkdir(parents=True, exist_ok=True)
    server_log = RESULTS / f"load-{run_id}-server.log"
    log(f"database {database}, Redis prefix {prefix}, server log {server_log}")
    database_url = create_database(database)
    server = Server(database_url, prefix, args.workers, server_log)
    try:
        server.wait_ready()
        pids = descendants(server.process.pid)
        log(f"server on {server.url}: {args.workers} workers, pids {pids}")
        world = seed(server.url, args.experiments, args.runs, args.steps)
        log(f"seeded {len(world['experiments'])} experiments, {len(world['runs'])} runs")
        memory_before = memory(server.process.pid)
        cpu_before, machine_before = cpu_seconds(server.process.pid), machine_busy()

        started = time.time()
        until = started + args.duration
        shares = [
            args.concurrency // processes + (i < args.concurrency % processes)
            for i in range(processes)
        ]
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes) as pool:
            pending = pool.map_async(
                drive, [(server.url, world, share, until, i) for i, share in enumerate(shares)]
            )
            memory_series = sample_memory(server.process.pid, until, max(1.0, args.duration / 12))
            results: list[ClientResult] = pending.get(timeout=args.duration + 120)
        elapsed = time.time() - started
        memory_after = memory(server.process.pid)
        server_cpu = cpu_seconds(server.process.pid) - cpu_before
        machine_after = machine_busy()
        server_alive = server.process.poll() is None
    finally:
        server.stop()
        deleted = delete_redis_keys(prefix)
        if not args.keep_db:
            drop_database(database)
        log(
            f"server stopped; {deleted} Redis keys deleted; database "
            f"{'kept' if args.keep_db else 'dropped'}"
        )

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    samples: list[str] = []
    for result in results:
        for operation, values in result.latencies.items():
            latencies[operation] += values
        errors.update(result.errors)
        samples += result.error_samples
    everything = [value for values in latencies.values() for value in values]
    total = len(everything)
    writes = sum(len(latencies[op]) for op in WRITES)
    # "Flat": what the server holds at the end against what it held once warmed up (the
    # first sample a tenth of the way in), not against the cold process before any request.
    warm = next((mb for at, mb in memory_series if at >= args.duration / 10), memory_series[-1][1])
    figures = {
        "duration_s": round(elapsed, 1),
        "workers": args.workers,
        "concurrency": args.concurrency,
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "writes_share": round(writes / total, 3) if total else 0,
        "p50_ms": round(percentile(everything, 50) * 1000, 1),
        "p95_ms": round(percentile(everything, 95) * 1000, 1),
        "p99_ms": round(percentile(everything, 99) * 1000, 1),
        "errors": sum(errors.values()),
        "errors_by_operation": dict(errors),
        "error_samples": samples[:10],
        "per_operation": {
            op: {
                "requests": len(values),
                "p50_ms": round(percentile(values, 50) * 1000, 1),
                "p99_ms": round(percentile(values, 99) * 1000, 1),
            }
            for op, values in sorted(latencies.items())
        },
        "rss_mb_before_load": memory_before,
        "rss_mb_after_load": memory_after,
        "rss_mb_total_series": memory_series,
        "rss_mb_total_warm": warm,
        "rss_mb_total_end": round(sum(memory_after.values()), 1),
        "server_alive_at_end": server_alive,
        "server_cpu_ms_per_request": round(server_cpu / total * 1000, 2) if total else None,
        "server_cpu_cores_used": round(server_cpu / elapsed, 2),
        "machine_busy_share": round(
            (machine_after[0] - machine_before[0]) / (machine_after[1] - machine_before[1]), 2
        ),
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
    }

    print()
    print(
        f"{total} requests in {elapsed:.1f} s: {figures['requests_per_s']} requests/s "
        f"({figures['writes_share']:.0%} writes), {args.workers} workers, "
        f"{args.concurrency} clients in {processes} processes"
    )
    print(
        f"latency p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
        f"p99 {figures['p99_ms']} ms; errors {figures['errors']}"
    )
    print(f"{'operation':22} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for op, row in figures["per_operation"].items():
        print(
            f"{op:22} {row['requests']:>9} {row['p50_ms']:>8} {row['p99_ms']:>8} "
            f"{errors.get(op, 0):>7}"
        )
    print(f"server RSS (MB): before load {memory_before}, after {memory_after}")
    print(f"server RSS total over time (s, MB): {memory_series}")
    print(f"total RSS warmed up {warm} MB -> end {figures['rss_mb_total_end']} MB")
    print(
        f"server CPU {figures['server_cpu_ms_per_request']} ms per request "
        f"({figures['server_cpu_cores_used']} cores); machine "
        f"{figures['machine_busy_share']:.0%} busy; load average "
        f"{tuple(round(x, 1) for x in figures['load_average'])} on {figures['cpus']} CPUs"
    )
    for sample in samples[:10]:
        print(f"  error: {sample}")
    output = args.json or RESULTS / f"load-{'quick' if args.quick else 'latest'}.json"
    output.write_text(json.dumps(figures, indent=2))
    log(f"figures written to {output}")
    return 0 if figures["errors"] == 0 and server_alive else 1


if __name__ == "__main__":
    sys.exit(main())
