"""Scale benchmark of our server alone: 100,000 runs and 10 million metric points in one
PostgreSQL database; measures run search latency (a metric + a param filter) and the
downsampled 1,000-point view of a 1,000,000-point series. A fresh seed also measures the
searches before any ANALYZE (autovacuum held off the tables while seeding): what a team
meets that searches a sweep the moment it is logged (`--no-fresh` skips that).

    .venv/bin/python bench/scale.py --keep-db     # target sizes; seeds once, reuses after
    .venv/bin/python bench/scale.py --quick       # tiny sizes, a smoke run

Seeding writes our tables by SQL at the first migration's schema (set-based INSERT ... SELECT
generate_series, run by PostgreSQL itself: 10M points in about a minute), then migrates to
head so later migrations backfill what they derive. `--seed api` seeds through the HTTP API
instead (much slower). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _growth as g  # noqa: E402
import _harness as h  # noqa: E402
import _workloads as w  # noqa: E402
import orjson  # noqa: E402

SEED_VERSION = 2
BIG_KEY = "loss"
LR_VALUES = ("0.1", "0.01", "0.001", "0.0001")
OPTIMIZERS = ("adam", "sgd", "adamw")
BASE_TIME = datetime(2025, 11, 1, tzinfo=UTC)
DEFAULT_FILTER = w.SEARCH_FILTER


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of ~30 s")
    p.add_argument("--runs", type=int, default=100_000, help="runs in one experiment")
    p.add_argument("--points", type=int, default=10_000_000, help="metric points in total")
    p.add_argument(
        "--big-series", type=int, default=1_000_000, help="points of the one long series"
    )
    p.add_argument("--keys-per-run", type=int, default=2, help="metric keys of each small run")
    p.add_argument("--workers", type=int, default=2, help="our server's worker processes")
    p.add_argument("--search-reps", type=int, default=50)
    p.add_argument("--search-max-results", type=int, default=1000)
    p.add_argument("--search-filter", default=DEFAULT_FILTER)
    p.add_argument("--downsample-points", type=int, default=1000)
    p.add_argument("--downsample-reps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument(
        "--keep-db",
        action="store_true",
        help="keep the seeded database at the end, and reuse it when it exists with the same "
        "sizes (seeding 10M points takes a few minutes)",
    )
    p.add_argument(
        "--reseed", action="store_true", help="with --keep-db: seed again even if it exists"
    )
    p.add_argument("--seed", choices=("sql", "api"), default="sql", help="how to seed")
    p.add_argument(
        "--seed-concurrency", type=int, default=2, help="parallel seeding connections/clients"
    )
    p.add_argument("--rounds", type=int, default=20, help="interleaving rounds of the big series")
    p.add_argument(
        "--no-fresh",
        action="store_true",
        help="skip the fresh-statistics searches (measured after seeding, before ANALYZE)",
    )
    p.add_argument(
        "--explain", action="store_true", help="also print EXPLAIN ANALYZE of the search SQL"
    )
    p.add_argument("--history-reps", type=int, default=20, help="timed history page reads")
    p.add_argument(
        "--ingest-seconds", type=float, default=20.0, help="the ingest window into the table"
    )
    p.add_argument(
        "--project",
        nargs=2,
        metavar=("SMALLER.json", "LARGER.json"),
        help="measure nothing: project two scale results (bench/results/scale-*.json, "
        "e.g. at 10M and 100M points) to a billion points",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 2000)
        args.points = min(args.points, 300_000)
        args.big_series = min(args.big_series, 100_000)
        args.search_reps = min(args.search_reps, 10)
        args.downsample_reps = min(args.downsample_reps, 10)
        args.rounds = min(args.rounds, 4)
        args.warmup = min(args.warmup, 1)
        args.history_reps = min(args.history_reps, 5)
        args.ingest_seconds = min(args.ingest_seconds, 5.0)
    small_points = args.points - args.big_series
    if small_points < 0 or args.runs < 1 or args.keys_per_run < 1:
        p.error("--points must be at least --big-series, and --runs, --keys-per-run >= 1")
    args.steps_per_series = max(1, small_points // (args.runs * args.keys_per_run))
    return args


def metric_keys(n: int) -> list[tuple[str, bool]]:
    """(key, increasing) for the small runs' series: acc rises, loss falls, others alternate."""
    keys = [("acc", True), ("loss", False)]
    keys += [(f"m{i}", i % 2 == 0) for i in range(2, n)]
    return keys[:n]


def seed_config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "version": SEED_VERSION,
        "runs": args.runs,
        "keys_per_run": args.keys_per_run,
        "steps_per_series": args.steps_per_series,
        "big_series": args.big_series,
        "seed": args.seed,
    }


def db_name(args: argparse.Namespace) -> str:
    return (
        f"bench_scale_{args.runs}r_{args.keys_per_run}k_{args.steps_per_series}s_"
        f"{args.big_series}b_{args.seed}"
    )


# --------------------------------------------------------------------------------------------
# Reuse: the database's comment records the seeded configuration once seeding has finished.


def seeded_config(db: str) -> dict[str, Any] | None:
    if not h.database_exists(db):
        return None
    comment = h.pg_scalar(
        "postgres",
        f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{db}'",
    )
    try:
        return json.loads(comment) if comment else None
    except ValueError:
        return None


def mark_seeded(db: str, config: dict[str, Any]) -> None:
    text = json.dumps(config).replace("'", "''")
    h.pg_run("postgres", f"COMMENT ON DATABASE \"{db}\" IS '{text}'")


# --------------------------------------------------------------------------------------------
# Seeding by SQL


# The SQL seeding writes the tables as the first migration made them, then lets the server's
# start migrate the database to the current head. Later migrations therefore see the points
# as they would in a real upgrade, and fill whatever they derive from them (0004, for
# example, backfills the `metric_block` rollups). This keeps the seeding correct when new
# derived tables appear.
SEED_REVISION = "0001"


# Runs our migrations in a subprocess of our venv, on a connection without the server's
# 30 s statement timeout: a backfill over 10M points can take longer than that.
_MIGRATE = """
import asyncio, sys
from sqlalchemy.ext.asyncio import create_async_engine
from mltrail_server.db.migrate import upgrade

async def main(url, revision):
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        await connection.run_sync(upgrade, revision)
        await connection.commit()
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def migrate_to(db: str, revision: str) -> float:
    """Upgrade the database to `revision`; returns the seconds it took."""
    t = time.perf_counter()
    result = subprocess.run(
        [
            str(h.OUR_VENV / "bin" / "python"),
            "-c",
            _MIGRATE,
            h.pg_url(db, "postgresql+asyncpg"),
            revision,
        ],
        cwd=h.ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(
            f"migrating to {revision} failed (use --seed api?):\n{result.stderr[-3000:]}"
        )
    return time.perf_counter() - t


async def seed_sql(args: argparse.Namespace, db: str, experiment_id: str) -> dict[str, Any]:
    import asyncpg

    keys = metric_keys(args.keys_per_run)
    steps = args.steps_per_series
    n_runs = args.runs
    conns = [
        await asyncpg.connect(host=h.PG_HOST, port=h.PG_PORT, user=h.PG_USER, database=db)
        for _ in range(max(1, args.seed_concurrency))
    ]
    timings: dict[str, float] = {}
    try:
        for conn in conns:
            # Bulk load: skip the per-row foreign-key triggers (every reference is made
            # consistent by construction) and don't wait for WAL flushes.
            await conn.execute("SET session_replication_role = replica")
            await conn.execute("SET synchronous_commit = off")
        c0 = conns[0]

        t = time.perf_counter()
        h.log(f"seeding {n_runs:,} runs with params lr and optimizer")
        await c0.execute(
            """
            INSERT INTO run (id, experiment_id, name, status, "user", lifecycle,
                             started_at, ended_at, created_at, updated_at)
            SELECT md5('bench-run-' || i)::uuid, $1::uuid, 'run-' || i, 'completed', 'bench',
                   'active', $2::timestamptz + i * interval '1 second',
                   $2::timestamptz + i * interval '1 second' + interval '1 hour', now(), now()
            FROM generate_series(0, $3::int - 1) AS i
            """,
            experiment_id,
            BASE_TIME,
            n_runs,
        )
        await c0.execute(
            """
            INSERT INTO param (run_id, key, value)
            SELECT md5('bench-run-' || i)::uuid, p.key,
                   CASE p.key
                     WHEN 'lr' THEN ($2::text[])[1 + abs(hashtext('lr' || i)::bigint) % 4]
                     ELSE ($3::text[])[1 + abs(hashtext('opt' || i)::bigint) % 3] END
            FROM generate_series(0, $1::int - 1) AS i
            CROSS JOIN (VALUES ('lr'), ('optimizer')) AS p(key)
            ORDER BY i, p.key
            """,
            n_runs,
            list(LR_VALUES),
            list(OPTIMIZERS),
        )
        timings["runs_params_s"] = time.perf_counter() - t

        # One series row per (run, key), the final value f drawn by hash: increasing series
        # go f/S .. f, decreasing ones f*(2 - 1/S) .. f. Latest = the last step's point.
        t = time.perf_counter()
        h.log(f"seeding {n_runs * len(keys):,} series rows")
        await c0.execute(
            """
            INSERT INTO latest_metric (run_id, key, value, is_nan, step, "timestamp",
                                       min_value, max_value)
            SELECT md5('bench-run-' || i)::uuid, k.key, v.f, false, $3::int - 1,
                   $4::bigint + i * 1000 + $3::int - 1,
                   CASE WHEN k.inc THEN v.f / $3::int ELSE v.f END,
                   CASE WHEN k.inc THEN v.f ELSE v.f * (2 - 1.0 / $3::int) END
            FROM generate_series(0, $1::int - 1) AS i
            CROSS JOIN unnest($2::text[], $5::bool[]) WITH ORDINALITY AS k(key, inc, n)
            CROSS JOIN LATERAL (
                SELECT (abs(hashtext(k.key || i)::bigint) % 1000000) / 1000000.0::float8 AS f
            ) AS v
            ORDER BY i, k.n
            """,
            n_runs,
            [k for k, _ in keys],
            steps,
            w.BASE_MS,
            [inc for _, inc in keys],
        )
        id_lo, id_hi = await c0.fetchrow("SELECT min(id), max(id) FROM latest_metric")

        # The long series: a run of its own with one key.
        await c0.execute(
            """
            INSERT INTO run (id, experiment_id, name, status, "user", lifecycle,
                             started_at, ended_at, created_at, updated_at)
            VALUES (md5('bench-big-run')::uuid, $1::uuid, 'big-run', 'running', 'bench',
                    'active', $2::timestamptz, NULL, now(), now())
            """,
            experiment_id,
            BASE_TIME,
        )
        big_series_id = await c0.fetchval(
            """
            INSERT INTO latest_metric (run_id, key, value, is_nan, step, "timestamp",
                                       min_value, max_value)
            VALUES (md5('bench-big-run')::uuid, $1, 0, false, 0, 0, NULL, NULL)
            RETURNING id
            """,
            BIG_KEY,
        )
        timings["series_s"] = time.perf_counter() - t

        # Points, in rounds that alternate chunks of the small series with chunks of the long
        # one, so the long series is spread over the table as if logged alongside the others.
        rounds = max(1, args.rounds)
        small_bounds = _split(id_lo, id_hi, rounds)
        big_bounds = _split(0, args.big_series - 1, rounds)
        tasks: list[tuple[str, int, int]] = []
        for r in range(rounds):
            if small_bounds[r]:
                tasks.append(("small", *small_bounds[r]))
            if big_bounds[r]:
                tasks.append(("big", *big_bounds[r]))
        inc_keys = [k for k, inc in keys if inc]
        total_points = n_runs * len(keys) * steps + args.big_series
        h.log(
            f"seeding {total_points:,} points ({n_runs * len(keys):,} series x {steps} steps "
            f"+ one series of {args.big_series:,}) in {len(tasks)} chunks, "
            f"{len(conns)} connections"
        )
        t = time.perf_counter()
        queue: asyncio.Queue[tuple[str, int, int]] = asyncio.Queue()
        for task in tasks:
            queue.put_nowait(task)
        done_points = 0

        async def worker(conn: Any) -> None:
            nonlocal done_points
            while not queue.empty():
                kind, lo, hi = queue.get_nowait()
                if kind == "small":
                    await conn.execute(
                        """
                        INSERT INTO metric (series_id, step, "timestamp", value, is_nan)
                        SELECT lm.id, s, lm."timestamp" - ($3::int - 1) + s,
                               CASE WHEN lm.key = ANY($4::text[])
                                    THEN lm.value * (s + 1) / $3::int
                                    ELSE lm.value * (2 - (s + 1.0) / $3::int) END,
                               false
                        FROM latest_metric AS lm
                        CROSS JOIN generate_series(0, $3::int - 1) AS s
                        WHERE lm.id BETWEEN $1 AND $2
                        ORDER BY lm.id, s
                        """,
                        lo,
                        hi,
                        steps,
                        inc_keys,
                    )
                    done_points += (hi - lo + 1) * steps
                else:
                    # A decaying loss with a ripple and a rare spike (kept by min/max buckets).
                    await conn.execute(
                        """
                        INSERT INTO metric (series_id, step, "timestamp", value, is_nan)
                        SELECT $1::bigint, s, $4::bigint + s * 10,
                               1.0 / (1 + s / 10000.0) + 0.05 * sin(s / 50.0)
                                 + CASE WHEN s % 99991 = 4242 THEN 5 ELSE 0 END,
                               false
                        FROM generate_series($2::int, $3::int) AS s
                        """,
                        big_series_id,
                        lo,
                        hi,
                        w.BASE_MS,
                    )
                    done_points += hi - lo + 1
                if kind == "small":
                    h.log(
                        f"    {done_points:,} / {total_points:,} points "
                        f"({time.perf_counter() - t:.0f}s)"
                    )

        await asyncio.gather(*(worker(conn) for conn in conns))
        timings["points_s"] = time.perf_counter() - t

        await c0.execute(
            """
            UPDATE latest_metric AS lm SET
                value = last.value, step = last.step, "timestamp" = last."timestamp",
                min_value = agg.lo, max_value = agg.hi
            FROM (SELECT value, step, "timestamp" FROM metric WHERE series_id = $1
                  ORDER BY step DESC, "timestamp" DESC LIMIT 1) AS last,
                 (SELECT min(value) AS lo, max(value) AS hi FROM metric
                  WHERE series_id = $1) AS agg
            WHERE lm.id = $1
            """,
            big_series_id,
        )
        if not fresh_statistics(args):
            t = time.perf_counter()
            await vacuum_analyze(c0)
            timings["vacuum_analyze_s"] = time.perf_counter() - t
        return {"points": total_points, "timings": {k: round(v, 1) for k, v in timings.items()}}
    finally:
        for conn in conns:
            await conn.close()


# The tables a search and a history read plan over; autovacuum is held off them while seeding
# when the fresh-statistics searches are measured, so that they meet what a team meets that
# searches a sweep the moment it is logged: rows that no ANALYZE has seen yet.
FRESH_TABLES = ("experiment", "run", "param", "run_tag", "latest_metric", "metric")


def fresh_statistics(args: argparse.Namespace) -> bool:
    return args.seed == "sql" and not args.no_fresh


async def vacuum_analyze(conn: Any) -> None:
    h.log("VACUUM ANALYZE (the state autovacuum brings a long-lived database to)")
    for table in FRESH_TABLES:
        await conn.execute(f"VACUUM ANALYZE {table}")


async def _on_db(db: str, statements: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=h.PG_HOST, port=h.PG_PORT, user=h.PG_USER, database=db)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


# The plain tables of FRESH_TABLES: a partitioned table's partitions in its place (the
# storage options are theirs), each named by the table it belongs to.
LEAVES = (
    "SELECT coalesce(pg_partition_root(c.oid)::text, c.relname) AS name, c.relname, "
    "c.reltuples FROM pg_class c WHERE c.relkind = 'r'"
)


def _leaves(db: str) -> list[str]:
    names = ", ".join(f"'{table}'" for table in FRESH_TABLES)
    rows = h.pg_run(db, f"SELECT relname FROM ({LEAVES}) AS t WHERE name IN ({names})")[0]
    return [str(row[0]) for row in rows]


def hold_autovacuum(db: str, held: bool) -> None:
    option = "SET (autovacuum_enabled = false)" if held else "RESET (autovacuum_enabled)"
    asyncio.run(_on_db(db, [f"ALTER TABLE {table} {option}" for table in _leaves(db)]))


def analyzed_rows(db: str) -> dict[str, int]:
    """What the planner believes each table holds (0: never analyzed), partitions summed."""
    names = ", ".join(f"'{table}'" for table in FRESH_TABLES)
    rows = h.pg_scalar(
        db,
        "SELECT json_object_agg(name, rows) FROM (SELECT name, "
        f"sum(greatest(reltuples, 0))::bigint AS rows FROM ({LEAVES}) AS t "
        f"WHERE name IN ({names}) GROUP BY name) AS counted",
    )
    return dict(json.loads(rows) if isinstance(rows, str) else rows or {})


def _split(lo: int, hi: int, parts: int) -> list[tuple[int, int] | None]:
    n = hi - lo + 1
    out: list[tuple[int, int] | None] = []
    start = lo
    for k in range(parts):
        size = n // parts + (1 if k < n % parts else 0)
        out.append((start, start + size - 1) if size > 0 else None)
        start += size
    return out


# --------------------------------------------------------------------------------------------
# Seeding through the API (slow, independent of the tables)


def seed_api_worker(
    base_url: str,
    experiment_id: str,
    indices: list[int],
    keys: list[tuple[str, bool]],
    steps: int,
) -> int:
    done = 0
    with h.http_client(base_url) as client:
        for i in indices:
            lr = LR_VALUES[zlib.crc32(f"lr{i}".encode()) % 4]
            opt = OPTIMIZERS[zlib.crc32(f"opt{i}".encode()) % 3]
            run = h.check(
                client.post(
                    f"{w.V1}/experiments/{experiment_id}/runs",
                    json={"name": f"run-{i}", "params": {"lr": lr, "optimizer": opt}},
                )
            ).json()["id"]
            points = []
            for n, (key, inc) in enumerate(keys):
                f = ((i * 7919 + n * 104729) % 1_000_000) / 1_000_000
                for s in range(steps):
                    value = f * (s + 1) / steps if inc else f * (2 - (s + 1) / steps)
                    points.append(
                        {"key": key, "value": value, "step": s, "timestamp": w.BASE_MS + s}
                    )
            for start in range(0, len(points), 10_000):
                method, path, body = w.batch_request(w.API_V1, run, points[start : start + 10_000])
                h.check(client.request(method, path, content=body))
            done += 1
    return done


def seed_big_api_worker(base_url: str, run_id: str, ranges: list[tuple[int, int]]) -> int:
    import math

    done = 0
    with h.http_client(base_url) as client:
        for lo, hi in ranges:
            points = [
                {
                    "key": BIG_KEY,
                    "value": 1.0 / (1 + s / 10000.0)
                    + 0.05 * math.sin(s / 50.0)
                    + (5 if s % 99991 == 4242 else 0),
                    "step": s,
                    "timestamp": w.BASE_MS + s * 10,
                }
                for s in range(lo, hi + 1)
            ]
            method, path, body = w.batch_request(w.API_V1, run_id, points)
            h.check(client.request(method, path, content=body))
            done += len(points)
    return done


def seed_api(args: argparse.Namespace, server: h.Server, experiment_id: str) -> dict[str, Any]:
    keys = metric_keys(args.keys_per_run)
    t = time.perf_counter()
    parts = h.chunks(list(range(args.runs)), max(1, args.seed_concurrency))
    h.log(f"seeding {args.runs:,} runs through the API ({len(parts)} clients)")
    h.run_workers(
        seed_api_worker,
        [
            (server.base_url, experiment_id, list(part), keys, args.steps_per_series)
            for part in parts
        ],
    )
    with h.http_client(server.base_url) as client:
        big_run = w.create_run(client, w.API_V1, experiment_id, "big-run")
    ranges = [
        (lo, min(lo + 9_999, args.big_series - 1)) for lo in range(0, args.big_series, 10_000)
    ]
    h.run_workers(
        seed_big_api_worker,
        [(server.base_url, big_run, list(p)) for p in h.chunks(ranges, 2)],
    )
    total = args.runs * len(keys) * args.steps_per_series + args.big_series
    return {"points": total, "timings": {"api_s": round(time.perf_counter() - t, 1)}}


# --------------------------------------------------------------------------------------------
# Measuring


def measure(args: argparse.Namespace, server: h.Server, db: str) -> dict[str, Any]:
    experiment_id = str(
        h.pg_scalar(db, "SELECT experiment_id FROM run WHERE name = 'big-run' LIMIT 1")
    )
    big_run = str(h.pg_scalar(db, "SELECT id FROM run WHERE name = 'big-run' LIMIT 1"))
    counts = {
        "runs": h.pg_scalar(db, "SELECT count(*) FROM run"),
        "series": h.pg_scalar(db, "SELECT count(*) FROM latest_metric"),
        "points_estimate": analyzed_rows(db).get("metric", 0),
        "big_series_points": h.pg_scalar(
            db,
            "SELECT count(*) FROM metric m JOIN latest_metric lm ON lm.id = m.series_id "
            f"WHERE lm.run_id = '{big_run}' AND lm.key = '{BIG_KEY}'",
        ),
        "database_size": h.pg_scalar(
            db, "SELECT pg_size_pretty(pg_database_size(current_database()))"
        ),
    }
    matches = filter_matches(args, db)
    h.log(
        f"database {db}: {counts['runs']:,} runs, {counts['series']:,} series, "
        f"~{counts['points_estimate']:,} points ({counts['database_size']}); "
        f"long series {counts['big_series_points']:,} points; filter matches {matches}"
    )
    out: dict[str, Any] = {"counts": counts, "filter_matches": matches}
    client = h.http_client(server.base_url)
    try:
        out.update(measure_searches(args, server, db, client, experiment_id, matches))
        # ---- downsampled view of the long series
        params = {"key": BIG_KEY, "points": args.downsample_points}
        latencies, returned = [], set()
        cpu = h.CpuMeter(server, db)
        cpu.__enter__()
        for i in range(args.warmup + args.downsample_reps):
            t = time.perf_counter()
            response = client.get(f"{w.V1}/runs/{big_run}/metrics/downsampled", params=params)
            elapsed = time.perf_counter() - t
            if response.status_code != 200:
                out["downsampled"] = {
                    "unavailable": f"{response.status_code}: {response.text[:300]}"
                }
                h.log(f"downsampled: {out['downsampled']['unavailable']}")
                break
            data = orjson.loads(response.content)
            returned.add(len(data.get("points") or []))
            if i >= args.warmup:
                latencies.append(elapsed)
        else:
            cpu.__exit__(None, None, None)
            lat = h.latency_summary(latencies)
            out["downsampled"] = {
                "cpu": cpu.as_dict(),
                "latency": lat,
                "points_returned": sorted(returned),
                "correct": all(0 < n <= args.downsample_points for n in returned),
                "response_bytes": len(response.content),
                "sample_point": (data.get("points") or [None])[0],
            }
            h.log(
                f"downsampled {args.big_series:,} -> {sorted(returned)} points: median "
                f"{h.fmt_num(lat['median_ms'])} ms, p95 {h.fmt_num(lat['p95_ms'])} ms"
            )
            h.log("    " + cpu.line())
    finally:
        client.close()
    if args.explain:
        out["explain_search"] = explain_search(db, experiment_id, args.search_max_results)
    return out


def measure_growth(args: argparse.Namespace, server: h.Server, db: str) -> dict[str, Any]:
    """What grows with the table: its size per point, then a history page of the long
    series, then the ingest rate into it (it adds points) and the purge of what it added."""
    big_run = str(h.pg_scalar(db, "SELECT id FROM run WHERE name = 'big-run' LIMIT 1"))
    experiment_id = str(h.pg_scalar(db, f"SELECT experiment_id FROM run WHERE id = '{big_run}'"))
    out: dict[str, Any] = {"storage": g.storage(db)}
    store = out["storage"]
    h.log(
        f"metric table: {store['points']:,} points in {store['partitions']} partitions, "
        f"{store['bytes_per_point']} bytes a point ({store['index_bytes_per_point']} of index)"
    )
    out["history"] = g.history(server, big_run, BIG_KEY, args.history_reps, args.warmup)
    out["ingest"], runs = g.ingest(server, db, experiment_id, args.ingest_seconds)
    out["purge"] = g.purge(server, runs, out["ingest"]["points"])
    return out


def measure_searches(
    args: argparse.Namespace,
    server: h.Server,
    db: str,
    client: Any,
    experiment_id: str,
    matches: int | None,
    *,
    prefix: str = "",
    reps: int | None = None,
) -> dict[str, Any]:
    """The search variants' latencies (named with `prefix`)."""
    out: dict[str, Any] = {}
    reps = args.search_reps if reps is None else reps
    body = orjson.dumps(
        {
            "experiment_ids": [experiment_id],
            "filter": args.search_filter,
            "max_results": args.search_max_results,
        }
    )
    search_variants = {
        "search": body,
        "search_order_by_acc": orjson.dumps(
            {
                "experiment_ids": [experiment_id],
                "filter": args.search_filter,
                "max_results": args.search_max_results,
                "order_by": ["metrics.acc DESC"],
            }
        ),
    }
    for name, payload in search_variants.items():
        latencies, returned = [], set()
        cpu = h.CpuMeter(server, db)
        cpu.__enter__()
        for i in range(args.warmup + reps):
            t = time.perf_counter()
            response = client.post(f"{w.V1}/runs/search", content=payload)
            elapsed = time.perf_counter() - t
            if response.status_code != 200:
                unavailable = f"{response.status_code}: {response.text[:300]}"
                out[prefix + name] = {"unavailable": unavailable}
                h.log(f"{prefix}{name}: {out[prefix + name]['unavailable']}")
                break
            data = orjson.loads(response.content)
            returned.add(len(data.get("runs") or []))
            if i >= args.warmup:
                latencies.append(elapsed)
        else:
            cpu.__exit__(None, None, None)
            lat = h.latency_summary(latencies)
            expected = None if matches is None else min(matches, args.search_max_results)
            out[prefix + name] = {
                "cpu": cpu.as_dict(),
                "latency": lat,
                "runs_returned": sorted(returned),
                "runs_expected": expected,
                "correct": expected is None or returned == {expected},
                "response_bytes": len(response.content),
            }
            h.log(
                f"{prefix}{name}: median {h.fmt_num(lat['median_ms'])} ms, p95 "
                f"{h.fmt_num(lat['p95_ms'])} ms, p99 {h.fmt_num(lat['p99_ms'])} ms "
                f"({sorted(returned)} runs returned, expected {expected}; "
                f"{len(response.content):,} bytes)"
            )
            h.log("    " + cpu.line())
    return out


def filter_matches(args: argparse.Namespace, db: str) -> int | None:
    """How many runs the default filter matches (None for another filter)."""
    if args.search_filter != DEFAULT_FILTER:
        return None
    count = h.pg_scalar(
        db,
        "SELECT count(*) FROM run r WHERE "
        "EXISTS (SELECT 1 FROM latest_metric lm WHERE lm.run_id = r.id AND lm.key = 'acc' "
        "AND NOT lm.is_nan AND lm.value > 0.9) AND "
        "EXISTS (SELECT 1 FROM param p WHERE p.run_id = r.id AND p.key = 'lr' "
        "AND p.value = '0.01')",
    )
    return None if count is None else int(count)


def measure_fresh(args: argparse.Namespace, server: h.Server, db: str) -> dict[str, Any]:
    """The searches on the database as seeded, before any ANALYZE (autovacuum held off it),
    then VACUUM ANALYZE and autovacuum back on for everything measured after."""
    experiment_id = str(
        h.pg_scalar(db, "SELECT experiment_id FROM run WHERE name = 'big-run' LIMIT 1")
    )
    believed = analyzed_rows(db)
    h.log(f"fresh statistics: the planner believes the tables hold {believed} rows")
    out: dict[str, Any] = {"fresh_statistics": {"believed_rows": believed}}
    matches = filter_matches(args, db)
    client = h.http_client(server.base_url)
    try:
        out.update(
            measure_searches(args, server, db, client, experiment_id, matches, prefix="fresh_")
        )
    finally:
        client.close()
    if args.explain:
        out["explain_search_fresh"] = explain_search(db, experiment_id, args.search_max_results)
    t = time.perf_counter()
    asyncio.run(_vacuum_analyze_db(db))
    hold_autovacuum(db, False)
    out["fresh_statistics"]["vacuum_analyze_s"] = round(time.perf_counter() - t, 1)
    return out


async def _vacuum_analyze_db(db: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=h.PG_HOST, port=h.PG_PORT, user=h.PG_USER, database=db)
    try:
        await vacuum_analyze(conn)
    finally:
        await conn.close()


def explain_search(db: str, experiment_id: str, limit: int) -> str:
    """EXPLAIN ANALYZE of SQL equivalent to what the search repository builds today."""
    sql = f"""
EXPLAIN (ANALYZE, BUFFERS)
SELECT run.* FROM run
WHERE run.experiment_id IN ('{experiment_id}') AND run.lifecycle = 'active'
  AND (SELECT value FROM latest_metric WHERE latest_metric.run_id = run.id
       AND latest_metric.key = 'acc' AND latest_metric.is_nan = false) > 0.9
  AND (SELECT value FROM param WHERE param.run_id = run.id AND param.key = 'lr') = '0.01'
ORDER BY run.started_at DESC, run.id ASC LIMIT {limit + 1}"""
    plan = asyncio.run(_explain(db, sql))
    print(plan)
    return plan


async def _explain(db: str, sql: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(host=h.PG_HOST, port=h.PG_PORT, user=h.PG_USER, database=db)
    try:
        rows = await conn.fetch(sql)
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


# --------------------------------------------------------------------------------------------


def render(meta: dict[str, Any], results: dict[str, Any]) -> str:
    def row(name: str, label: str, target: str, entry: dict[str, Any] | None = None) -> str:
        r = results.get(name) or {} if entry is None else entry
        if "latency" not in r:
            return f"| {label} | n/a | n/a | n/a | {target} | {r.get('unavailable', 'n/a')} |"
        lat = r["latency"]
        met = "yes" if lat["p95_ms"] < 100 else "**no**"
        if not target:
            met = ""
        return (
            f"| {label} | {h.fmt_num(lat['median_ms'])} | {h.fmt_num(lat['p95_ms'])} | "
            f"{h.fmt_num(lat['p99_ms'])} | {target} | {met} |"
        )

    c = results.get("counts", {})
    growth = results.get("growth") or {}
    store, ingest = growth.get("storage") or {}, growth.get("ingest") or {}
    return (
        "\n".join(
            [
                "# Experiment Tracker at scale",
                "",
                f"- command: `{meta['command']}`",
                f"- when: {meta['started']}; our commit {meta['git'].get('commit')} "
                f"(mltrail_server/ or migrations/ modified: {meta['git'].get('app_dirty')})",
                f"- database: {c.get('runs')} runs, {c.get('series')} series, "
                f"~{c.get('points_estimate')} points ({c.get('database_size')}); long series "
                f"{c.get('big_series_points')} points; {meta['workers']} workers; "
                f"seeded by {meta['seed']}",
                "",
                "| figure | median ms | p95 ms | p99 ms | target | met |",
                "|---|---:|---:|---:|---|---|",
                row("search", f"search `{meta['filter']}`", "p95 < 100 ms"),
                row("search_order_by_acc", "same, order_by metrics.acc DESC", ""),
                row("fresh_search", "search, fresh statistics (before ANALYZE)", "p95 < 100 ms"),
                row("fresh_search_order_by_acc", "same, order_by, fresh statistics", ""),
                row(
                    "downsampled",
                    f"downsampled {meta['downsample_points']} points of the long series",
                    "p95 < 100 ms",
                ),
                row("history", "history, a page of 25,000 points of it", "", growth.get("history")),
                "",
                f"- metric table: {store.get('points')} points in {store.get('partitions')} "
                f"partitions, {store.get('bytes_per_point')} bytes a point on disk "
                f"({store.get('index_bytes_per_point')} of them index)",
                f"- ingest into it: {ingest.get('points_per_s')} points/s "
                f"({g.INGEST_CLIENTS} clients, batches of {g.INGEST_BATCH:,}, "
                f"{ingest.get('errors')} errors); those runs purged by gc in "
                f"{(growth.get('purge') or {}).get('seconds')} s",
            ]
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.project:
        smaller, larger = (json.loads(Path(path).read_text()) for path in args.project)
        markdown = g.project(
            smaller, larger, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        )
        print(markdown)
        h.write_results(
            "scale-projection",
            {"from": args.project, "smaller": smaller["meta"], "larger": larger["meta"]},
            markdown,
        )
        return 0
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    config = seed_config(args)
    tag = h.rand_suffix(6)
    db = db_name(args) if args.keep_db else f"bench_scale_tmp_{tag}"
    logs_dir = h.RESULTS_DIR / f"logs-scale-{tag}"
    reuse = args.keep_db and not args.reseed and seeded_config(db) == {**config, "complete": True}
    seed_info: dict[str, Any] = {"reused": reuse}
    server: h.Server | None = None
    results: dict[str, Any] = {}
    try:
        if reuse:
            h.log(f"reusing the seeded database {db}")
        else:
            h.create_database(db)
            h.log(f"created database {db}")
        if not reuse and args.seed == "sql":
            t = time.perf_counter()
            h.log(f"migrating to revision {SEED_REVISION} and seeding by SQL")
            migrate_to(db, SEED_REVISION)
            if fresh_statistics(args):
                hold_autovacuum(db, True)
            experiment_id = str(
                h.pg_scalar(
                    db,
                    "INSERT INTO experiment (id, name, owner, status, lifecycle, created_at, "
                    f"updated_at) VALUES (gen_random_uuid(), 'scale-{tag}', 'bench', 'created', "
                    "'active', now(), now()) RETURNING id",
                )
            )
            seed_info.update(asyncio.run(seed_sql(args, db, experiment_id)))
            h.log("migrating to head (later migrations backfill what they derive)")
            seed_info["migrate_to_head_s"] = round(migrate_to(db, "head"), 1)
            h.log(f"    migrations to head took {seed_info['migrate_to_head_s']}s")
            if fresh_statistics(args):
                hold_autovacuum(db, True)  # the tables the migrations made anew, too
            else:
                h.pg_run(db, "ANALYZE")
            seed_info["seconds"] = round(time.perf_counter() - t, 1)
        # Starting the server migrates the database to head (a no-op after the above).
        server = h.our_server(db, h.free_port(), args.workers, logs_dir / "ours.log")
        server.start()
        server.wait_ready(timeout=600, workers=args.workers)
        if not reuse and args.seed == "api":
            t = time.perf_counter()
            with h.http_client(server.base_url) as client:
                experiment_id = w.create_experiment(client, w.API_V1, f"scale-{tag}")
            seed_info.update(seed_api(args, server, experiment_id))
            h.pg_run(db, "VACUUM ANALYZE")
            seed_info["seconds"] = round(time.perf_counter() - t, 1)
            # Measure a freshly started server (empty pools, no statement caches).
            server.stop()
            server = h.our_server(db, h.free_port(), args.workers, logs_dir / "ours-2.log")
            server.start()
            server.wait_ready(workers=args.workers)
        if not reuse:
            h.log(f"seeded in {seed_info['seconds']}s")
            if args.keep_db:
                mark_seeded(db, {**config, "complete": True})
        fresh: dict[str, Any] = {}
        if not reuse and fresh_statistics(args):
            fresh = measure_fresh(args, server, db)
        results = {**measure(args, server, db), **fresh}
        results["growth"] = measure_growth(args, server, db)
    finally:
        if server is not None:
            server.stop()
        if args.keep_db:
            h.log(f"kept database {db} (reused by the next --keep-db run with the same sizes)")
        else:
            h.drop_database(db)
            h.log(f"dropped database {db}")

    meta = {
        "command": " ".join([".venv/bin/python", "bench/scale.py", *(argv or sys.argv[1:])]),
        "started": started,
        "git": h.git_describe(),
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "seed": args.seed,
        "filter": args.search_filter,
        "downsample_points": args.downsample_points,
        "config": config,
        "seeding": seed_info,
        "args": vars(args),
    }
    markdown = render(meta, results)
    print()
    print(markdown)
    json_path, md_path = h.write_results(
        "scale-quick" if args.quick else "scale", {"meta": meta, "results": results}, markdown
    )
    h.log(f"wrote {json_path.relative_to(h.ROOT)} and {md_path.relative_to(h.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
