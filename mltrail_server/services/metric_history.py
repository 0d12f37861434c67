"""Reading metric series back: the rules of paging and downsampling.

- A page cursor is opaque to clients: the one page-token codec's keyset cursor
  (`search.page_token`) of the `[step, timestamp]` of the page's last point. Anything else is
  a 422 naming `cursor`.
- A missing or deleted run is a 404 for one run, and simply absent when comparing runs; a key
  the run never logged reads as an empty series (as in MLflow).
- A downsample splits the steps that hold points (within the asked range) into at most
  `points` buckets of equal integer width. When comparing runs, the buckets are the same for
  every run, so the points of different runs line up on a chart. A series with no more than
  `points` points in the range is returned as it is (`sampled` false).
- Buckets that would be half a block (128 steps) wide or wider are made of whole blocks of
  256 steps (`block = step >> 8`): their width is rounded up to a multiple of 256 (at most
  about doubled, as rounding 1,025 up to 2,048 would) and the first one starts at the block
  holding the first step, so there are still at most `points` of them. They are read from
  the block rollups (`metric_block`), not from every point; min, max, count and the last
  point are exactly what a scan of the points would give. Narrower buckets are read from
  the points (at most 128 x `points` of them).
"""

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import metric_history as repo
from mltrail_server.db.tables import BLOCK_SHIFT, BLOCK_STEPS
from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.models.metric_history import (
    DownsampledHistory,
    DownsampleQuery,
    HistoryPoint,
    HistoryQuery,
    MetricHistory,
    RunHistory,
    RunsHistory,
    RunsHistoryRequest,
    SampledPoint,
    StepRange,
)
from mltrail_server.search import decode_cursor, encode_cursor


def decode_history_cursor(cursor: str) -> tuple[int, int]:
    """The (step, timestamp) a cursor holds; InvalidInput naming `cursor` if it holds none."""
    after = decode_cursor(cursor, 2)
    if after is None:
        raise InvalidInput(
            "cursor: not a cursor this server gave out; pass the `next_cursor` of the previous "
            "page, or leave it out for the first page"
        )
    return after[0], after[1]


def check_range(steps: StepRange) -> None:
    if (
        steps.start_step is not None
        and steps.end_step is not None
        and steps.start_step > steps.end_step
    ):
        raise InvalidInput(
            f"start_step ({steps.start_step}) must not be greater than end_step ({steps.end_step})"
        )


def raw_point(point: repo.StoredPoint) -> SampledPoint:
    bound = None if math.isnan(point.value) else point.value
    return SampledPoint(
        step=point.step, timestamp=point.timestamp, value=point.value, min=bound, max=bound
    )


def sampled_point(bucket: repo.Bucket) -> SampledPoint:
    last = bucket.last
    return SampledPoint(
        step=last.step, timestamp=last.timestamp, value=last.value, min=bucket.low, max=bucket.high
    )


@dataclass
class MetricHistoryService:
    session: AsyncSession

    async def history(
        self, run_id: uuid.UUID, query: HistoryQuery, *, include_deleted: bool = False
    ) -> MetricHistory:
        """A page of a live run's series (with `include_deleted`, of a deleted run's too)."""
        check_range(query)
        after = None if query.cursor is None else decode_history_cursor(query.cursor)
        series_id = await self._series_of(run_id, query.key, include_deleted=include_deleted)
        if series_id is None:
            return MetricHistory(key=query.key, points=[], next_cursor=None)
        # One more than asked: whether it comes back tells if there is a next page.
        points = await repo.read_page(
            self.session,
            series_id,
            after=after,
            first_step=query.start_step,
            last_step=query.end_step,
            limit=query.limit + 1,
        )
        page = points[: query.limit]
        more = len(points) > query.limit
        # Built without re-validating what the database gave back: a page is up to 25,000
        # points, and validating each one cost more than reading them.
        return MetricHistory.model_construct(
            key=query.key,
            points=[
                HistoryPoint(step=step, timestamp=stamp, value=value) for step, stamp, value in page
            ],
            next_cursor=encode_cursor(*page[-1][:2]) if more else None,
        )

    async def history_json(self, run_id: uuid.UUID, query: HistoryQuery) -> bytes:
        """`history`, as the JSON of its `MetricHistory`: the points written by the database
        (repo.read_page_json), so a page of 25,000 builds no object per point."""
        check_range(query)
        after = None if query.cursor is None else decode_history_cursor(query.cursor)
        series_id = await self._series_of(run_id, query.key)
        page = repo.JsonPage("", 0, False, None)
        if series_id is not None:
            page = await self.page_json(series_id, query, after=after, shape="v1")
        cursor = encode_cursor(*page.last) if page.more and page.last is not None else None
        return b"".join(
            (
                b'{"key":',
                orjson.dumps(query.key),
                b',"points":[',
                page.text.encode(),
                b'],"next_cursor":',
                orjson.dumps(cursor),
                b"}",
            )
        )

    async def series_of(
        self, run_id: uuid.UUID, key: str, *, include_deleted: bool = False
    ) -> int | None:
        """The id of the run's `key` series (None: never logged); NotFound for a missing run,
        or a deleted one unless `include_deleted`."""
        return await self._series_of(run_id, key, include_deleted=include_deleted)

    async def page_json(
        self,
        series_id: int,
        query: HistoryQuery,
        *,
        after: tuple[int, int] | None,
        shape: str,
    ) -> repo.JsonPage:
        """A page of a series as JSON text, in the `shape` of a wire (repo.read_page_json)."""
        return await repo.read_page_json(
            self.session,
            series_id,
            after=after,
            first_step=query.start_step,
            last_step=query.end_step,
            limit=query.limit,
            shape=shape,
            key=query.key,
        )

    async def downsampled(self, run_id: uuid.UUID, query: DownsampleQuery) -> DownsampledHistory:
        check_range(query)
        series_id = await self._series_of(run_id, query.key)
        if series_id is None:
            return empty_history(query.key)
        sampled = await self._downsample([series_id], query)
        return sampled.get(series_id, empty_history(query.key))

    async def compare(self, request: RunsHistoryRequest) -> RunsHistory:
        check_range(request)
        run_ids = list(dict.fromkeys(request.run_ids))
        live = await repo.live_series(self.session, run_ids, request.key)
        sampled = await self._downsample(
            [series_id for series_id in live.values() if series_id is not None], request
        )
        series = []
        for run_id in run_ids:
            if run_id not in live:
                continue
            series_id = live[run_id]
            history = None if series_id is None else sampled.get(series_id)
            series.append(RunHistory(run_id=run_id, **dict(history or empty_history(request.key))))
        return RunsHistory(series=series)

    async def _series_of(
        self, run_id: uuid.UUID, key: str, *, include_deleted: bool = False
    ) -> int | None:
        live = await repo.live_series(self.session, [run_id], key, include_deleted=include_deleted)
        if run_id not in live:
            raise NotFound(f"Run {run_id} not found")
        return live[run_id]

    async def _downsample(
        self, series_ids: Sequence[int], query: DownsampleQuery
    ) -> dict[int, DownsampledHistory]:
        """Each series with a point in the range: as it is if it has no more than
        `query.points` points there, else downsampled over one shared grid of buckets."""
        extents = await repo.step_extents(
            self.session,
            series_ids,
            first_step=query.start_step,
            last_step=query.end_step,
            cap=query.points,
        )
        few = [series_id for series_id, extent in extents.items() if not extent.over_cap]
        many = {series_id: extent for series_id, extent in extents.items() if extent.over_cap}
        raw = await repo.read_points(
            self.session, few, first_step=query.start_step, last_step=query.end_step
        )
        histories = {
            series_id: DownsampledHistory(
                key=query.key,
                points=[raw_point(point) for point in points],
                sampled=False,
                total=len(points),
            )
            for series_id, points in raw.items()
        }
        if not many:
            return histories
        origin = min(extent.first_step for extent in many.values())
        end = max(extent.last_step for extent in many.values())
        width = -(-(end - origin + 1) // query.points)  # rounded up: at most `points` buckets
        if width >= BLOCK_STEPS // 2:
            # Buckets of whole blocks, from the block rollups: a whole number of blocks
            # each, from the block that holds `origin`, still at most `points` of them.
            first_block, last_block = origin >> BLOCK_SHIFT, end >> BLOCK_SHIFT
            sampled = await repo.downsample_blocks(
                self.session,
                list(many),
                first_step=query.start_step,
                last_step=query.end_step,
                origin_block=first_block,
                blocks_per_bucket=-(-(last_block - first_block + 1) // query.points),
            )
        else:
            sampled = await repo.downsample(self.session, many, origin=origin, width=width)
        buckets: dict[int, list[repo.Bucket]] = {series_id: [] for series_id in many}
        for bucket in sampled:
            buckets[bucket.series_id].append(bucket)
        for series_id, found in buckets.items():
            histories[series_id] = DownsampledHistory(
                key=query.key,
                points=[sampled_point(bucket) for bucket in found],
                sampled=True,
                total=sum(bucket.count for bucket in found),
            )
        return histories


def empty_history(key: str) -> DownsampledHistory:
    return DownsampledHistory(key=key, points=[], sampled=False, total=0)
