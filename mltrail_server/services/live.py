"""Live updates of runs, for the web UI's Server-Sent Events.

While at least one client watches a run or an experiment, one task per watched thing reads
its state every `interval` seconds: the live runs (id, name, status, end) and the latest point,
min and max of their series (of the running runs only, for an experiment). These are a few
rows read through indexes, and however many browsers watch the same run, it is one read per
interval. Each client keeps the last state it was sent and gets only what changed since; a
slow client skips intermediate states instead of queueing them.

The database is the only source of truth, so this is correct with several workers and
whatever wrote the points (v1 API, MLflow API, SDK); Redis pub/sub could replace the polling
later without changing the events.

A stream ends after `STREAM_LIFETIME_SECONDS`; browsers reconnect at once and get the whole
state again, so nothing is lost. This bounds how long a server's graceful shutdown waits for
open streams (uvicorn waits for every response to finish), lets a load balancer spread
long-lived clients, and re-checks the caller's credentials on every reconnect.
"""

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from mltrail_server.db.repositories import live as repo
from mltrail_server.errors import NotFound
from mltrail_server.models.live import LiveMetric, LiveRun, LiveState, MetricsChanged, RunsChanged
from mltrail_server.models.run import RunStatus
from mltrail_server.runtime import Runtime

__all__ = ["LiveEvent", "LiveHub", "Snapshot", "Topic", "TopicKind", "changes"]

logger = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 0.5
KEEPALIVE_SECONDS = 10.0
STREAM_LIFETIME_SECONDS = 20.0


class TopicKind(StrEnum):
    RUN = "run"
    EXPERIMENT = "experiment"


class Topic(NamedTuple):
    kind: TopicKind
    id: uuid.UUID


def _live_metric(series: repo.SeriesState) -> LiveMetric:
    return LiveMetric(
        run_id=series.run_id,
        key=series.key,
        value=math.nan if series.is_nan else series.value,
        step=series.step,
        timestamp=series.timestamp,
        min=series.min,
        max=series.max,
    )


@dataclass(frozen=True)
class Snapshot:
    """What a topic looks like at one moment; equal snapshots mean nothing changed."""

    runs: dict[uuid.UUID, repo.RunState]
    metrics: dict[tuple[uuid.UUID, str], repo.SeriesState]


class LiveEvent(NamedTuple):
    """One Server-Sent Event: its type (`state`, `runs`, `metrics`, `gone`) and payload."""

    event: str
    data: BaseModel | None


def _live_run(state: repo.RunState) -> LiveRun:
    return LiveRun(
        id=state.id, name=state.name, status=RunStatus(state.status), ended_at=state.ended_at
    )


def changes(before: Snapshot | None, after: Snapshot | None) -> list[LiveEvent]:
    """The events that take a client from `before` (None: it has seen nothing) to `after`
    (None: the run or experiment is gone)."""
    if after is None:
        return [LiveEvent("gone", None)]
    if before is None:
        state = LiveState(
            runs=[_live_run(run) for run in after.runs.values()],
            metrics=[_live_metric(series) for series in after.metrics.values()],
        )
        return [LiveEvent("state", state)]
    events = []
    changed = [_live_run(run) for key, run in after.runs.items() if before.runs.get(key) != run]
    removed = [key for key in before.runs if key not in after.runs]
    if changed or removed:
        events.append(LiveEvent("runs", RunsChanged(changed=changed, removed=removed)))
    # A series that stopped being watched (its run finished) is not "removed": it just
    # stops moving.
    metrics = [
        _live_metric(series)
        for key, series in after.metrics.items()
        if before.metrics.get(key) != series
    ]
    if metrics:
        events.append(LiveEvent("metrics", MetricsChanged(metrics=metrics)))
    return events


@dataclass(eq=False)
class _Watched:
    """A topic's latest snapshot; `updated` is set (and replaced) on every new version."""

    snapshot: Snapshot | None
    version: int = 1
    watchers: int = 0
    updated: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: "asyncio.Task[None] | None" = None


def _discard_result(task: "asyncio.Task[Snapshot | None]") -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not report it as never retrieved


class LiveHub:
    """The process's watched topics."""

    def __init__(self, runtime: Runtime, interval: float = POLL_INTERVAL_SECONDS) -> None:
        self.runtime = runtime
        self.interval = interval
        self._watched: dict[Topic, _Watched] = {}

    @property
    def watched(self) -> int:
        """How many topics are being polled now (0 when no client watches anything)."""
        return len(self._watched)

    @property
    def followers(self) -> int:
        """How many streams (SSE clients) follow a topic now."""
        return sum(watched.watchers for watched in self._watched.values())

    async def check(self, topic: Topic) -> None:
        """NotFound unless the run (or experiment) is live: called before a stream starts."""
        if await self._load_whole(topic) is None:
            noun = "Run" if topic.kind is TopicKind.RUN else "Experiment"
            raise NotFound(f"{noun} {topic.id} not found")

    async def follow(
        self,
        topic: Topic,
        *,
        keepalive: float = KEEPALIVE_SECONDS,
        lifetime: float = STREAM_LIFETIME_SECONDS,
    ) -> AsyncIterator[LiveEvent | None]:
        """The topic's events, starting with its whole `state`, until it is gone, `lifetime`
        seconds have passed, or the caller stops iterating. None means nothing happened for
        `keepalive` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lifetime
        watched = await self._join(topic)
        try:
            sent: Snapshot | None = None
            version = 0
            while True:
                updated = watched.updated
                if watched.version != version:
                    # Taken before yielding: the poller may move on while the client reads.
                    version, snapshot = watched.version, watched.snapshot
                    for event in changes(sent, snapshot):
                        yield event
                    if snapshot is None:
                        return
                    sent = snapshot
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                try:
                    await asyncio.wait_for(updated.wait(), min(keepalive, remaining))
                except TimeoutError:
                    if loop.time() < deadline:
                        yield None
        finally:
            self._leave(topic, watched)

    async def _join(self, topic: Topic) -> _Watched:
        watched = self._watched.get(topic)
        if watched is None:
            watched = _Watched(await self._load_whole(topic))
            # Another client may have started watching during the load.
            watched = self._watched.setdefault(topic, watched)
            if watched.task is None:
                watched.task = asyncio.create_task(self._poll(topic, watched))
        watched.watchers += 1
        return watched

    def _leave(self, topic: Topic, watched: _Watched) -> None:
        watched.watchers -= 1
        if watched.watchers == 0:
            # Not task.cancel(): the poller stops between reads, never inside one.
            watched.stop.set()
            if self._watched.get(topic) is watched:
                del self._watched[topic]

    async def _poll(self, topic: Topic, watched: _Watched) -> None:
        failing = False
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watched.stop.wait(), self.interval)
            if watched.stop.is_set():
                return
            try:
                snapshot = await self._load(topic)
            except (SQLAlchemyError, OSError) as exc:
                if not failing:
                    logger.warning("live updates of %s %s paused: %s", *topic, exc)
                failing = True
                continue
            failing = False
            if snapshot != watched.snapshot:
                watched.snapshot = snapshot
                watched.version += 1
                updated, watched.updated = watched.updated, asyncio.Event()
                updated.set()

    async def _load_whole(self, topic: Topic) -> Snapshot | None:
        """`_load`, run to its end even when the caller is cancelled (a client that goes
        away): a database read cancelled halfway can leave its connection, and on SQLite
        the write lock its transaction took, to the garbage collector."""
        load = asyncio.ensure_future(self._load(topic))
        try:
            return await asyncio.shield(load)
        except asyncio.CancelledError:
            load.add_done_callback(_discard_result)
            raise

    async def _load(self, topic: Topic) -> Snapshot | None:
        database, _ = await self.runtime.resources()
        async with database.read_session() as session:
            if topic.kind is TopicKind.RUN:
                run = await repo.run_state(session, topic.id)
                runs = None if run is None else [run]
                watched_ids = [topic.id]
            else:
                runs = await repo.experiment_run_states(session, topic.id)
                watched_ids = [run.id for run in runs or () if run.status == RunStatus.RUNNING]
            if runs is None:
                return None
            series = await repo.latest_metrics(session, watched_ids)
        return Snapshot(
            runs={run.id: run for run in runs},
            metrics={(item.run_id, item.key): item for item in series},
        )
