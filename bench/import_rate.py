"""Import rate: `mltrail import mlflow` from a real `mlflow server` into ours, end to end.

The MLflow source is filled fast, without MLflow's HTTP API (at its ~4,000 points/s the
default size would take most of an hour): MLflow's own store class
(`mlflow.store.tracking.sqlalchemy_store.SqlAlchemyStore`) creates the schema, the
experiments and the runs (with params, tags and their end status) on a fresh PostgreSQL
database (or a SQLite file, `--source-db sqlite`); then the metric points go straight into
MLflow's `metrics` and `latest_metrics` tables (binary COPY on PostgreSQL, executemany on
SQLite), and a payload file per run (for `--artifact-share` of the runs) is written under the
artifact folder the server serves. Then `mlflow server --serve-artifacts` (the pinned
mlflow-skinny of the dev extra) runs on that database, `mltrail server` on a fresh
PostgreSQL database of its own (auth on, an admin key from `mltrail keys create --admin`),
and `mltrail import mlflow --from <mlflow> --to <ours> --json` is timed.

Printed: runs/s, points/s and artifact MB/s over the import's wall time, the totals, the
importer's verification (exit 0 = every run equal, and its counts source = target), a dry run
(reading the source's lists only) and a second pass (nothing left to copy: the checks only),
where the CPU went, the fill's own times, and the load average before and after.

    .venv/bin/python bench/import_rate.py            # 1,000 runs, 10,000,000 points
    .venv/bin/python bench/import_rate.py --quick    # 50 runs x 10,000 points (2 min)
    .venv/bin/python bench/import_rate.py --runs 5 --points-per-run 2000 --artifact-mib 1

MLflow's server on PostgreSQL needs psycopg2, which our environment does not carry: the
first `--source-db postgres` run installs the pinned `psycopg2-binary` (bench/_harness.py)
into bench/.mlflow-pg-driver/ (untracked) and puts it on the path of the store and the
server. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

PG_DRIVER_DIR = h.BENCH_DIR / ".mlflow-pg-driver"
PG_DRIVER = next(r for r in h.MLFLOW_REQUIREMENTS if r.startswith("psycopg2-binary"))
MLTRAIL = h.OUR_VENV / "bin" / "mltrail"
MLFLOW = h.OUR_VENV / "bin" / "mlflow"
START_MS = 1_700_000_000_000
METRIC_COLUMNS = ("key", "value", "timestamp", "step", "is_nan", "run_uuid")
COPY_ROWS = 200_000  # rows per COPY / executemany chunk
PAYLOAD_NAME = "payload.bin"
MB = 1_000_000
MIB = 1024 * 1024
# What the importer's subprocess gets from the mlflow client's settings.
CLIENT_ENVIRONMENT = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "120",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--quick", action="store_true", help="50 runs (x 10,000 points by default): a smoke run"
    )
    p.add_argument("--runs", type=int, default=1000, help="runs in the MLflow source")
    p.add_argument("--points-per-run", type=int, default=10_000, help="metric points of each run")
    p.add_argument("--metrics-per-run", type=int, default=10, help="metric keys of each run")
    p.add_argument("--experiments", type=int, default=2, help="experiments the runs are in")
    p.add_argument("--params-per-run", type=int, default=5)
    p.add_argument("--artifact-mib", type=float, default=1.0, help="payload file per run, MiB")
    p.add_argument(
        "--artifact-share",
        type=float,
        default=0.1,
        help="share of the runs that have the payload file (0..1)",
    )
    p.add_argument(
        "--source-db",
        choices=("postgres", "sqlite"),
        default="postgres",
        help="MLflow's backend store: a fresh PostgreSQL database, or a SQLite file",
    )
    p.add_argument("--workers", type=int, default=2, help="worker processes of each server")
    p.add_argument("--import-workers", type=int, default=4, help="`mltrail import --workers`")
    p.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="run ours with RATE_LIMIT_PER_SECOND=0 (default: the server's own limit per key)",
    )
    p.add_argument("--no-second-pass", action="store_true", help="skip the second import pass")
    p.add_argument(
        "--import-timeout", type=float, default=4 * 3600.0, help="seconds before giving up"
    )
    p.add_argument("--keep-dbs", action="store_true", help="do not drop the databases at the end")
    args = p.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 50)
    if args.runs < 1 or args.experiments < 1 or args.metrics_per_run < 1:
        p.error("--runs, --experiments and --metrics-per-run: at least 1")
    if args.points_per_run < args.metrics_per_run or args.points_per_run % args.metrics_per_run:
        p.error("--points-per-run: a positive multiple of --metrics-per-run")
    if not 0 <= args.artifact_share <= 1:
        p.error("--artifact-share: between 0 and 1")
    if args.artifact_mib < 0:
        p.error("--artifact-mib: 0 or more")
    args.experiments = min(args.experiments, args.runs)
    return args


# --------------------------------------------------------------------------------------------
# The MLflow source


@dataclass
class Filled:
    """What the fill wrote: the runs, their points and payload files, and how long it took."""

    uri: str  # the backend store URI mlflow server gets
    runs: list[str] = field(default_factory=list)
    points: int = 0
    artifact_files: int = 0
    artifact_bytes: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def ensure_pg_driver() -> Path:
    """psycopg2 for MLflow's store and server, installed apart from our environment."""
    stamp = PG_DRIVER_DIR / ".bench-requirement"
    if stamp.exists() and stamp.read_text() == PG_DRIVER:
        return PG_DRIVER_DIR
    h.log(f"installing {PG_DRIVER} into {PG_DRIVER_DIR.relative_to(h.ROOT)}")
    pip = [str(h.OUR_VENV / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "--target", str(PG_DRIVER_DIR), PG_DRIVER],
        check=True,
    )
    stamp.write_text(PG_DRIVER)
    return PG_DRIVER_DIR


def has_payload(index: int, share: float) -> bool:
    """Spreads the payload files evenly (the first run has one whenever the share is not 0):
    run `index` has one when the rounded-up count of the share grows."""
    return math.ceil((index + 1) * share) > math.ceil(index * share)


def metric_rows(run_id: str, run_index: int, keys: int, steps: int) -> Iterator[tuple[Any, ...]]:
    """One run's points in MLflow's `metrics` columns (METRIC_COLUMNS); none is NaN."""
    for k in range(keys):
        key = f"metric_{k}"
        for step in range(steps):
            value = ((step * 7919 + k * 31 + run_index) % 1000) / 997.0
            yield (key, value, START_MS + step * 1000 + k, step, False, run_id)


def latest_rows(run_id: str, run_index: int, keys: int, steps: int) -> list[tuple[Any, ...]]:
    """MLflow's `latest_metrics`: per key, the point of the highest step."""
    last = steps - 1
    return [
        (
            f"metric_{k}",
            ((last * 7919 + k * 31 + run_index) % 1000) / 997.0,
            START_MS + last * 1000 + k,
            last,
            False,
            run_id,
        )
        for k in range(keys)
    ]


def create_runs(uri: str, args: argparse.Namespace) -> list[tuple[str, str]]:
    """Experiments and runs through MLflow's own store: [(experiment id, run id)]."""
    from mlflow.entities import ExperimentTag, Param, RunStatus, RunTag
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(uri, "mlflow-artifacts:/")
    experiments = [
        store.create_experiment(f"import-bench-{e}", tags=[ExperimentTag("bench", "import_rate")])
        for e in range(args.experiments)
    ]
    out = []
    for i in range(args.runs):
        experiment = experiments[i % len(experiments)]
        run = store.create_run(
            experiment,
            user_id="bench",
            start_time=START_MS + i,
            tags=[RunTag("kind", "sweep")],
            run_name=f"run-{i}",
        )
        run_id = run.info.run_id
        params = [Param(f"param_{p}", str((i * 13 + p) % 97)) for p in range(args.params_per_run)]
        store.log_batch(run_id, metrics=[], params=params, tags=[RunTag("index", str(i))])
        store.update_run_info(run_id, RunStatus.FINISHED, START_MS + 3_600_000 + i, None)
        out.append((experiment, run_id))
    store.engine.dispose()
    return out


async def copy_metrics_pg(db: str, runs: list[str], keys: int, steps: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=h.PG_HOST, port=h.PG_PORT, user=h.PG_USER, database=db)
    try:
        chunk: list[tuple[Any, ...]] = []
        latest: list[tuple[Any, ...]] = []
        for index, run_id in enumerate(runs):
            chunk.extend(metric_rows(run_id, index, keys, steps))
            latest.extend(latest_rows(run_id, index, keys, steps))
            if len(chunk) >= COPY_ROWS or index == len(runs) - 1:
                await conn.copy_records_to_table("metrics", records=chunk, columns=METRIC_COLUMNS)
                chunk = []
        await conn.copy_records_to_table("latest_metrics", records=latest, columns=METRIC_COLUMNS)
        await conn.execute("ANALYZE metrics")
        await conn.execute("ANALYZE latest_metrics")
    finally:
        await conn.close()


def insert_metrics_sqlite(path: Path, runs: list[str], keys: int, steps: int) -> None:
    columns = ", ".join(METRIC_COLUMNS)
    marks = ", ".join("?" * len(METRIC_COLUMNS))
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # this connection only; the file is rebuilt
        for index, run_id in enumerate(runs):
            with conn:
                conn.executemany(
                    f"INSERT INTO metrics ({columns}) VALUES ({marks})",
                    metric_rows(run_id, index, keys, steps),
                )
                conn.executemany(
                    f"INSERT INTO latest_metrics ({columns}) VALUES ({marks})",
                    latest_rows(run_id, index, keys, steps),
                )
        conn.execute("ANALYZE")
    finally:
        conn.close()


def write_payloads(
    artifacts: Path, runs: list[tuple[str, str]], args: argparse.Namespace, filled: Filled
) -> None:
    """The files `mlflow server --artifacts-destination` serves for `mlflow-artifacts:/<exp>/
    <run>/artifacts`; random bytes, so no layer can compress them."""
    size = int(args.artifact_mib * MIB)
    if size == 0:
        return
    for index, (experiment, run_id) in enumerate(runs):
        if not has_payload(index, args.artifact_share):
            continue
        folder = artifacts / experiment / run_id / "artifacts"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / PAYLOAD_NAME).open("wb") as handle:
            left = size
            while left:
                block = min(left, 4 * MIB)
                handle.write(os.urandom(block))
                left -= block
        filled.artifact_files += 1
        filled.artifact_bytes += size


def fill(args: argparse.Namespace, source_db: str | None, workdir: Path) -> Filled:
    if source_db is not None:
        sys.path.insert(0, str(ensure_pg_driver()))
        uri = h.pg_url(source_db, "postgresql+psycopg2")
    else:
        uri = f"sqlite:///{workdir / 'mlflow.db'}"
    filled = Filled(uri)
    keys = args.metrics_per_run
    steps = args.points_per_run // keys
    with h.phase("fill: experiments and runs through MLflow's store"):
        t0 = time.perf_counter()
        runs = create_runs(uri, args)
        filled.seconds["runs_through_store"] = time.perf_counter() - t0
    filled.runs = [run_id for _experiment, run_id in runs]
    with h.phase(f"fill: {len(runs) * keys * steps:,} metric points by SQL"):
        t0 = time.perf_counter()
        if source_db is not None:
            asyncio.run(copy_metrics_pg(source_db, filled.runs, keys, steps))
        else:
            insert_metrics_sqlite(workdir / "mlflow.db", filled.runs, keys, steps)
        filled.seconds["metrics_by_sql"] = time.perf_counter() - t0
    filled.points = len(runs) * keys * steps
    with h.phase("fill: artifact payloads"):
        t0 = time.perf_counter()
        write_payloads(workdir / "artifacts", runs, args, filled)
        filled.seconds["artifact_files"] = time.perf_counter() - t0
    filled.seconds["total"] = sum(filled.seconds.values())
    return filled


# --------------------------------------------------------------------------------------------
# Servers and the import


def mlflow_server(uri: str, artifacts: Path, port: int, workers: int, log_path: Path) -> h.Server:
    cmd = [str(MLFLOW), "server", "--backend-store-uri", uri]
    cmd += ["--artifacts-destination", str(artifacts), "--serve-artifacts"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    env = {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        # No GenAI job-runner processes competing for the cores.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    if uri.startswith("postgresql"):
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PG_DRIVER_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
    return h.Server("mlflow", cmd, env, port, log_path)


def our_server(
    db: str, data_dir: Path, port: int, args: argparse.Namespace, log_path: Path
) -> h.Server:
    env = {
        "DATABASE_URL": h.pg_url(db),
        "REDIS_URL": h.REDIS_URL,
        "REDIS_PREFIX": f"bench-{h.rand_suffix()}:",
        "DATA_DIR": str(data_dir),
        "AUTH_ENABLED": "true",
        "MIGRATE_ON_START": "true",
    }
    if args.no_rate_limit:
        env["RATE_LIMIT_PER_SECOND"] = "0"
    cmd = [str(MLTRAIL), "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--workers", str(args.workers)]
    return h.Server("ours", cmd, env, port, log_path)


def admin_key(db: str) -> str:
    """A new admin key made in our database (it migrates the schema first), as an operator
    without one makes it: `mltrail keys create --admin`."""
    done = subprocess.run(
        [str(MLTRAIL), "keys", "create", "--admin", "--json"],
        cwd=h.ROOT,
        env={**os.environ, "DATABASE_URL": h.pg_url(db)},
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return str(json.loads(done.stdout)["key"])


@dataclass
class Pass:
    """One `mltrail import mlflow` run."""

    label: str
    seconds: float
    returncode: int
    report: dict[str, Any] | None
    stderr_tail: str
    cpu_import_s: float = 0.0
    cpu_ours_s: float = 0.0
    cpu_mlflow_s: float = 0.0
    machine_busy_cores: float = 0.0
    requests_to_ours: int = 0
    answered_429: int = 0


def import_env(key: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRAIL_"))}
    return {**env, **CLIENT_ENVIRONMENT, "MLTRAIL_API_KEY": key, "COLUMNS": "200"}


def run_import(
    label: str,
    extra: list[str],
    source: h.Server,
    ours: h.Server,
    key: str,
    args: argparse.Namespace,
) -> Pass:
    cmd = [str(MLTRAIL), "import", "mlflow", "--from", source.base_url, "--to", ours.base_url]
    cmd += ["--workers", str(args.import_workers), "--json", *extra]
    h.log(f"--- {label}: {' '.join(cmd[1:])}")
    offset = ours.log_path.stat().st_size if ours.log_path.exists() else 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours0, mlflow0 = ours.cpu_seconds(), source.cpu_seconds()
    busy0, _total0 = h.machine_cpu()
    t0 = time.perf_counter()
    done = subprocess.run(
        cmd,
        cwd=h.ROOT,
        env=import_env(key),
        capture_output=True,
        text=True,
        timeout=args.import_timeout,
    )
    seconds = time.perf_counter() - t0
    busy1, _total1 = h.machine_cpu()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests, throttled, _end = access_counts(ours.log_path, offset)
    report = None
    try:
        report = json.loads(done.stdout)
    except ValueError:
        h.log(f"    not JSON on stdout: {done.stdout[-500:]!r}")
    result = Pass(
        label,
        seconds,
        done.returncode,
        report,
        "\n".join(done.stderr.strip().splitlines()[-5:]),
        cpu_import_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        cpu_ours_s=ours.cpu_seconds() - ours0,
        cpu_mlflow_s=source.cpu_seconds() - mlflow0,
        machine_busy_cores=(busy1 - busy0) / max(seconds, 1e-9),
        requests_to_ours=requests,
        answered_429=throttled,
    )
    h.log(f"    {label}: {seconds:.1f}s, exit {done.returncode}")
    return result


def counts(report: dict[str, Any] | None) -> dict[str, tuple[int, int]]:
    if not report:
        return {}
    return {k: (int(v["source"]), int(v["target"])) for k, v in report.get("counts", {}).items()}


def verification(done: Pass, filled: Filled) -> tuple[bool, list[str]]:
    """Exit 0 (the importer's own check: every run's checksum and counts equal), its counts
    equal on both sides, and those counts what the fill wrote."""
    problems = []
    if done.returncode != 0:
        problems.append(f"exit {done.returncode}: {done.stderr_tail}")
    got = counts(done.report)
    for entity, (source, target) in got.items():
        if source != target:
            problems.append(f"{entity}: source {source:,}, ours {target:,}")
    expected = {
        "runs": len(filled.runs),
        "metric points": filled.points,
        "artifacts": filled.artifact_files,
        "artifact bytes": filled.artifact_bytes,
    }
    for entity, count in expected.items():
        source = got.get(entity, (None, None))[0]
        if source != count:
            problems.append(f"{entity}: the fill wrote {count:,}, the importer read {source}")
    if done.report and done.report.get("mismatched"):
        problems.append(f"mismatched runs: {done.report['mismatched'][:5]}")
    return not problems, problems


def sent(report: dict[str, Any] | None) -> tuple[int, int]:
    """(points, files) the pass sent."""
    runs = (report or {}).get("runs", [])
    return sum(r.get("points_sent", 0) for r in runs), sum(r.get("files_sent", 0) for r in runs)


def access_counts(log_path: Path, offset: int) -> tuple[int, int, int]:
    """Requests ours logged after byte `offset` of its log, and how many it answered 429
    (its JSON access-log lines); and the log's new end."""
    try:
        with log_path.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except OSError:
        return 0, 0, offset
    requests = throttled = 0
    for line in data.splitlines():
        if not line.startswith(b"{") or b"mltrail_server.access" not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        requests += 1
        throttled += entry.get("status") == 429
    return requests, throttled, offset + len(data)


# --------------------------------------------------------------------------------------------
# Report


def print_report(
    args: argparse.Namespace,
    filled: Filled,
    passes: list[Pass],
    checks: tuple[bool, list[str]],
    meta: dict[str, Any],
) -> None:
    first = next(p for p in passes if p.label == "import")
    s = max(first.seconds, 1e-9)
    rows = [
        ("runs/s", h.fmt_num(len(filled.runs) / s)),
        ("points/s", h.fmt_num(filled.points / s)),
        ("artifact MB/s (10^6 bytes)", h.fmt_num(filled.artifact_bytes / MB / s)),
        ("import wall time", f"{first.seconds:.1f} s"),
    ]
    print()
    print(
        f"Import rate: {len(filled.runs):,} runs, {filled.points:,} points "
        f"({args.metrics_per_run} metrics x {args.points_per_run // args.metrics_per_run:,} "
        f"steps), {filled.artifact_files:,} artifact files of {args.artifact_mib:g} MiB "
        f"({filled.artifact_bytes / MIB:,.1f} MiB); MLflow on {args.source_db}, ours on "
        f"PostgreSQL; {args.workers} workers each; `mltrail import --workers "
        f"{args.import_workers}`; rate limit "
        f"{'off' if args.no_rate_limit else 'the server default'}"
    )
    print()
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value:>12}")
    print()
    print(
        f"{'pass':<26} {'seconds':>8} {'exit':>4} {'points sent':>12} {'files sent':>10} "
        f"{'requests to ours':>16} {'429s':>5}  CPU s: importer / ours / mlflow; machine busy"
    )
    for p in passes:
        points, files = sent(p.report)
        print(
            f"{p.label:<26} {p.seconds:>8.1f} {p.returncode:>4} {points:>12,} {files:>10,} "
            f"{p.requests_to_ours:>16,} {p.answered_429:>5,}  {p.cpu_import_s:.1f} / "
            f"{p.cpu_ours_s:.1f} / {p.cpu_mlflow_s:.1f}; "
            f"{p.machine_busy_cores:.2f} of {os.cpu_count()} cores"
        )
    print()
    print(f"{'entity':<24} {'source':>12} {'ours':>12}")
    for entity, (source, target) in counts(first.report).items():
        print(f"{entity:<24} {source:>12,} {target:>12,}")
    print()
    ok, problems = checks
    print(f"verification: {'equal (exit 0, counts equal, as filled)' if ok else 'FAILED'}")
    for problem in problems:
        print(f"  - {problem}")
    fill_parts = ", ".join(f"{k} {v:.1f}s" for k, v in filled.seconds.items() if k != "total")
    print(f"fill (not part of the import): {filled.seconds['total']:.1f}s ({fill_parts})")
    print(f"load average (1/5/15 min): {meta['loadavg_start']} before, {meta['loadavg_end']} after")
    print()


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    loadavg_start = loadavg()
    run_id = h.rand_suffix(6)
    logs_dir = h.RESULTS_DIR / f"logs-import-{run_id}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    source_db = f"bench_import_mlflow_{run_id}" if args.source_db == "postgres" else None
    ours_db = f"bench_import_ours_{run_id}"
    dbs = [db for db in (source_db, ours_db) if db]
    servers: list[h.Server] = []
    passes: list[Pass] = []
    filled: Filled | None = None
    try:
        for db in dbs:
            h.create_database(db)
            h.log(f"created database {db}")
        filled = fill(args, source_db, workdir)
        source = mlflow_server(
            filled.uri, workdir / "artifacts", h.free_port(), args.workers, logs_dir / "mlflow.log"
        )
        with h.phase("our admin key (migrates our database)"):
            key = admin_key(ours_db)
        ours = our_server(ours_db, workdir / "ours", h.free_port(), args, logs_dir / "ours.log")
        servers = [source, ours]
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready(workers=args.workers)
            h.log(f"{server.name} ready")
        passes.append(run_import("dry run (plan only)", ["--dry-run"], source, ours, key, args))
        passes.append(run_import("import", [], source, ours, key, args))
        if not args.no_second_pass:
            passes.append(run_import("second pass (checks only)", [], source, ours, key, args))
    finally:
        for server in servers:
            server.stop()
        if not args.keep_dbs:
            for db in dbs:
                h.drop_database(db)
            h.log("dropped the databases")
        else:
            h.log(f"kept databases: {', '.join(dbs)}")
        subprocess.run(["rm", "-rf", str(workdir)], check=False)

    assert filled is not None
    first = next(p for p in passes if p.label == "import")
    checks = verification(first, filled)
    if not args.no_second_pass:
        ok, problems = verification(passes[-1], filled)
        points, files = sent(passes[-1].report)
        if points or files:
            ok, problems = False, [*problems, f"second pass sent {points} points, {files} files"]
        if not ok:
            checks = (False, checks[1] + [f"second pass: {p}" for p in problems])
    meta = {
        "command": " ".join([".venv/bin/python", "bench/import_rate.py", *(argv or sys.argv[1:])]),
        "started": started,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git": h.git_describe(),
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg(),
        "server_logs": str(logs_dir),
    }
    print_report(args, filled, passes, checks, meta)
    data = {
        "meta": meta,
        "args": vars(args),
        "fill": {k: v for k, v in vars(filled).items() if k != "runs"},
        "passes": [{k: v for k, v in vars(p).items() if k != "report"} for p in passes],
        "counts": counts(first.report),
        "verified": checks[0],
        "problems": checks[1],
        "rates": {
            "runs_per_s": len(filled.runs) / first.seconds,
            "points_per_s": filled.points / first.seconds,
            "artifact_mb_per_s": filled.artifact_bytes / MB / first.seconds,
        },
    }
    stem = "import-rate-quick" if args.quick else "import-rate"
    json_path = h.RESULTS_DIR / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    (h.RESULTS_DIR / f"{stem}-latest.json").write_text(json_path.read_text())
    h.log(f"wrote {json_path.relative_to(h.ROOT)}")
    return 0 if checks[0] else 1


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    sys.exit(main())
