"""Shared plumbing of the benchmarks: the MLflow virtualenv, PostgreSQL databases, server
processes, HTTP clients, bounded load loops run in worker processes, and statistics.

Nothing here imports `app`: the benchmarks drive the servers over HTTP only (and, for
seeding and sanity counts, talk to PostgreSQL directly).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import string
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
OUR_VENV = ROOT / ".venv"
MLFLOW_VENV = BENCH_DIR / ".venv-mlflow"

# The MLflow side, pinned. uvloop and httptools are the versions our own server runs with
# (uvicorn[standard]): see `mlflow_requirements()` for why MLflow gets them too.
MLFLOW_VERSION = "3.17.2"
MLFLOW_REQUIREMENTS = [
    f"mlflow=={MLFLOW_VERSION}",
    "psycopg2-binary==2.9.13",
    "uvloop==0.23.0",
    "httptools==0.9.0",
]

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

HTTP_TIMEOUT = 120.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def rand_suffix(n: int = 8) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=n))


# --------------------------------------------------------------------------------------------
# The MLflow virtualenv


def ensure_mlflow_venv(python: str | None = None) -> Path:
    """Create `bench/.venv-mlflow` with the pinned requirements unless it already has them.
    Returns the path of its `mlflow` executable."""
    stamp = MLFLOW_VENV / ".bench-requirements"
    wanted = "\n".join(MLFLOW_REQUIREMENTS) + "\n"
    mlflow_bin = MLFLOW_VENV / "bin" / "mlflow"
    if mlflow_bin.exists() and stamp.exists() and stamp.read_text() == wanted:
        return mlflow_bin
    python = python or _base_python()
    if not (MLFLOW_VENV / "bin" / "python").exists():
        log(f"creating {MLFLOW_VENV.relative_to(ROOT)} with {python}")
        subprocess.run([python, "-m", "venv", str(MLFLOW_VENV)], check=True)
    pip = [str(MLFLOW_VENV / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    log("installing " + " ".join(MLFLOW_REQUIREMENTS) + " (about a minute)")
    subprocess.run([*pip, "install", "--quiet", *MLFLOW_REQUIREMENTS], check=True)
    stamp.write_text(wanted)
    return mlflow_bin


def _base_python() -> str:
    """The interpreter our own venv was made from (same minor version for both sides)."""
    cfg = OUR_VENV / "pyvenv.cfg"
    if cfg.exists():
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                for name in ("python3.11", "python3"):
                    candidate = Path(value.strip()) / name
                    if candidate.exists():
                        return str(candidate)
    return sys.executable


# --------------------------------------------------------------------------------------------
# PostgreSQL


def pg_url(db: str, driver: str = "postgresql") -> str:
    return f"{driver}://{PG_USER}@{PG_HOST}:{PG_PORT}/{db}"


async def _pg_execute(db: str, statements: Sequence[str]) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=db)
    try:
        out = []
        for sql in statements:
            text = sql.lstrip().upper()
            if text.startswith(("SELECT", "WITH")) or " RETURNING " in text:
                out.append(await conn.fetch(sql))
            else:
                out.append(await conn.execute(sql))
        return out
    finally:
        await conn.close()


def pg_run(db: str, *statements: str) -> list[Any]:
    return asyncio.run(_pg_execute(db, statements))


def pg_scalar(db: str, sql: str) -> Any:
    rows = pg_run(db, sql)[0]
    return rows[0][0] if rows else None


def create_database(name: str) -> None:
    pg_run(
        "postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
    )


def drop_database(name: str) -> None:
    try:
        pg_run("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception as exc:  # noqa: BLE001 - cleanup must not hide the real result
        log(f"warning: could not drop database {name}: {exc}")


def database_exists(name: str) -> bool:
    return bool(pg_scalar("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"))


# --------------------------------------------------------------------------------------------
# Server processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    cwd: Path = ROOT
    health_path: str = "/health"
    proc: subprocess.Popen[bytes] | None = None
    _log_file: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, **self.env}
        log(f"starting {self.name} on {self.base_url} (log: {self.log_path})")
        # Own session, so stop() can signal the server and every worker it forked.
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180.0, workers: int = 1) -> None:
        """Healthy, and every worker has started (a few consecutive good answers)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        good = 0
        with httpx.Client(timeout=5.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited with {self.proc.returncode}; see {self.log_path}:\n"
                        + tail(self.log_path)
                    )
                try:
                    if client.get(self.base_url + self.health_path).status_code == 200:
                        good += 1
                        if good >= 3 and self._workers_started(workers):
                            return
                    else:
                        good = 0
                except httpx.HTTPError:
                    good = 0
                time.sleep(0.5)
        raise TimeoutError(f"{self.name} not ready after {timeout}s; see {self.log_path}")

    def _workers_started(self, workers: int) -> bool:
        # uvicorn prints "Application startup complete." once per worker process.
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return True
        return text.count("Application startup complete") >= workers

    def pids(self) -> list[int]:
        """Every process in the server's session (the supervisor and its workers)."""
        if self.proc is None:
            return []
        sid = self.proc.pid
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[3]) == sid:  # field 6 of /proc/pid/stat: session id
                out.append(int(entry.name))
        return out

    def cpu_seconds(self) -> float:
        """User+system CPU time of the server's processes so far."""
        return processes_cpu_seconds(self.pids())

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Workers left behind in the session (if the supervisor died first).
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
        log(f"stopped {self.name}")


def processes_cpu_seconds(pids: Sequence[int]) -> float:
    """Sum of user+system CPU seconds used so far by `pids` (gone ones count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores added."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:8]]
    total = sum(fields)
    idle = fields[3] + fields[4]
    return (total - idle) / tick, total / tick


def postgres_backend_pids(db: str) -> list[int]:
    rows = pg_run("postgres", f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}'")[0]
    return [int(r[0]) for r in rows]


class CpuMeter:
    """Where the machine's CPU went during a phase: the server's processes, the PostgreSQL
    backends serving its database, the client processes (reported by them), and the rest
    (other users of this shared machine, PostgreSQL's background writers, this driver)."""

    def __init__(self, server: Server, db: str | None = None) -> None:
        self.server = server
        self.db = db
        self.client_cpu = 0.0
        self._pg_pids: set[int] = set()

    def __enter__(self) -> CpuMeter:
        self.busy0, self.total0 = machine_cpu()
        self.server0 = self.server.cpu_seconds()
        self.pg_start: dict[int, float] = {}
        if self.db:
            with contextlib.suppress(Exception):
                self._pg_pids = set(postgres_backend_pids(self.db))
            self.pg_start = {p: processes_cpu_seconds([p]) for p in self._pg_pids}
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.t0
        busy1, total1 = machine_cpu()
        self.server_s = self.server.cpu_seconds() - self.server0
        if self.db:
            with contextlib.suppress(Exception):
                self._pg_pids |= set(postgres_backend_pids(self.db))
        self.pg_s = sum(
            processes_cpu_seconds([p]) - self.pg_start.get(p, 0.0) for p in self._pg_pids
        )
        self.busy = busy1 - self.busy0
        self.cores = (total1 - self.total0) / max(self.elapsed, 1e-9)

    def as_dict(self) -> dict[str, float]:
        return cpu_summary([self])

    def line(self) -> str:
        return cpu_line(self.as_dict())


def cpu_summary(meters: Sequence[CpuMeter]) -> dict[str, float]:
    """Average cores used per consumer over the meters' phases taken together."""
    elapsed = sum(m.elapsed for m in meters)
    busy = sum(m.busy for m in meters)
    server = sum(m.server_s for m in meters)
    pg = sum(m.pg_s for m in meters)
    client = sum(m.client_cpu for m in meters)
    per = max(elapsed, 1e-9)
    return {
        "wall_seconds": round(elapsed, 2),
        "machine_busy_cores": round(busy / per, 2),
        "server_cores": round(server / per, 2),
        "postgres_cores": round(pg / per, 2),
        "client_cores": round(client / per, 2),
        "other_cores": round((busy - server - pg - client) / per, 2),
    }


def cpu_line(d: dict[str, float]) -> str:
    warning = ""
    if d["other_cores"] > 0.25:
        warning = "  WARNING: other load on the machine; figures are noisy"
    return (
        f"cpu cores used: server {d['server_cores']}, postgres {d['postgres_cores']}, "
        f"client {d['client_cores']}, other {d['other_cores']} "
        f"(machine {d['machine_busy_cores']} of {os.cpu_count()}){warning}"
    )


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def our_server(
    db: str, port: int, workers: int, log_path: Path, extra_env: dict[str, str] | None = None
) -> Server:
    env = {
        "DATABASE_URL": pg_url(db),
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": f"bench-{rand_suffix()}:",
        "MIGRATE_ON_START": "true",
        **(extra_env or {}),
    }
    cmd = [
        str(OUR_VENV / "bin" / "uvicorn"),
        "mltrail_server.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return Server("ours", cmd, env, port, log_path)


def floor_server(db: str, port: int, workers: int, log_path: Path) -> Server:
    """The floor (bench/_floor.py): a bare FastAPI app that only inserts what it is sent."""
    cmd = [
        str(OUR_VENV / "bin" / "uvicorn"),
        "_floor:app",
        "--app-dir",
        str(ROOT / "bench"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return Server("floor", cmd, {"FLOOR_DATABASE_URL": pg_url(db)}, port, log_path)


def mlflow_server(
    mlflow_bin: Path,
    db: str,
    port: int,
    workers: int,
    artifact_root: Path,
    log_path: Path,
    stock_http: bool = False,
) -> Server:
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; name the driver MLflow documents.
    cmd = [
        str(mlflow_bin),
        "server",
        "--backend-store-uri",
        pg_url(db, "postgresql+psycopg2"),
        "--default-artifact-root",
        str(artifact_root),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    if stock_http:
        # What a bare `pip install mlflow` runs: asyncio loop + h11 (no uvloop/httptools).
        cmd += ["--uvicorn-opts", "--loop asyncio --http h11"]
    env = {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        # The GenAI job runner (huey consumers) has nothing to do with tracking: keep it off
        # so it neither competes for the 2 cores nor outlives the server.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    return Server("mlflow", cmd, env, port, log_path)


# --------------------------------------------------------------------------------------------
# HTTP


def http_client(base_url: str) -> httpx.Client:
    # TCP_NODELAY: httpx writes headers and body separately; without it a small body can wait
    # for a delayed ACK. The same client settings are used for both servers.
    transport = httpx.HTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)], retries=0
    )
    return httpx.Client(
        base_url=base_url,
        transport=transport,
        timeout=HTTP_TIMEOUT,
        headers={"content-type": "application/json"},
    )


class HTTPFailure(RuntimeError):
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        super().__init__(
            f"{response.request.method} {response.request.url.path} -> "
            f"{response.status_code}: {response.text[:300]}"
        )


def check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise HTTPFailure(response)
    return response


# --------------------------------------------------------------------------------------------
# Bounded load loops in worker processes (no GIL shared between clients)


@dataclass
class LoopResult:
    requests: int = 0
    items: int = 0
    errors: int = 0
    first_error: str | None = None
    latencies: list[float] = field(default_factory=list)
    t_start: float = 0.0
    t_end: float = 0.0
    cpu_seconds: float = 0.0  # this client process's own CPU time in the timed window


def timed_loop(
    base_url: str,
    request: Callable[[httpx.Client, int], tuple[str, str, bytes | None, int]],
    duration: float,
    max_requests: int,
    start_at: float,
    warmup: int = 0,
) -> LoopResult:
    """Send `request(client, i)` -> (method, path, body, items) until `duration` seconds or
    `max_requests` requests, whichever comes first. `warmup` requests go before the clock."""
    result = LoopResult()
    with http_client(base_url) as client:
        for i in range(warmup):
            method, path, body, _ = request(client, -1 - i)
            client.request(method, path, content=body)
        delay = start_at - time.time()
        if delay > 0:
            time.sleep(delay)
        result.t_start = time.time()
        cpu0 = time.process_time()
        deadline = result.t_start + duration
        i = 0
        while i < max_requests and time.time() < deadline:
            method, path, body, items = request(client, i)
            t0 = time.perf_counter()
            try:
                response = client.request(method, path, content=body)
                ok = response.status_code < 400
                if not ok and result.first_error is None:
                    result.first_error = f"{response.status_code}: {response.text[:300]}"
            except httpx.HTTPError as exc:
                ok = False
                if result.first_error is None:
                    result.first_error = repr(exc)
            result.latencies.append(time.perf_counter() - t0)
            result.requests += 1
            if ok:
                result.items += items
            else:
                result.errors += 1
            i += 1
        result.t_end = time.time()
        result.cpu_seconds = time.process_time() - cpu0
    return result


def run_workers(target: Callable[..., Any], arg_lists: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Run `target(*args)` for each args in its own process, all at once; results in order."""
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(arg_lists), mp_context=ctx) as pool:
        futures = [pool.submit(target, *args) for args in arg_lists]
        return [f.result() for f in futures]


def run_workers_timed(
    target: Callable[..., Any],
    arg_lists: Sequence[tuple[Any, ...]],
    start_at: float,
    meter: CpuMeter | None = None,
) -> list[Any]:
    """Like run_workers, for load loops that all start their clocks at `start_at`: `meter`
    covers from `start_at` until the last worker is done, and gets the clients' CPU time."""
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(max_workers=len(arg_lists), mp_context=ctx) as pool:
        futures = [pool.submit(target, *args) for args in arg_lists]
        delay = start_at - time.time()
        if delay > 0:
            time.sleep(delay)
        if meter is None:
            return [f.result() for f in futures]
        with meter:
            results = [f.result() for f in futures]
            meter.client_cpu = sum(getattr(r, "cpu_seconds", 0.0) for r in results)
        return results


def chunks(seq: Sequence[Any], n: int) -> list[Sequence[Any]]:
    """`seq` split into `n` nearly equal contiguous parts (some may be empty)."""
    size, extra = divmod(len(seq), n)
    out, start = [], 0
    for k in range(n):
        end = start + size + (1 if k < extra else 0)
        out.append(seq[start:end])
        start = end
    return out


# --------------------------------------------------------------------------------------------
# Statistics and output


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-pct * len(ordered) // 100))))
    return ordered[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    if not ms:
        return {}
    return {
        "n": len(ms),
        "median_ms": statistics.median(ms),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "min_ms": min(ms),
        "max_ms": max(ms),
        "mean_ms": statistics.fmean(ms),
    }


def fmt_num(value: float | None, unit: str = "") -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text}{unit}"


def write_results(stem: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = RESULTS_DIR / f"{stem}-{stamp}.json"
    md_path = RESULTS_DIR / f"{stem}-{stamp}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path.write_text(markdown)
    for src, latest in ((json_path, f"{stem}-latest.json"), (md_path, f"{stem}-latest.md")):
        (RESULTS_DIR / latest).write_text(src.read_text())
    return json_path, md_path


def git_describe() -> dict[str, Any]:
    """Read-only: which commit of the server was measured, and whether the tree was dirty."""
    info: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "mltrail_server"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
        info["app_dirty"] = bool(status.strip())
    return info


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    log(f"--- {name}")
    t0 = time.perf_counter()
    yield
    log(f"    {name}: {time.perf_counter() - t0:.1f}s")
