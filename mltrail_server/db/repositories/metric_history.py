"""SQL for reading metric series back.

Every query walks the primary key of `metric`, (series_id, step, timestamp): a page is a
keyset range of it; the extent of a series is a few probes of it; a downsample with buckets
narrower than a block reads each point of the range once, on PostgreSQL one range scan per
bucket, on SQLite one GROUP BY (series, bucket), and takes each bucket's last point with a
probe. A downsample with buckets of whole blocks (256 steps each) reads the rollup
`metric_block` instead: one GROUP BY (series, bucket) of the blocks, a probe for each
bucket's last block, and the raw points only of the (at most two) blocks that the asked
range cuts in part.
"""

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import BigInteger, and_, bindparam, case, func, null, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import ARRAY

from mltrail_server.db.tables import (
    ACTIVE,
    BLOCK_SHIFT,
    Experiment,
    LatestMetric,
    Metric,
    MetricBlock,
    Run,
)
from mltrail_server.models.tracking import dump_metric_value


class StoredPoint(NamedTuple):
    """A point as read back (a named tuple: pages hold tens of thousands of them)."""

    step: int
    timestamp: int
    value: float  # NaN is back as NaN


@dataclass(frozen=True)
class Bucket:
    """The points of one series whose steps fall in one bucket."""

    series_id: int
    count: int
    low: float | None  # None: every point in it is NaN
    high: float | None
    last: StoredPoint  # greatest (step, timestamp)


@dataclass(frozen=True)
class Extent:
    """Where a series has points within a range of steps."""

    first_step: int
    last_step: int
    over_cap: bool  # more points than the cap asked about


def _value(value: float, is_nan: bool) -> float:
    return math.nan if is_nan else value


def _in_range(
    step: QueryableAttribute[int] | ColumnElement[int],
    first_step: int | None,
    last_step: int | None,
) -> list[ColumnElement[bool]]:
    conditions = []
    if first_step is not None:
        conditions.append(step >= first_step)
    if last_step is not None:
        conditions.append(step <= last_step)
    return conditions


async def live_series(
    session: AsyncSession, run_ids: Sequence[uuid.UUID], key: str, *, include_deleted: bool = False
) -> dict[uuid.UUID, int | None]:
    """The live runs (in live experiments) among `run_ids`, each with the id of its `key`
    series, or None when the run never logged that key. One query. With `include_deleted`,
    deleted runs and runs of deleted experiments too (MLflow's reads show them)."""
    if not run_ids:
        return {}
    query = (
        select(Run.id, LatestMetric.id)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .outerjoin(LatestMetric, and_(LatestMetric.run_id == Run.id, LatestMetric.key == key))
        .where(Run.id.in_(list(run_ids)))
    )
    if not include_deleted:
        query = query.where(Run.lifecycle == ACTIVE, Experiment.lifecycle == ACTIVE)
    return {run_id: series_id for run_id, series_id in (await session.execute(query)).all()}


async def read_page(
    session: AsyncSession,
    series_id: int,
    *,
    after: tuple[int, int] | None,
    first_step: int | None,
    last_step: int | None,
    limit: int,
) -> list[tuple[int, int, float]]:
    """Up to `limit` (step, timestamp, value) points in (step, timestamp) order, starting
    after `after`: a keyset range scan of the primary key, as fast on the last page as on the
    first. Plain tuples from a Core query: a page is up to 25,000 points."""
    points = Metric.__table__.c
    query = select(points.step, points.timestamp, points.value, points.is_nan).where(
        points.series_id == series_id, *_in_range(points.step, first_step, last_step)
    )
    if after is not None:
        query = query.where(
            tuple_(points.step, points.timestamp)
            > tuple_(
                bindparam("after_step", after[0], BigInteger),
                bindparam("after_timestamp", after[1], BigInteger),
            )
        )
    query = query.order_by(points.step, points.timestamp).limit(limit)
    rows = await session.execute(query)
    return [(step, stamp, math.nan if is_nan else value) for step, stamp, value, is_nan in rows]


class JsonPage(NamedTuple):
    """A page of points as JSON text, built by the database: the points' objects joined by
    commas (no brackets), how many there are (`size`), whether more follow, and then the (step,
    timestamp) of the last one."""

    text: str
    size: int
    more: bool
    last: tuple[int, int] | None


# The largest finite double: a value beyond it is an infinity.
_MAX_DOUBLE = "1.7976931348623157e308"
_VALUE_JSON = (
    "CASE WHEN is_nan THEN '\"NaN\"' "
    f"WHEN value > {_MAX_DOUBLE} THEN '\"Infinity\"' "
    f"WHEN value < -{_MAX_DOUBLE} THEN '\"-Infinity\"' ELSE value::text END"
)
_POINT_JSON = {
    "v1": (
        "'{\"step\":' || step || ',\"timestamp\":' || timestamp || ',\"value\":' || "
        f"{_VALUE_JSON} || '}}'"
    ),
    "mlflow": (
        "'{\"key\":' || CAST(:key_json AS TEXT) || ',\"value\":' || "
        f"{_VALUE_JSON} || ',\"timestamp\":' || timestamp || ',\"step\":' || step || '}}'"
    ),
}
_INF = math.inf


async def read_page_json(
    session: AsyncSession,
    series_id: int,
    *,
    after: tuple[int, int] | None,
    first_step: int | None,
    last_step: int | None,
    limit: int,
    shape: str,
    key: str = "",
) -> JsonPage:
    """Up to `limit` points in (step, timestamp) order after `after` (the keyset range scan of
    `read_page`) as JSON: `shape` "v1" writes `{"step","timestamp","value"}`, "mlflow"
    `{"key","value","timestamp","step"}` with `key`; a value is a number, or "NaN",
    "Infinity", "-Infinity".

    PostgreSQL writes each point as the index scan yields it and aggregates the page into one
    text: no row, let alone an object, per point reaches Python. (A double as text is its
    shortest exact spelling there, with `extra_float_digits` above 0, which is set first.)
    SQLite's own float-to-text is not exact (15 digits; its printf misses the last digit of
    some), so there the rows come back and orjson writes them in one call."""
    on_postgres = session.bind is not None and session.bind.dialect.name == "postgresql"
    conditions = ["series_id = :series_id"]
    if first_step is not None:
        conditions.append("step >= :first_step")
    if last_step is not None:
        conditions.append("step <= :last_step")
    if after is not None:
        conditions.append("(step, timestamp) > (:after_step, :after_timestamp)")
    points = (
        "SELECT step, timestamp, value, is_nan FROM metric "
        f"WHERE {' AND '.join(conditions)} ORDER BY step, timestamp LIMIT :limit_and_one"
    )
    parameters: dict[str, object] = {
        "series_id": series_id,
        "first_step": first_step,
        "last_step": last_step,
        "after_step": None if after is None else after[0],
        "after_timestamp": None if after is None else after[1],
        "limit": limit,
        "limit_and_one": limit + 1,
        "key_json": json.dumps(key, ensure_ascii=False),
    }
    if not on_postgres:
        used = {name: value for name, value in parameters.items() if f":{name}" in points}
        rows = (await session.execute(text(points), used)).all()
        return _encoded(rows, limit, shape, key)
    # For this transaction (it reads one series): exact doubles as text, and the page walked
    # in the primary key's order whatever the statistics say. Before autovacuum has analyzed
    # freshly logged points, PostgreSQL took a series for a few hundred rows and sorted all
    # of them (100,000, on disk) through a bitmap scan: 310 ms, against 17 ms for the scan.
    await session.execute(
        text(
            "SELECT set_config('extra_float_digits', '1', true), "
            "set_config('enable_sort', 'off', true), set_config('enable_bitmapscan', 'off', true)"
        )
    )
    sql = (
        f"SELECT string_agg({_POINT_JSON[shape]}, ',' ORDER BY n) FILTER (WHERE n <= :limit), "
        "count(*), max(step) FILTER (WHERE n = :limit), "
        "max(timestamp) FILTER (WHERE n = :limit) "
        "FROM (SELECT *, row_number() OVER (ORDER BY step, timestamp) AS n "
        f"FROM ({points}) AS ordered) AS page"
    )
    used = {name: value for name, value in parameters.items() if f":{name}" in sql}
    joined, count, step, stamp = (await session.execute(text(sql), used)).one()
    last = None if step is None else (step, stamp)
    return JsonPage(joined or "", min(count, limit), count > limit, last)


def _encoded(rows: Sequence[Any], limit: int, shape: str, key: str) -> JsonPage:
    page = rows[:limit]
    values = [
        "NaN" if is_nan else value if -_INF < value < _INF else dump_metric_value(value)
        for _, _, value, is_nan in page
    ]
    if shape == "mlflow":
        items: list[Any] = [
            {"key": key, "value": value, "timestamp": stamp, "step": step}
            for (step, stamp, _, _), value in zip(page, values, strict=True)
        ]
    else:
        items = [
            {"step": step, "timestamp": stamp, "value": value}
            for (step, stamp, _, _), value in zip(page, values, strict=True)
        ]
    last = (page[-1][0], page[-1][1]) if page else None
    return JsonPage(orjson.dumps(items)[1:-1].decode(), len(page), len(rows) > limit, last)


async def step_extents(
    session: AsyncSession,
    series_ids: Sequence[int],
    *,
    first_step: int | None,
    last_step: int | None,
    cap: int,
) -> dict[int, Extent]:
    """Per series, its smallest and largest step within the range, and whether it has more
    than `cap` points there: index probes only (the last skips `cap` index entries), all in
    one query. A series with no point in the range is left out."""
    if not series_ids:
        return {}
    point = aliased(Metric)
    in_range = (point.series_id == LatestMetric.id, *_in_range(point.step, first_step, last_step))
    low = select(func.min(point.step)).where(*in_range).scalar_subquery()
    high = select(func.max(point.step)).where(*in_range).scalar_subquery()
    beyond_cap = (
        select(point.step)
        .where(*in_range)
        .order_by(point.step, point.timestamp)
        .offset(cap)
        .limit(1)
        .scalar_subquery()
    )
    query = select(LatestMetric.id, low, high, beyond_cap).where(
        LatestMetric.id.in_(list(series_ids))
    )
    return {
        series_id: Extent(lo, hi, beyond is not None)
        for series_id, lo, hi, beyond in (await session.execute(query)).all()
        if lo is not None
    }


async def read_points(
    session: AsyncSession,
    series_ids: Sequence[int],
    *,
    first_step: int | None,
    last_step: int | None,
) -> dict[int, list[StoredPoint]]:
    """Every point of the series within the range, in (step, timestamp) order."""
    points: dict[int, list[StoredPoint]] = {series_id: [] for series_id in series_ids}
    if not series_ids:
        return points
    query = (
        select(Metric.series_id, Metric.step, Metric.timestamp, Metric.value, Metric.is_nan)
        .where(
            Metric.series_id.in_(list(series_ids)),
            *_in_range(Metric.step, first_step, last_step),
        )
        .order_by(Metric.series_id, Metric.step, Metric.timestamp)
    )
    for series_id, step, stamp, value, is_nan in (await session.execute(query)).all():
        points[series_id].append(StoredPoint(step, stamp, _value(value, is_nan)))
    return points


async def downsample(
    session: AsyncSession, extents: Mapping[int, Extent], *, origin: int, width: int
) -> list[Bucket]:
    """The series cut into buckets of `width` steps from `origin`; per series only the
    buckets between its own first and last step. In (series, bucket) order, empty buckets
    left out. The extents must lie in the range asked for (they come from `step_extents`)."""
    if not extents:
        return []
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return await _downsample_postgres(session, extents, origin=origin, width=width)
    return await _downsample_grouped(session, extents, origin=origin, width=width)


# PostgreSQL: one probe of the primary key per bucket: an aggregate over the bucket's range,
# and a backward step to its last point. Unlike a GROUP BY over the range, this neither
# hashes nor sorts a million rows (it ran twice as fast on a 1,000,000-point series), and
# the planner cannot misjudge the number of buckets.
_PG_DOWNSAMPLE = text(
    """
SELECT s.series_id, a.points, a.min_value, a.max_value, l.step, l.timestamp, l.value, l.is_nan
FROM unnest(:series, :series_first, :series_last) AS s(series_id, first_step, last_step)
CROSS JOIN unnest(:bucket_first, :bucket_last) AS b(first_step, last_step)
CROSS JOIN LATERAL (
    SELECT m.step, m.timestamp, m.value, m.is_nan
    FROM metric AS m
    WHERE m.series_id = s.series_id AND m.step BETWEEN b.first_step AND b.last_step
    ORDER BY m.step DESC, m.timestamp DESC
    LIMIT 1
) AS l
CROSS JOIN LATERAL (
    SELECT count(*) AS points,
           min(m.value) FILTER (WHERE NOT m.is_nan) AS min_value,
           max(m.value) FILTER (WHERE NOT m.is_nan) AS max_value
    FROM metric AS m
    WHERE m.series_id = s.series_id AND m.step BETWEEN b.first_step AND b.last_step
) AS a
WHERE b.last_step >= s.first_step AND b.first_step <= s.last_step
ORDER BY s.series_id, b.first_step
"""
).bindparams(
    bindparam("series", type_=ARRAY(BigInteger)),
    bindparam("series_first", type_=ARRAY(BigInteger)),
    bindparam("series_last", type_=ARRAY(BigInteger)),
    bindparam("bucket_first", type_=ARRAY(BigInteger)),
    bindparam("bucket_last", type_=ARRAY(BigInteger)),
)


async def _downsample_postgres(
    session: AsyncSession, extents: Mapping[int, Extent], *, origin: int, width: int
) -> list[Bucket]:
    end = max(extent.last_step for extent in extents.values())
    starts = list(range(origin, end + 1, width))
    # JIT compiling costs more than it saves on a plan of many small index scans.
    await session.execute(text("SET LOCAL jit = off"))
    result = await session.execute(
        _PG_DOWNSAMPLE,
        {
            "series": list(extents),
            "series_first": [extent.first_step for extent in extents.values()],
            "series_last": [extent.last_step for extent in extents.values()],
            "bucket_first": starts,
            "bucket_last": [min(start + width - 1, end) for start in starts],
        },
    )
    return [
        Bucket(series_id, count, low, high, StoredPoint(step, stamp, _value(value, is_nan)))
        for series_id, count, low, high, step, stamp, value, is_nan in result.all()
    ]


async def _downsample_grouped(
    session: AsyncSession, extents: Mapping[int, Extent], *, origin: int, width: int
) -> list[Bucket]:
    """SQLite: one GROUP BY (series, bucket) over the range, then the last point of each
    bucket by the primary key."""
    end = max(extent.last_step for extent in extents.values())
    bucket = (Metric.step - bindparam("origin", origin, BigInteger)) // bindparam(
        "width", width, BigInteger
    )
    in_range = (
        select(Metric.series_id, Metric.step, Metric.value, Metric.is_nan, bucket.label("bucket"))
        .where(
            Metric.series_id.in_(list(extents)),
            *_in_range(Metric.step, origin, end),
        )
        .subquery("in_range")
    )
    finite = case((in_range.c.is_nan, null()), else_=in_range.c.value)
    buckets = (
        select(
            in_range.c.series_id,
            in_range.c.bucket,
            func.count().label("points"),
            func.min(finite).label("min_value"),
            func.max(finite).label("max_value"),
            func.max(in_range.c.step).label("last_step"),
        )
        .group_by(in_range.c.series_id, in_range.c.bucket)
        .subquery("buckets")
    )
    other = aliased(Metric)
    last_timestamp = (
        select(func.max(other.timestamp))
        .where(other.series_id == buckets.c.series_id, other.step == buckets.c.last_step)
        .scalar_subquery()
    )
    query = (
        select(
            buckets.c.series_id,
            buckets.c.points,
            buckets.c.min_value,
            buckets.c.max_value,
            Metric.step,
            Metric.timestamp,
            Metric.value,
            Metric.is_nan,
        )
        .select_from(buckets)
        .join(
            Metric,
            and_(
                Metric.series_id == buckets.c.series_id,
                Metric.step == buckets.c.last_step,
                Metric.timestamp == last_timestamp,
            ),
        )
        .order_by(buckets.c.series_id, buckets.c.bucket)
    )
    return [
        Bucket(series_id, count, low, high, StoredPoint(step, stamp, _value(value, is_nan)))
        for series_id, count, low, high, step, stamp, value, is_nan in (
            await session.execute(query)
        ).all()
    ]


async def downsample_blocks(
    session: AsyncSession,
    series_ids: Sequence[int],
    *,
    first_step: int | None,
    last_step: int | None,
    origin_block: int,
    blocks_per_bucket: int,
) -> list[Bucket]:
    """The series cut into buckets of `blocks_per_bucket` whole blocks from `origin_block`
    (bucket i: blocks origin_block + i * blocks_per_bucket onwards), counting only the points
    whose steps lie in [first_step, last_step] (None: unbounded). In (series, bucket) order,
    empty buckets left out. Every series must have all its points in the range at or after
    block `origin_block`.

    Blocks wholly inside the range come from `metric_block`; a block that the range cuts in
    part (at most one at each end) is aggregated from its points in the range."""
    if not series_ids:
        return []
    block_steps = 1 << BLOCK_SHIFT
    # The whole blocks in the range: [full_first, full_last] (None: unbounded).
    full_first = None if first_step is None else -(-first_step // block_steps)
    full_last = None if last_step is None else (last_step + 1) // block_steps - 1
    whole_blocks = full_first is None or full_last is None or full_first <= full_last
    raw_ranges: list[tuple[int, int]] = []  # the parts of blocks cut by the range
    if not whole_blocks:
        assert first_step is not None and last_step is not None
        raw_ranges.append((first_step, last_step))
    else:
        if first_step is not None and full_first is not None:
            before = full_first << BLOCK_SHIFT
            if first_step < before:
                raw_ranges.append((first_step, before - 1))
        if last_step is not None and full_last is not None:
            after = (full_last + 1) << BLOCK_SHIFT
            if after <= last_step:
                raw_ranges.append((after, last_step))

    def index(step: int) -> int:
        return ((step >> BLOCK_SHIFT) - origin_block) // blocks_per_bucket

    # No `SET LOCAL jit = off` here (one round trip less): a GROUP BY of even 100 series of
    # a million points each (400,000 blocks) is planned well below PostgreSQL's JIT threshold.
    buckets: dict[tuple[int, int], Bucket] = {}
    if whole_blocks:
        for number, bucket in await _bucket_blocks(
            session,
            series_ids,
            first_block=full_first,
            last_block=full_last,
            origin_block=origin_block,
            blocks_per_bucket=blocks_per_bucket,
        ):
            buckets[(bucket.series_id, number)] = bucket
    for low, high in raw_ranges:
        # Within one block, so within one bucket.
        extents = {series_id: Extent(low, high, True) for series_id in series_ids}
        for part in await _downsample_grouped(session, extents, origin=low, width=high - low + 1):
            where = (part.series_id, index(part.last.step))
            buckets[where] = _merge(buckets[where], part) if where in buckets else part
    return [buckets[where] for where in sorted(buckets)]


async def _bucket_blocks(
    session: AsyncSession,
    series_ids: Sequence[int],
    *,
    first_block: int | None,
    last_block: int | None,
    origin_block: int,
    blocks_per_bucket: int,
) -> list[tuple[int, Bucket]]:
    """(bucket number, bucket) of the series' blocks in [first_block, last_block]: one GROUP
    BY (series, bucket) over `metric_block`, then each bucket's last block by its key."""
    offset = MetricBlock.block - bindparam("origin_block", origin_block, BigInteger)
    number = offset // bindparam("blocks_per_bucket", blocks_per_bucket, BigInteger)
    grouped = (
        select(
            MetricBlock.series_id,
            number.label("bucket"),
            func.sum(MetricBlock.count).label("points"),
            func.min(MetricBlock.min_value).label("min_value"),
            func.max(MetricBlock.max_value).label("max_value"),
            func.max(MetricBlock.block).label("last_block"),
        )
        .where(MetricBlock.series_id.in_(list(series_ids)))
        .group_by(MetricBlock.series_id, number)
    )
    if first_block is not None:
        grouped = grouped.where(MetricBlock.block >= first_block)
    if last_block is not None:
        grouped = grouped.where(MetricBlock.block <= last_block)
    buckets = grouped.subquery("buckets")
    last = aliased(MetricBlock)
    query = (
        select(
            buckets.c.bucket,
            buckets.c.series_id,
            buckets.c.points,
            buckets.c.min_value,
            buckets.c.max_value,
            last.last_step,
            last.last_timestamp,
            last.last_value,
            last.last_is_nan,
        )
        .select_from(buckets)
        .join(
            last,
            and_(last.series_id == buckets.c.series_id, last.block == buckets.c.last_block),
        )
        .order_by(buckets.c.series_id, buckets.c.bucket)
    )
    return [
        (
            int(bucket),
            Bucket(
                series_id,
                int(count),
                low,
                high,
                StoredPoint(step, stamp, _value(value, is_nan)),
            ),
        )
        for bucket, series_id, count, low, high, step, stamp, value, is_nan in (
            await session.execute(query)
        ).all()
    ]


def _merge(a: Bucket, b: Bucket) -> Bucket:
    """Two parts of one series' bucket as one."""
    last = max(a.last, b.last, key=lambda point: (point.step, point.timestamp))
    low = a.low if b.low is None else b.low if a.low is None else min(a.low, b.low)
    high = a.high if b.high is None else b.high if a.high is None else max(a.high, b.high)
    return Bucket(a.series_id, a.count + b.count, low, high, last)
