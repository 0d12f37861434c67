"""SQL for what runs log: params, tags, metric series and their points.

The hot path is `add_points`: a whole batch is one upsert of its series (one row per key,
carrying the latest point and min/max), one insert of its points, and one upsert of the
blocks of 256 steps it touched (`metric_block`: count, min, max, last point, which the
downsampling reads); on PostgreSQL the points go in as arrays through `unnest`, on SQLite as
one executemany. A point already stored is skipped by the primary key, so a re-sent batch
changes nothing, its blocks included.
"""

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    Uuid,
    any_,
    bindparam,
    case,
    delete,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.tables import (
    ACTIVE,
    BLOCK_SHIFT,
    Experiment,
    LatestMetric,
    Metric,
    Param,
    Run,
    RunLink,
    RunTag,
)


class Point(NamedTuple):
    """One metric point (a tuple: a batch makes a thousand of them per request)."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class SeriesState:
    value: float
    is_nan: bool
    step: int
    timestamp: int
    min_value: float | None
    max_value: float | None


def _stored(value: float) -> tuple[float, bool]:
    """NaN is stored as 0 with a flag (SQLite has no NaN); infinities are stored as they are."""
    return (0.0, True) if math.isnan(value) else (value, False)


def summarize(points: Iterable[Point]) -> dict[str, SeriesState]:
    """Per key: the latest point by (step, timestamp, value) and the min and max (NaN, stored
    as 0 with a flag, is in neither). One pass of plain tuples: no object per point."""
    latest: dict[str, tuple[int, int, float, bool]] = {}
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for point in points:
        key, value = point.key, point.value
        is_nan = value != value
        if is_nan:
            value = 0.0
        else:
            if key not in low or value < low[key]:
                low[key] = value
            if key not in high or value > high[key]:
                high[key] = value
        candidate = (point.step, point.timestamp, value, is_nan)
        current = latest.get(key)
        if current is None or candidate[:3] >= current[:3]:
            latest[key] = candidate
    return {
        key: SeriesState(value, is_nan, step, stamp, low.get(key), high.get(key))
        for key, (step, stamp, value, is_nan) in latest.items()
    }


# PostgreSQL: the whole batch in one statement and one round trip, atomic on its own (so it
# needs no transaction around it); the points of several runs at once, when concurrent
# single-point requests are stored together (services/point_writer.py). It checks which runs
# are live, upserts one series row per (run, key) (keeping the latest point by (step,
# timestamp, value) and the min and max; LEAST and GREATEST skip NULLs), adds the points
# through `unnest`, and answers with the runs that were live (only their points are stored).
# The blocks are rolled up from the points the insert RETURNs, i.e. only those actually added
# (a re-sent point is skipped by ON CONFLICT and so not counted twice): per (series, block)
# the count, the min and max of the non-NaN values and the last point by (step, timestamp),
# in one sort of the batch's points and one pass of window aggregates. (A join of the points
# back to their aggregates, as before, was planned as a nested loop over the RETURNING rows,
# which the planner always estimates at one: blocks × points row visits, 140 ms for a batch
# of 1,000 points in 50 blocks.) Merged into the stored block with + / LEAST / GREATEST / a
# (step, timestamp) comparison (a new point never ties the stored last: it would have been a
# conflict). Locks: the series rows first, in (run, key) order, then only blocks of those
# series, in (series, block) order.
_PG_ADD_POINTS = text(
    f"""
    WITH live AS (
        SELECT run.id FROM run JOIN experiment ON experiment.id = run.experiment_id
        WHERE run.id = ANY(CAST(:run_ids AS UUID[]))
          AND run.lifecycle = 'active' AND experiment.lifecycle = 'active'
    ),
    series AS (
        INSERT INTO latest_metric AS old
            (run_id, key, value, is_nan, step, "timestamp", min_value, max_value)
        SELECT s.*
        FROM unnest(
            CAST(:series_runs AS UUID[]), CAST(:keys AS VARCHAR[]), CAST(:vals AS FLOAT8[]),
            CAST(:nans AS BOOLEAN[]), CAST(:steps AS BIGINT[]), CAST(:stamps AS BIGINT[]),
            CAST(:mins AS FLOAT8[]), CAST(:maxs AS FLOAT8[])
        ) AS s(run_id, key, value, is_nan, step, stamp, min_value, max_value)
        WHERE s.run_id IN (SELECT id FROM live)
        ON CONFLICT (run_id, key) DO UPDATE SET
            value = CASE WHEN (excluded.step, excluded."timestamp", excluded.value)
                >= (old.step, old."timestamp", old.value) THEN excluded.value ELSE old.value END,
            is_nan = CASE WHEN (excluded.step, excluded."timestamp", excluded.value)
                >= (old.step, old."timestamp", old.value) THEN excluded.is_nan ELSE old.is_nan END,
            step = CASE WHEN (excluded.step, excluded."timestamp", excluded.value)
                >= (old.step, old."timestamp", old.value) THEN excluded.step ELSE old.step END,
            "timestamp" = CASE WHEN (excluded.step, excluded."timestamp", excluded.value)
                >= (old.step, old."timestamp", old.value)
                THEN excluded."timestamp" ELSE old."timestamp" END,
            min_value = LEAST(old.min_value, excluded.min_value),
            max_value = GREATEST(old.max_value, excluded.max_value)
        RETURNING id, run_id, key
    ),
    points AS (
        INSERT INTO metric (series_id, step, "timestamp", value, is_nan)
        SELECT series.id, p.step, p.stamp, p.value, p.is_nan
        FROM unnest(
            CAST(:point_runs AS UUID[]), CAST(:point_keys AS VARCHAR[]),
            CAST(:point_steps AS BIGINT[]), CAST(:point_stamps AS BIGINT[]),
            CAST(:point_vals AS FLOAT8[]), CAST(:point_nans AS BOOLEAN[])
        ) AS p(run_id, key, step, stamp, value, is_nan)
        JOIN series ON series.run_id = p.run_id AND series.key = p.key
        ON CONFLICT DO NOTHING
        RETURNING series_id, step, "timestamp", value, is_nan
    ),
    blocks AS (
        INSERT INTO metric_block AS old (
            series_id, block, count, min_value, max_value,
            last_step, last_timestamp, last_value, last_is_nan
        )
        SELECT DISTINCT ON (series_id, block)
            series_id, block, count(*) OVER w,
            min(value) FILTER (WHERE NOT is_nan) OVER w,
            max(value) FILTER (WHERE NOT is_nan) OVER w,
            step, "timestamp", value, is_nan
        FROM (SELECT points.*, step >> {BLOCK_SHIFT} AS block FROM points) AS p
        WINDOW w AS (PARTITION BY series_id, block)
        ORDER BY series_id, block, step DESC, "timestamp" DESC
        ON CONFLICT (series_id, block) DO UPDATE SET
            count = old.count + excluded.count,
            min_value = LEAST(old.min_value, excluded.min_value),
            max_value = GREATEST(old.max_value, excluded.max_value),
            last_step = CASE WHEN (excluded.last_step, excluded.last_timestamp)
                > (old.last_step, old.last_timestamp)
                THEN excluded.last_step ELSE old.last_step END,
            last_timestamp = CASE WHEN (excluded.last_step, excluded.last_timestamp)
                > (old.last_step, old.last_timestamp)
                THEN excluded.last_timestamp ELSE old.last_timestamp END,
            last_value = CASE WHEN (excluded.last_step, excluded.last_timestamp)
                > (old.last_step, old.last_timestamp)
                THEN excluded.last_value ELSE old.last_value END,
            last_is_nan = CASE WHEN (excluded.last_step, excluded.last_timestamp)
                > (old.last_step, old.last_timestamp)
                THEN excluded.last_is_nan ELSE old.last_is_nan END
    )
    SELECT id FROM live
    """
)


def _sqlite_upsert_series() -> Any:
    statement = sqlite.insert(cast(Table, LatestMetric.__table__))
    new = statement.excluded
    old = LatestMetric.__table__.c
    is_newer = tuple_(new.step, new.timestamp, new.value) >= tuple_(
        old.step, old.timestamp, old.value
    )

    def pick(column: str) -> Any:
        return case((is_newer, new[column]), else_=old[column])

    def keep_non_null(pick_one: Any, a: Any, b: Any) -> Any:
        # SQLite's two-argument min/max return NULL if either side is; a series of NaN only
        # has a NULL min and max, which must not win.
        return pick_one(func.coalesce(a, b), func.coalesce(b, a))

    return statement.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={
            "value": pick("value"),
            "is_nan": pick("is_nan"),
            "step": pick("step"),
            "timestamp": pick("timestamp"),
            "min_value": keep_non_null(func.min, old.min_value, new.min_value),
            "max_value": keep_non_null(func.max, old.max_value, new.max_value),
        },
    )


_SQLITE_UPSERT_SERIES = _sqlite_upsert_series()
_SQLITE_INSERT_POINTS = sqlite.insert(cast(Table, Metric.__table__)).on_conflict_do_nothing()

# SQLite: each block a batch touched is recomputed from its stored points (at most 256
# steps, read through the primary key of `metric`), so a re-sent point, which the insert
# skipped, is not counted twice. (`WHERE true` keeps SQLite's parser from taking the upsert's
# ON for a join's.)
_SQLITE_REFRESH_BLOCK = text(
    """
    INSERT INTO metric_block (
        series_id, block, count, min_value, max_value,
        last_step, last_timestamp, last_value, last_is_nan
    )
    SELECT :series_id, :block, a.points, a.min_value, a.max_value,
           l.step, l.timestamp, l.value, l.is_nan
    FROM (
        SELECT count(*) AS points,
               min(CASE WHEN is_nan THEN NULL ELSE value END) AS min_value,
               max(CASE WHEN is_nan THEN NULL ELSE value END) AS max_value
        FROM metric
        WHERE series_id = :series_id AND step BETWEEN :first_step AND :last_step
    ) AS a, (
        SELECT step, timestamp, value, is_nan
        FROM metric
        WHERE series_id = :series_id AND step BETWEEN :first_step AND :last_step
        ORDER BY step DESC, timestamp DESC
        LIMIT 1
    ) AS l
    WHERE true
    ON CONFLICT (series_id, block) DO UPDATE SET
        count = excluded.count,
        min_value = excluded.min_value,
        max_value = excluded.max_value,
        last_step = excluded.last_step,
        last_timestamp = excluded.last_timestamp,
        last_value = excluded.last_value,
        last_is_nan = excluded.last_is_nan
    """
)


async def add_points_alone(
    session: AsyncSession, run_id: uuid.UUID, points: Sequence[Point]
) -> bool:
    """`add_points` on PostgreSQL as the request's only statement: self-contained (it checks
    the run is live), so when the session has not begun a transaction yet it runs in
    autocommit, without the BEGIN and COMMIT round trips around it (behind PgBouncer the
    engine keeps it in a transaction: db/engine.py)."""
    return run_id in await add_points_of_runs_alone(session, [(run_id, points)])


async def add_points_of_runs_alone(
    session: AsyncSession, batches: Sequence[tuple[uuid.UUID, Sequence[Point]]]
) -> set[uuid.UUID]:
    """`add_points_of_runs` as the session's only statement, in autocommit on PostgreSQL
    where the session has not begun a transaction (see `add_points_alone`)."""
    if is_postgres(session) and not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return await add_points_of_runs(session, batches)


async def add_points(session: AsyncSession, run_id: uuid.UUID, points: Sequence[Point]) -> bool:
    """Store the points and update each key's series row; a point already stored (same run,
    key, step and timestamp) is skipped. Returns whether the run is live: on PostgreSQL the
    one statement checks it; on SQLite the caller has checked it in this same transaction,
    which holds the database's write lock (`BEGIN IMMEDIATE`)."""
    if not is_postgres(session):
        await _sqlite_add_points(session, run_id, points)
        return True
    return run_id in await add_points_of_runs(session, [(run_id, points)])


async def add_points_of_runs(
    session: AsyncSession, batches: Sequence[tuple[uuid.UUID, Sequence[Point]]]
) -> set[uuid.UUID]:
    """`add_points` for the points of several runs at once (a run may come more than once);
    returns the runs that are live, whose points were stored: the others store nothing. On
    PostgreSQL one statement; on SQLite one check of the runs and the statements of each."""
    by_run: dict[uuid.UUID, list[Point]] = {}
    for run_id, points in batches:
        by_run.setdefault(run_id, []).extend(points)
    if not is_postgres(session):
        live = await _sqlite_live_runs(session, list(by_run))
        for run_id in sorted(live):
            await _sqlite_add_points(session, run_id, by_run[run_id])
        return live
    # A fixed (run, key) order, so concurrent writers lock series rows in the same order.
    series = [
        (run_id, key, state)
        for run_id in sorted(by_run)
        for key, state in sorted(summarize(by_run[run_id]).items())
    ]
    point_runs: list[uuid.UUID] = []
    point_keys: list[str] = []
    point_steps: list[int] = []
    point_stamps: list[int] = []
    point_vals: list[float] = []
    point_nans: list[bool] = []
    for run_id, points in by_run.items():
        for point in points:
            value = point.value
            is_nan = value != value
            point_runs.append(run_id)
            point_keys.append(point.key)
            point_steps.append(point.step)
            point_stamps.append(point.timestamp)
            point_vals.append(0.0 if is_nan else value)
            point_nans.append(is_nan)
    result = await session.execute(
        _PG_ADD_POINTS,
        {
            "run_ids": list(by_run),
            "series_runs": [run_id for run_id, _, _ in series],
            "keys": [key for _, key, _ in series],
            "vals": [state.value for _, _, state in series],
            "nans": [state.is_nan for _, _, state in series],
            "steps": [state.step for _, _, state in series],
            "stamps": [state.timestamp for _, _, state in series],
            "mins": [state.min_value for _, _, state in series],
            "maxs": [state.max_value for _, _, state in series],
            "point_runs": point_runs,
            "point_keys": point_keys,
            "point_steps": point_steps,
            "point_stamps": point_stamps,
            "point_vals": point_vals,
            "point_nans": point_nans,
        },
    )
    return set(result.scalars())


async def _sqlite_live_runs(session: AsyncSession, run_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    query = (
        select(Run.id)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .where(Run.id.in_(run_ids), Run.lifecycle == ACTIVE, Experiment.lifecycle == ACTIVE)
    )
    return set((await session.execute(query)).scalars())


async def _sqlite_add_points(
    session: AsyncSession, run_id: uuid.UUID, points: Sequence[Point]
) -> None:
    if not points:
        return
    summary = sorted(summarize(points).items())
    stored = [_stored(point.value) for point in points]
    await session.execute(
        _SQLITE_UPSERT_SERIES,
        [
            {
                "run_id": run_id,
                "key": key,
                "value": state.value,
                "is_nan": state.is_nan,
                "step": state.step,
                "timestamp": state.timestamp,
                "min_value": state.min_value,
                "max_value": state.max_value,
            }
            for key, state in summary
        ],
    )
    ids = select(LatestMetric.id, LatestMetric.key).where(
        LatestMetric.run_id == run_id, LatestMetric.key.in_([key for key, _ in summary])
    )
    series = {key: series_id for series_id, key in (await session.execute(ids)).all()}
    await session.execute(
        _SQLITE_INSERT_POINTS,
        [
            {
                "series_id": series[point.key],
                "step": point.step,
                "timestamp": point.timestamp,
                "value": value,
                "is_nan": is_nan,
            }
            for point, (value, is_nan) in zip(points, stored, strict=True)
        ],
    )
    touched = sorted({(series[point.key], point.step >> BLOCK_SHIFT) for point in points})
    await session.execute(
        _SQLITE_REFRESH_BLOCK,
        [
            {
                "series_id": series_id,
                "block": block,
                "first_step": block << BLOCK_SHIFT,
                "last_step": ((block + 1) << BLOCK_SHIFT) - 1,
            }
            for series_id, block in touched
        ],
    )


async def add_params(
    session: AsyncSession, run_id: uuid.UUID, params: Mapping[str, str]
) -> dict[str, str]:
    """Insert params that are not set yet; returns the stored value of every given key, so
    the caller can tell a changed value from a repeated one."""
    if not params:
        return {}
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    rows = [{"run_id": run_id, "key": k, "value": v} for k, v in sorted(params.items())]
    await session.execute(insert(Param).values(rows).on_conflict_do_nothing())
    query = select(Param.key, Param.value).where(
        Param.run_id == run_id, Param.key.in_(list(params))
    )
    return {key: value for key, value in (await session.execute(query)).all()}


async def set_tags(session: AsyncSession, run_id: uuid.UUID, tags: Mapping[str, str]) -> None:
    if not tags:
        return
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    rows = [{"run_id": run_id, "key": k, "value": v} for k, v in sorted(tags.items())]
    statement = insert(RunTag).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": statement.excluded.value}
        )
    )


async def delete_tag(session: AsyncSession, run_id: uuid.UUID, key: str) -> bool:
    result = await session.execute(delete(RunTag).where(RunTag.run_id == run_id, RunTag.key == key))
    return bool(getattr(result, "rowcount", 0))


@dataclass
class RunData:
    params: dict[str, str]
    tags: dict[str, str]
    # Rows with the columns of `latest_metric` as attributes (value, is_nan, step, ...).
    metrics: dict[str, Any]


async def load_run_data(
    session: AsyncSession, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RunData]:
    """Params, tags and latest metrics of several runs, in three queries of plain columns
    (no ORM objects: a page of runs can carry thousands of these). Each comes in key order:
    without an ORDER BY the order would follow the plan, which changes when the planner's
    statistics do, and two reads of an unchanged run would differ."""
    data = {run_id: RunData({}, {}, {}) for run_id in run_ids}
    if not run_ids:
        return data
    ids = list(run_ids)
    params = (
        select(Param.run_id, Param.key, Param.value)
        .where(_one_of(session, Param.run_id, ids))
        .order_by(Param.run_id, Param.key)
    )
    for run_id, key, value in (await session.execute(params)).all():
        data[run_id].params[key] = value
    tags = (
        select(RunTag.run_id, RunTag.key, RunTag.value)
        .where(_one_of(session, RunTag.run_id, ids))
        .order_by(RunTag.run_id, RunTag.key)
    )
    for run_id, key, value in (await session.execute(tags)).all():
        data[run_id].tags[key] = value
    table = LatestMetric.__table__
    latest = (
        select(*table.c)
        .where(_one_of(session, table.c.run_id, ids))
        .order_by(table.c.run_id, table.c.key)
    )
    for metric in (await session.execute(latest)).all():
        data[metric.run_id].metrics[metric.key] = metric
    return data


def _one_of(session: AsyncSession, column: Any, ids: list[uuid.UUID]) -> ColumnElement[bool]:
    """`column IN ids`; on PostgreSQL `= ANY($1::uuid[])`, one parameter however many ids (an
    IN list of 1,000 is 1,000 parameters to render and bind on every query)."""
    if is_postgres(session):
        return column == any_(bindparam("ids", ids, type_=postgresql.ARRAY(Uuid)))  # type: ignore[no-any-return]
    return column.in_(ids)  # type: ignore[no-any-return]


def is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


# -- a run's inputs and outputs (datasets, logged models) ------------------------------------------


async def add_links(session: AsyncSession, run_id: uuid.UUID, links: Sequence[RunLink]) -> None:
    """Store a run's inputs or outputs; a link it already has (same direction, kind and key)
    gets the new step and payload."""
    if not links:
        return
    insert = postgresql.insert if is_postgres(session) else sqlite.insert
    rows = {
        (link.direction, link.kind, link.key): {
            "run_id": run_id,
            "direction": link.direction,
            "kind": link.kind,
            "key": link.key,
            "step": link.step,
            "payload": link.payload,
        }
        for link in links
    }
    statement = insert(RunLink).values([rows[identity] for identity in sorted(rows)])
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["run_id", "direction", "kind", "key"],
            set_={"step": statement.excluded.step, "payload": statement.excluded.payload},
        )
    )


async def load_links(
    session: AsyncSession, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RunLink]]:
    links: dict[uuid.UUID, list[RunLink]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return links
    query = (
        select(RunLink).where(_one_of(session, RunLink.run_id, list(run_ids))).order_by(RunLink.id)
    )
    for link in (await session.execute(query)).scalars():
        links[link.run_id].append(link)
    return links


async def dataset_inputs_of_experiments(
    session: AsyncSession, experiment_ids: Sequence[uuid.UUID], *, limit: int
) -> list[tuple[uuid.UUID, str]]:
    """(experiment id, link payload) of the datasets the experiments' runs used, at most
    `limit` links, in the order they were logged."""
    if not experiment_ids:
        return []
    query = (
        select(Run.experiment_id, RunLink.payload)
        .join(Run, Run.id == RunLink.run_id)
        .where(
            Run.experiment_id.in_(list(experiment_ids)),
            RunLink.direction == "input",
            RunLink.kind == "dataset",
        )
        .order_by(RunLink.id)
        .limit(limit)
    )
    return [(row.experiment_id, row.payload or "{}") for row in await session.execute(query)]
