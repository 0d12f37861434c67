"""SQL for reading metric series back.

Every query walks the primary key of `metric`, (series_id, step, timestamp): a page is a
keyset range on it, the step bounds of a series are two probes of it, and a downsample is one
GROUP BY over the range of it, by series and bucket of steps, followed by a probe per bucket
for the bucket's last point.
"""

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, and_, bindparam, case, func, null, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement

from app.db.tables import ACTIVE, Experiment, LatestMetric, Metric, Run


@dataclass(frozen=True)
class StoredPoint:
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


def _value(value: float, is_nan: bool) -> float:
    return math.nan if is_nan else value


def _in_range(
    step: QueryableAttribute[int], first_step: int | None, last_step: int | None
) -> list[ColumnElement[bool]]:
    conditions = []
    if first_step is not None:
        conditions.append(step >= first_step)
    if last_step is not None:
        conditions.append(step <= last_step)
    return conditions


async def live_series(
    session: AsyncSession, run_ids: Sequence[uuid.UUID], key: str
) -> dict[uuid.UUID, int | None]:
    """The live runs (in live experiments) among `run_ids`, each with the id of its `key`
    series, or None when the run never logged that key. One query."""
    if not run_ids:
        return {}
    query = (
        select(Run.id, LatestMetric.id)
        .join(Experiment, Experiment.id == Run.experiment_id)
        .outerjoin(LatestMetric, and_(LatestMetric.run_id == Run.id, LatestMetric.key == key))
        .where(
            Run.id.in_(list(run_ids)),
            Run.lifecycle == ACTIVE,
            Experiment.lifecycle == ACTIVE,
        )
    )
    return {run_id: series_id for run_id, series_id in (await session.execute(query)).all()}


async def read_page(
    session: AsyncSession,
    series_id: int,
    *,
    after: tuple[int, int] | None,
    first_step: int | None,
    last_step: int | None,
    limit: int,
) -> list[StoredPoint]:
    """Up to `limit` points in (step, timestamp) order, starting after `after`: a keyset
    range scan of the primary key, as fast on the last page as on the first."""
    query = select(Metric.step, Metric.timestamp, Metric.value, Metric.is_nan).where(
        Metric.series_id == series_id, *_in_range(Metric.step, first_step, last_step)
    )
    if after is not None:
        query = query.where(
            tuple_(Metric.step, Metric.timestamp)
            > tuple_(
                bindparam("after_step", after[0], BigInteger),
                bindparam("after_timestamp", after[1], BigInteger),
            )
        )
    query = query.order_by(Metric.step, Metric.timestamp).limit(limit)
    rows = (await session.execute(query)).all()
    return [StoredPoint(step, stamp, _value(value, is_nan)) for step, stamp, value, is_nan in rows]


async def step_bounds(
    session: AsyncSession,
    series_ids: Sequence[int],
    *,
    first_step: int | None,
    last_step: int | None,
) -> dict[int, tuple[int, int]]:
    """Per series, its smallest and largest step within the range: two index probes each,
    in one query. A series with no point in the range is left out."""
    if not series_ids:
        return {}
    point = aliased(Metric)
    in_range = (point.series_id == LatestMetric.id, *_in_range(point.step, first_step, last_step))
    low = select(func.min(point.step)).where(*in_range).scalar_subquery()
    high = select(func.max(point.step)).where(*in_range).scalar_subquery()
    query = select(LatestMetric.id, low, high).where(LatestMetric.id.in_(list(series_ids)))
    return {
        series_id: (lo, hi)
        for series_id, lo, hi in (await session.execute(query)).all()
        if lo is not None
    }


async def read_points(
    session: AsyncSession, series_ids: Sequence[int], *, first_step: int, last_step: int
) -> dict[int, list[StoredPoint]]:
    """Every point of the series within the range, in (step, timestamp) order."""
    points: dict[int, list[StoredPoint]] = {series_id: [] for series_id in series_ids}
    if not series_ids:
        return points
    query = (
        select(Metric.series_id, Metric.step, Metric.timestamp, Metric.value, Metric.is_nan)
        .where(
            Metric.series_id.in_(list(series_ids)), *_in_range(Metric.step, first_step, last_step)
        )
        .order_by(Metric.series_id, Metric.step, Metric.timestamp)
    )
    for series_id, step, stamp, value, is_nan in (await session.execute(query)).all():
        points[series_id].append(StoredPoint(step, stamp, _value(value, is_nan)))
    return points


async def downsample(
    session: AsyncSession,
    series_ids: Sequence[int],
    *,
    first_step: int,
    last_step: int,
    width: int,
) -> list[Bucket]:
    """Buckets of `width` steps from `first_step`, per series, in (series, bucket) order.

    One aggregate over the range (count, min and max with NaN left out, and the greatest
    step), then, per bucket, the point at that step with the greatest timestamp.
    """
    if not series_ids:
        return []
    bucket = (Metric.step - bindparam("first_step", first_step, BigInteger)) // bindparam(
        "width", width, BigInteger
    )
    in_range = (
        select(Metric.series_id, Metric.step, Metric.value, Metric.is_nan, bucket.label("bucket"))
        .where(
            Metric.series_id.in_(list(series_ids)), *_in_range(Metric.step, first_step, last_step)
        )
        .subquery("in_range")
    )
    finite = case((in_range.c.is_nan, null()), else_=in_range.c.value)
    buckets = (
        select(
            in_range.c.series_id,
            in_range.c.bucket,
            func.count().label("count"),
            func.min(finite).label("low"),
            func.max(finite).label("high"),
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
            buckets.c["count"],
            buckets.c.low,
            buckets.c.high,
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
