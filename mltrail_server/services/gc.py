"""Garbage collection: soft-deleted runs and experiments purged for good once old enough,
by `mltrail gc` (POST /api/v1/admin/gc) or by a background task (GC_DELETED_AFTER_DAYS).

What goes: the experiments, then the runs, that are soft-deleted (`lifecycle = deleted`)
since before the threshold, or exactly those named (`run_ids`, `experiment_ids`: each must
exist and be deleted, and the threshold still applies). Each one is purged in a transaction
of its own that first locks its row and checks it is still deleted and old enough (a run
restored meanwhile, or purged by another collector, is left alone), deletes its rows
(cascades: db/repositories/gc.py) and queues its artifact folder on the artifact purge
queue (services/artifact_purge.py), so rows and queued files commit together or not at all.

What stays: a run or an experiment that a model version of the registry was registered
from (its run, or a logged model of the experiment). Purging it would leave the version
pointing at files that no longer exist; it is reported as kept, with the version that holds
it, until that version is deleted.

Metric detail (opt-in, per experiment): an experiment tagged `mltrail.metric_retention_days`
= N loses, at each pass without named ids, the raw points of its runs timestamped more than
N days ago, each series' latest point excepted; the rollups stay (per 256 steps: count,
min, max and last; per series: latest, min and max), so charts over long ranges and the
runs table are unchanged while a zoom into old steps shows only what was kept. One
transaction per experiment.

Only one collector at a time: on PostgreSQL each pass holds an advisory lock (`GC_LOCK_KEY`)
in a transaction of its own, on a connection of its own, for the whole pass; a pass that
finds it taken returns at once, collecting nothing (`ran` false in the report). On SQLite
the single writer serializes passes.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories import artifact_purges as purge_repo
from mltrail_server.db.repositories import gc as repo
from mltrail_server.db.tables import DELETED
from mltrail_server.db.types import utcnow
from mltrail_server.db.unit_of_work import after_commit, transaction
from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.services.artifact_paths import experiment_folder, run_artifact_prefix
from mltrail_server.services.cache import Cache
from mltrail_server.services.experiments import LIST, experiment_key

__all__ = [
    "GC_LOCK_KEY",
    "METRIC_RETENTION_TAG",
    "GarbageCollector",
    "GcItem",
    "GcReport",
    "GcScheduler",
    "PointsDropped",
]

logger = logging.getLogger(__name__)

# The PostgreSQL advisory lock of a collection pass (an arbitrary 64-bit key: "mltrailgc").
GC_LOCK_KEY = 0x6D6C747261696C67
# Candidates looked up per batch; a pass goes on until a batch finds none left to purge.
BATCH = 200
# The experiment tag that opts into dropping old raw metric points, in days.
METRIC_RETENTION_TAG = "mltrail.metric_retention_days"
# The oldest threshold accepted (the time it names must exist).
MAX_AGE = timedelta(days=1000 * 365)
# How many ids one request may name.
MAX_IDS = 1000


@dataclass(frozen=True)
class GcItem:
    kind: str  # "run" or "experiment"
    id: uuid.UUID
    experiment_id: uuid.UUID
    name: str
    deleted_at: datetime | None
    # Why it stays (a model version registered from it); None when it goes.
    kept_because: str | None = None


@dataclass
class GcReport:
    dry_run: bool
    older_than: timedelta
    # False when another collector held the lock: nothing was looked at.
    ran: bool = True
    purged: list[GcItem] = field(default_factory=list)
    kept: list[GcItem] = field(default_factory=list)
    metric_points: list["PointsDropped"] = field(default_factory=list)


@dataclass(frozen=True)
class PointsDropped:
    experiment_id: uuid.UUID
    retention_days: float
    points: int  # dropped (with dry_run: would be)


def _check_ids(label: str, ids: Collection[uuid.UUID] | None) -> None:
    if ids is not None and len(ids) > MAX_IDS:
        raise InvalidInput(f"{label}: at most {MAX_IDS} ids at once, got {len(ids)}")


class GarbageCollector:
    """Purges with transactions of its own (not a request's): one per run or experiment."""

    def __init__(
        self,
        database: Callable[[], Awaitable[Database]],
        wake_purges: Callable[[], Awaitable[None]],
        cache: Callable[[], Awaitable[Cache]] | None = None,
    ) -> None:
        self._database = database
        self._wake_purges = wake_purges
        self._cache = cache
        # Set by the scheduler's stop: the pass ends after the unit under way.
        self.stopping = False

    async def backlog(self, older_than: timedelta) -> tuple[int, int]:
        """The runs and the experiments a pass purging what is deleted since before
        `older_than` ago would look at (kept ones included): for /metrics."""
        database = await self._database()
        async with database.read_session() as session:
            return await repo.count_deleted(session, utcnow() - older_than)

    async def collect(
        self,
        *,
        older_than: timedelta = timedelta(0),
        run_ids: Collection[uuid.UUID] | None = None,
        experiment_ids: Collection[uuid.UUID] | None = None,
        dry_run: bool = False,
    ) -> GcReport:
        """Purge (or with `dry_run` only list) what is deleted since before `older_than`
        ago. With `run_ids` and/or `experiment_ids`, only those (the others kind then
        untouched unless named too)."""
        if not timedelta(0) <= older_than <= MAX_AGE:
            raise InvalidInput("older_than: must be between 0 and 1000 years")
        _check_ids("run_ids", run_ids)
        _check_ids("experiment_ids", experiment_ids)
        named = run_ids is not None or experiment_ids is not None
        if named:
            run_ids = list(dict.fromkeys(run_ids or ()))
            experiment_ids = list(dict.fromkeys(experiment_ids or ()))
        database = await self._database()
        await self._check_named(database, run_ids, experiment_ids)
        report = GcReport(dry_run=dry_run, older_than=older_than)
        before = utcnow() - older_than
        async with database.engine.connect() as lock_connection:
            if not await repo.try_advisory_lock(lock_connection, GC_LOCK_KEY):
                report.ran = False
                return report
            try:
                await self._experiments(database, report, before, experiment_ids)
                await self._runs(database, report, before, run_ids)
                if not named:
                    await self._metric_retention(database, report)
            finally:
                await repo.advisory_unlock(lock_connection, GC_LOCK_KEY)
        if report.purged and not dry_run:
            await self._wake_purges()
        return report

    async def _check_named(
        self,
        database: Database,
        run_ids: Collection[uuid.UUID] | None,
        experiment_ids: Collection[uuid.UUID] | None,
    ) -> None:
        """Each named run and experiment exists and is deleted (else a clear error)."""
        async with database.read_session() as session:
            if run_ids:
                found = await repo.lifecycles_of_runs(session, run_ids)
                for run_id in run_ids:
                    if run_id not in found:
                        raise NotFound(f"run_ids: no run {run_id}")
                    if found[run_id] != DELETED:
                        raise InvalidInput(f"run_ids: run {run_id} is not deleted; delete it first")
            if experiment_ids:
                found = await repo.lifecycles_of_experiments(session, experiment_ids)
                for experiment_id in experiment_ids:
                    if experiment_id not in found:
                        raise NotFound(f"experiment_ids: no experiment {experiment_id}")
                    if found[experiment_id] != DELETED:
                        raise InvalidInput(
                            f"experiment_ids: experiment {experiment_id} is not deleted; "
                            "delete it first"
                        )

    async def _experiments(
        self,
        database: Database,
        report: GcReport,
        before: datetime,
        ids: Collection[uuid.UUID] | None,
    ) -> None:
        async def purge(row: repo.Candidate) -> bool:
            return await self._purge_experiment(database, row.id, before)

        await self._sweep(
            database,
            report,
            "experiment",
            lambda session, limit, after: repo.deleted_experiments(
                session, before, ids, limit, after
            ),
            repo.experiments_referenced_by_versions,
            purge,
            ids,
        )

    async def _runs(
        self,
        database: Database,
        report: GcReport,
        before: datetime,
        ids: Collection[uuid.UUID] | None,
    ) -> None:
        gone = {item.id for item in report.purged}  # experiments purged (or to be)

        async def purge(row: repo.Candidate) -> bool:
            return await self._purge_run(database, row, before)

        await self._sweep(
            database,
            report,
            "run",
            lambda session, limit, after: repo.deleted_runs(session, before, ids, limit, after),
            repo.runs_referenced_by_versions,
            purge,
            ids,
            # A run of an experiment this pass purges (or, dry, would) goes with it.
            skip=lambda row: row.experiment_id in gone,
        )

    async def _sweep(
        self,
        database: Database,
        report: GcReport,
        kind: str,
        candidates: Callable[
            [AsyncSession, int, uuid.UUID | None], Awaitable[list[repo.Candidate]]
        ],
        referenced: Callable[[AsyncSession, list[uuid.UUID]], Awaitable[dict[uuid.UUID, str]]],
        purge: Callable[[repo.Candidate], Awaitable[bool]],
        ids: Collection[uuid.UUID] | None,
        skip: Callable[[repo.Candidate], bool] = lambda row: False,
    ) -> None:
        """One pass over the candidates of one kind, BATCH at a time in id order: each is
        kept (a model version refers to it), skipped, or purged in its own transaction."""
        if ids is not None and not ids:
            return
        after: uuid.UUID | None = None
        while True:
            async with database.read_session() as session:
                found = await candidates(session, BATCH, after)
                held = await referenced(session, [row.id for row in found])
            if not found:
                return
            for row in found:
                if self.stopping:
                    return
                if skip(row):
                    continue
                reason = held.get(row.id)
                if reason is not None:
                    report.kept.append(_item(kind, row, f"model version {reason}"))
                elif report.dry_run or await purge(row):
                    report.purged.append(_item(kind, row))
            after = found[-1].id

    async def _metric_retention(self, database: Database, report: GcReport) -> None:
        async with database.read_session() as session:
            tagged = await repo.experiments_tagged(session, METRIC_RETENTION_TAG)
        now_ms = int(utcnow().timestamp() * 1000)
        for experiment_id, value in tagged:
            if self.stopping:
                return
            days = _retention_days(value)
            if days is None:
                logger.warning(
                    "experiment %s: tag %s=%r is not a positive number of days; ignored",
                    experiment_id,
                    METRIC_RETENTION_TAG,
                    value,
                )
                continue
            cutoff = now_ms - int(days * 86_400_000)
            async with transaction(database.session()) as session:
                points = await repo.drop_old_points(
                    session, experiment_id, cutoff, dry_run=report.dry_run
                )
            if points:
                report.metric_points.append(PointsDropped(experiment_id, days, points))

    async def _purge_experiment(
        self, database: Database, experiment_id: uuid.UUID, before: datetime
    ) -> bool:
        async with transaction(database.session()) as session:
            if not await repo.lock_deleted_experiment(session, experiment_id, before):
                return False
            # Checked again under the lock: a version registered since the listing keeps it.
            if await repo.experiments_referenced_by_versions(session, [experiment_id]):
                return False
            await repo.delete_experiment(session, experiment_id)
            await purge_repo.queue(session, experiment_folder(experiment_id), utcnow())
            self._invalidate(session, experiment_id)
        return True

    async def _purge_run(self, database: Database, row: repo.Candidate, before: datetime) -> bool:
        async with transaction(database.session()) as session:
            if not await repo.lock_deleted_run(session, row.id, before):
                return False
            if await repo.runs_referenced_by_versions(session, [row.id]):
                return False
            await repo.delete_run(session, row.id)
            prefix = run_artifact_prefix(row.experiment_id, row.id)
            await purge_repo.queue(session, prefix, utcnow())
            self._invalidate(session, row.experiment_id)
        return True

    def _invalidate(self, session: AsyncSession, experiment_id: uuid.UUID) -> None:
        if self._cache is None:
            return
        cache_of = self._cache

        async def bump() -> None:
            cache = await cache_of()
            await cache.bump(LIST, experiment_key(experiment_id))

        after_commit(session, bump)


def _retention_days(value: str) -> float | None:
    try:
        days = float(value)
    except ValueError:
        return None
    return days if days > 0 and days < 1e6 else None


def _item(kind: str, row: repo.Candidate, kept_because: str | None = None) -> GcItem:
    return GcItem(kind, row.id, row.experiment_id, row.name, row.deleted_at, kept_because)


class GcScheduler:
    """The background task: a collection pass every `interval` seconds, purging what has
    been deleted for longer than `older_than` (GC_DELETED_AFTER_DAYS). Several workers or
    hosts may each run one: the advisory lock lets one pass at a time collect."""

    def __init__(self, collector: GarbageCollector, older_than: timedelta, interval: float) -> None:
        self.collector = collector
        self.older_than = older_than
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        # Passes completed (collecting or finding the lock taken): for operators and tests.
        self.passes = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._stop = asyncio.Event()
            self.collector.stopping = False
            self._task = loop.create_task(self._run(), name="garbage-collector")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if task.get_loop() is asyncio.get_running_loop():
            # The pass under way finishes its current unit: a transaction is never cut.
            self._stop.set()
            self.collector.stopping = True
            await asyncio.wait({task}, timeout=30.0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = await self.collector.collect(older_than=self.older_than)
                if report.purged or report.kept:
                    logger.info(
                        "garbage collection purged %d and kept %d (a model version refers to them)",
                        len(report.purged),
                        len(report.kept),
                    )
            except Exception as exc:  # the database failing: the next pass tries again
                logger.warning(
                    "garbage collection failed (%s); next pass in %.0fs", exc, self.interval
                )
            self.passes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
