"""What `run.log` costs the training loop, and how fast points reach the database.

    .venv/bin/python bench/sdk_log_overhead.py            # ~30 s, SQLite in a temp dir
    .venv/bin/python bench/sdk_log_overhead.py --quick    # toy sizes
    .venv/bin/python bench/sdk_log_overhead.py --database-url postgresql://postgres@127.0.0.1:5432/db
    .venv/bin/python bench/sdk_log_overhead.py --system-metrics-interval 0.1   # sampling often

It starts `uvicorn mltrail_server.main:app` on a free port (over a fresh SQLite file unless
`--database-url` is given) and measures, through the SDK only:

1. the cost of one `run.log({...}, step=i)` call while the server is up: median, p99 and
   max of per-call timings, and the loop's mean (the target is a median under 20 us);
2. the same while the server is unreachable (it is killed mid-run: points go to the spool);
3. end to end: points per second from the first `run.log` to `run.finish()` returning with
   every point stored, checked against the server's metric history.

System metrics are sampled as in any run (every 10 s unless `--system-metrics-interval`
says otherwise; `--no-system-metrics` switches them off), so the timings include them.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import mltrail

ROOT = Path(__file__).resolve().parent.parent
TARGET_MEDIAN_US = 20.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """Our server in a subprocess."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "DATA_DIR": str(directory),
            "LOG_LEVEL": "WARNING",
        }
        self.log = directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "mltrail_server.main:app",
            "--host",
            "127.0.0.1",
        ]
        command += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise SystemExit(f"the server did not start; see {self.log}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None


def per_call(run: mltrail.ActiveRun, calls: int, first_step: int) -> dict[str, float]:
    """Time each of `calls` calls of `run.log` with two metrics; microseconds."""
    timings = [0] * calls
    clock = time.perf_counter_ns
    started = clock()
    for i in range(calls):
        step = first_step + i
        before = clock()
        run.log({"loss": 1.0 / (step + 1), "acc": step * 1e-6}, step=step)
        timings[i] = clock() - before
    total = clock() - started
    timings.sort()
    return {
        "median_us": statistics.median(timings) / 1000,
        "p99_us": timings[int(len(timings) * 0.99)] / 1000,
        "max_us": timings[-1] / 1000,
        "mean_us": total / calls / 1000,
    }


def end_to_end(server: Server, steps: int) -> dict[str, float]:
    """Log `steps` x 2 points as fast as possible, finish, and check every point is stored."""
    with mltrail.start_run(experiment="bench-sdk", name="end-to-end") as run:
        started = time.perf_counter()
        for step in range(steps):
            run.log({"loss": 1.0 / (step + 1), "acc": step * 1e-6}, step=step)
        logged = time.perf_counter() - started
    elapsed = time.perf_counter() - started
    with mltrail.Client(server.url) as client:
        stored = sum(len(client.metric_history(run.id, key)) for key in ("loss", "acc"))
    if stored != 2 * steps:  # only the loop's own keys: system/ points come on top
        raise SystemExit(f"end to end: {stored} points stored, {2 * steps} logged")
    return {
        "points": 2 * steps,
        "logging_s": logged,
        "until_stored_s": elapsed,
        "points_per_s": 2 * steps / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    parser.add_argument("--quick", action="store_true", help="toy sizes")
    parser.add_argument(
        "--system-metrics-interval",
        type=float,
        default=10.0,
        help="seconds between system metric samples (default 10, the SDK's)",
    )
    parser.add_argument("--no-system-metrics", action="store_true", help="switch them off")
    args = parser.parse_args()
    calls = 20_000 if args.quick else 200_000
    steps = 20_000 if args.quick else 250_000

    with tempfile.TemporaryDirectory(prefix="mltrail-bench-") as temporary:
        directory = Path(temporary)
        database_url = args.database_url or f"sqlite:///{directory / 'bench.db'}"
        server = Server(database_url, directory)
        server.start()
        try:
            mltrail.init(
                url=server.url,
                spool_dir=directory / "spool",
                give_up_after=2.0,
                system_metrics=not args.no_system_metrics,
                system_metrics_interval=args.system_metrics_interval,
            )
            with mltrail.start_run(experiment="bench-sdk", name="overhead") as run:
                up = per_call(run, calls, 0)
                server.kill()
                run.log({"loss": 0.0}, step=-1)
                deadline = time.monotonic() + 30
                while not run.offline and time.monotonic() < deadline:
                    time.sleep(0.05)
                down = per_call(run, calls, calls)
                server.start()
            e2e = end_to_end(server, steps)
        finally:
            server.stop()

    where = "SQLite" if args.database_url is None else args.database_url.split(":")[0]
    sampling = "off" if args.no_system_metrics else f"every {args.system_metrics_interval:g}s"
    print(f"mltrail SDK, {calls:,} calls of run.log({{2 metrics}}) each; server on {where}")
    print(f"system metrics: {sampling}")
    print(f"{'':28}{'median':>10}{'p99':>10}{'max':>12}{'mean':>10}")
    for label, figures in (("server up", up), ("server unreachable", down)):
        print(
            f"{'run.log, ' + label:28}{figures['median_us']:>8.2f}us{figures['p99_us']:>8.2f}us"
            f"{figures['max_us']:>10.0f}us{figures['mean_us']:>8.2f}us"
        )
    verdict = "met" if max(up["median_us"], down["median_us"]) < TARGET_MEDIAN_US else "MISSED"
    print(f"target: median < {TARGET_MEDIAN_US:.0f}us ({verdict})")
    print(
        f"end to end: {e2e['points']:,} points logged in {e2e['logging_s']:.2f}s, all stored "
        f"after {e2e['until_stored_s']:.2f}s = {e2e['points_per_s']:,.0f} points/s"
    )


if __name__ == "__main__":
    main()
