"""SQL for what runs log: params, tags, metric series and their points.

The hot path is `add_points`: a whole batch is one upsert of its series (one row per key,
carrying the latest point and min/max) and one insert of its points; on PostgreSQL the points
go in as arrays through `unnest`, on SQLite as one executemany. A point already stored is
skipped by the primary key, so a re-sent batch changes nothing.
"""

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
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
from sqlalchemy.types import ARRAY

from app.db.tables import LatestMetric, Metric, Param, RunTag


@dataclass(frozen=True)
class Point:
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
    """Per key: the latest point by (step, timestamp, value) and the min and max."""
    summary: dict[str, SeriesState] = {}
    for point in points:
        value, is_nan = _stored(point.value)
        current = summary.get(point.key)
        low = high = None if is_nan else value
        if current is None:
            summary[point.key] = SeriesState(value, is_nan, point.step, point.timestamp, low, high)
            continue
        newer = (point.step, point.timestamp, value) >= (
            current.step,
            current.timestamp,
            current.value,
        )
        latest = (
            (value, is_nan, point.step, point.timestamp)
            if newer
            else (
                current.value,
                current.is_nan,
                current.step,
                current.timestamp,
            )
        )
        summary[point.key] = SeriesState(
            *latest,
            _least(current.min_value, low),
            _greatest(current.max_value, high),
        )
    return summary


def _least(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


async def upsert_series(
    session: AsyncSession, run_id: uuid.UUID, summary: Mapping[str, SeriesState]
) -> dict[str, int]:
    """Create or update one `latest_metric` row per key; returns each key's series id."""
    if not summary:
        return {}
    on_postgres = _is_postgres(session)
    insert = postgresql.insert if on_postgres else sqlite.insert
    rows = [
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
        for key, state in sorted(summary.items())  # a fixed order: no deadlocks between batches
    ]
    statement = insert(LatestMetric).values(rows)
    new = statement.excluded
    old = LatestMetric.__table__.c
    is_newer = tuple_(new.step, new.timestamp, new.value) >= tuple_(
        old.step, old.timestamp, old.value
    )
    # Two-argument min/max are LEAST/GREATEST on PostgreSQL and min/max on SQLite.
    least, greatest = (func.least, func.greatest) if on_postgres else (func.min, func.max)

    def pick(column: str) -> Any:
        return case((is_newer, new[column]), else_=old[column])

    statement = statement.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={
            "value": pick("value"),
            "is_nan": pick("is_nan"),
            "step": pick("step"),
            "timestamp": pick("timestamp"),
            # NULL (a series of NaN only) must not win: coalesce each side with the other.
            "min_value": least(
                func.coalesce(old.min_value, new.min_value),
                func.coalesce(new.min_value, old.min_value),
            ),
            "max_value": greatest(
                func.coalesce(old.max_value, new.max_value),
                func.coalesce(new.max_value, old.max_value),
            ),
        },
    ).returning(LatestMetric.id, LatestMetric.key)
    result = await session.execute(statement)
    return {key: series_id for series_id, key in result.all()}


_PG_INSERT_POINTS = text(
    "INSERT INTO metric (series_id, step, timestamp, value, is_nan) "
    "SELECT * FROM unnest(:series, :steps, :stamps, :vals, :nans) "
    "ON CONFLICT DO NOTHING"
).bindparams(
    bindparam("series", type_=ARRAY(BigInteger)),
    bindparam("steps", type_=ARRAY(BigInteger)),
    bindparam("stamps", type_=ARRAY(BigInteger)),
    bindparam("vals", type_=ARRAY(Float(53))),
    bindparam("nans", type_=ARRAY(Boolean)),
)


async def add_points(
    session: AsyncSession, series_ids: Mapping[str, int], points: Sequence[Point]
) -> None:
    """Insert the points; one already stored (same series, step, timestamp) is skipped."""
    if not points:
        return
    stored = [_stored(point.value) for point in points]
    if _is_postgres(session):
        await session.execute(
            _PG_INSERT_POINTS,
            {
                "series": [series_ids[point.key] for point in points],
                "steps": [point.step for point in points],
                "stamps": [point.timestamp for point in points],
                "vals": [value for value, _ in stored],
                "nans": [is_nan for _, is_nan in stored],
            },
        )
        return
    await session.execute(
        sqlite.insert(Metric).on_conflict_do_nothing(),
        [
            {
                "series_id": series_ids[point.key],
                "step": point.step,
                "timestamp": point.timestamp,
                "value": value,
                "is_nan": is_nan,
            }
            for point, (value, is_nan) in zip(points, stored, strict=True)
        ],
    )


async def add_params(
    session: AsyncSession, run_id: uuid.UUID, params: Mapping[str, str]
) -> dict[str, str]:
    """Insert params that are not set yet; returns the stored value of every given key, so
    the caller can tell a changed value from a repeated one."""
    if not params:
        return {}
    insert = postgresql.insert if _is_postgres(session) else sqlite.insert
    rows = [{"run_id": run_id, "key": k, "value": v} for k, v in sorted(params.items())]
    await session.execute(insert(Param).values(rows).on_conflict_do_nothing())
    query = select(Param.key, Param.value).where(
        Param.run_id == run_id, Param.key.in_(list(params))
    )
    return {key: value for key, value in (await session.execute(query)).all()}


async def set_tags(session: AsyncSession, run_id: uuid.UUID, tags: Mapping[str, str]) -> None:
    if not tags:
        return
    insert = postgresql.insert if _is_postgres(session) else sqlite.insert
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
    metrics: dict[str, LatestMetric]


async def load_run_data(
    session: AsyncSession, run_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RunData]:
    """Params, tags and latest metrics of several runs, in three queries."""
    data = {run_id: RunData({}, {}, {}) for run_id in run_ids}
    if not run_ids:
        return data
    ids = list(run_ids)
    for param in (await session.execute(select(Param).where(Param.run_id.in_(ids)))).scalars():
        data[param.run_id].params[param.key] = param.value
    for tag in (await session.execute(select(RunTag).where(RunTag.run_id.in_(ids)))).scalars():
        data[tag.run_id].tags[tag.key] = tag.value
    latest = select(LatestMetric).where(LatestMetric.run_id.in_(ids))
    for metric in (await session.execute(latest)).scalars():
        data[metric.run_id].metrics[metric.key] = metric
    return data


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"
