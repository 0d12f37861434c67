"""Run rules: runs live in a live experiment, status changes set the end time, nested runs
stay inside their experiment, and every write invalidates the experiment's cached pages."""

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import experiments as experiments_repo
from mltrail_server.db.repositories import runs as repo
from mltrail_server.db.repositories import tracking as tracking_repo
from mltrail_server.db.tables import ACTIVE, DELETED
from mltrail_server.db.tables import Run as RunRow
from mltrail_server.db.types import utcnow
from mltrail_server.db.unit_of_work import after_commit
from mltrail_server.errors import Conflict, InvalidInput, NotFound
from mltrail_server.models.run import (
    NOTE_TAG,
    TERMINAL_STATUSES,
    Run,
    RunCreate,
    RunImport,
    RunPage,
    RunStatus,
    RunUpdate,
)
from mltrail_server.services.cache import Cache
from mltrail_server.services.experiments import LIST, experiment_key, not_found
from mltrail_server.services.run_records import load_records


async def render_runs(session: AsyncSession, rows: Sequence[RunRow]) -> list[Run]:
    """Runs as v1 renders them, with their params, tags and latest metrics."""
    return [record.to_v1() for record in await load_records(session, rows)]


def run_not_found(run_id: uuid.UUID) -> NotFound:
    return NotFound(f"Run {run_id} not found")


def generated_name() -> str:
    return f"run-{secrets.token_hex(4)}"


@dataclass
class RunService:
    session: AsyncSession
    cache: Cache

    async def create_run(self, experiment_id: uuid.UUID, data: RunCreate) -> Run:
        return await self._render(await self.add_run(experiment_id, data))

    async def add_run(self, experiment_id: uuid.UUID, data: RunCreate) -> RunRow:
        """`create_run` for a caller that renders the run its own way."""
        if await experiments_repo.get(self.session, experiment_id) is None:
            raise not_found(experiment_id)
        if data.parent_run_id is not None:
            parent = await repo.get(self.session, data.parent_run_id)
            if parent is None or parent.experiment_id != experiment_id:
                raise InvalidInput(
                    f"parent_run_id: run {data.parent_run_id} is not a live run of this experiment"
                )
        now = utcnow()
        row = RunRow(
            experiment_id=experiment_id,
            name=data.name or generated_name(),
            status=RunStatus.RUNNING.value,
            user=data.user,
            parent_run_id=data.parent_run_id,
            started_at=data.started_at or now,
            created_at=now,
            updated_at=now,
        )
        await repo.add(self.session, row)
        await tracking_repo.add_params(self.session, row.id, data.params)
        tags = dict(data.tags)
        if data.description is not None:
            tags[NOTE_TAG] = data.description
        await tracking_repo.set_tags(self.session, row.id, tags)
        self._invalidate(experiment_id)
        return row

    async def import_run(self, data: RunImport) -> tuple[Run, bool]:
        """Create the run `data.id` as given, or make an existing one match it (restoring it
        if it was deleted), so an interrupted import can be sent again. Returns the run and
        whether it was created. A run of that id in another experiment is a 409."""
        if await experiments_repo.get(self.session, data.experiment_id) is None:
            raise not_found(data.experiment_id)
        row = await repo.get_any(self.session, data.id)
        if row is not None and row.experiment_id != data.experiment_id:
            raise Conflict(
                f"Run {data.id} already exists in experiment {row.experiment_id}, "
                f"not in {data.experiment_id}"
            )
        parent_id = None
        if data.parent_run_id is not None:
            parent = await repo.get_any(self.session, data.parent_run_id)
            if parent is not None and parent.experiment_id == data.experiment_id:
                parent_id = parent.id
        now = utcnow()
        created = row is None
        if row is None:
            row = RunRow(id=data.id, experiment_id=data.experiment_id, created_at=now)
            self.session.add(row)
        row.name = data.name
        row.status = data.status.value
        row.user = data.user
        row.parent_run_id = parent_id
        row.started_at = data.started_at
        row.ended_at = data.ended_at
        row.lifecycle = ACTIVE
        row.deleted_at = None
        row.updated_at = now
        await self.session.flush()  # a new run's row first: its note tag refers to it
        await self._set_note(row, data.description)
        await self.session.flush()
        self._invalidate(data.experiment_id)
        return await self._render(row), created

    async def get_run(self, run_id: uuid.UUID) -> Run:
        row = await repo.get(self.session, run_id)
        if row is None:
            raise run_not_found(run_id)
        return await self._render(row)

    async def list_runs(self, experiment_id: uuid.UUID, *, page: int, per_page: int) -> RunPage:
        if await experiments_repo.get(self.session, experiment_id) is None:
            raise not_found(experiment_id)
        rows, total = await repo.list_page(
            self.session, experiment_id, offset=(page - 1) * per_page, limit=per_page
        )
        return RunPage.build(await render_runs(self.session, rows), total, page, per_page)

    async def update_run(self, run_id: uuid.UUID, data: RunUpdate) -> Run:
        return await self._render(await self.change_run(run_id, data))

    async def change_run(self, run_id: uuid.UUID, data: RunUpdate) -> RunRow:
        """`update_run` for a caller that renders the run its own way, or not at all."""
        row = await repo.get(self.session, run_id, for_update=True)
        if row is None:
            raise run_not_found(run_id)
        changes = data.model_dump(exclude_unset=True)
        status = changes.pop("status", None)
        ended_at = changes.pop("ended_at", None)
        if "description" in changes:
            await self._set_note(row, changes.pop("description"))
        for field, value in changes.items():
            setattr(row, field, value)
        if status is not None:
            row.status = status.value
            if status in TERMINAL_STATUSES:
                row.ended_at = ended_at or row.ended_at or utcnow()
            else:
                row.ended_at = None
        elif ended_at is not None:
            row.ended_at = ended_at
        if row.ended_at is not None and row.ended_at < row.started_at:
            raise InvalidInput("ended_at: must not be before the run's started_at")
        row.updated_at = utcnow()
        await self.session.flush()
        self._invalidate(row.experiment_id)
        return row

    async def _set_note(self, row: RunRow, text: str | None) -> None:
        """A run's description is its MLflow note tag (what the mlflow client reads), stored
        as sent; null removes the tag. A note left in the old column moves to the tag."""
        row.description = None
        if text is not None:
            await tracking_repo.set_tags(self.session, row.id, {NOTE_TAG: text})
        else:
            await tracking_repo.delete_tag(self.session, row.id, NOTE_TAG)

    async def delete_run(self, run_id: uuid.UUID, *, purge: bool) -> None:
        """Soft delete (restorable), or with `purge` remove the run and all it logged."""
        row = await repo.get(self.session, run_id, include_deleted=purge, for_update=True)
        if row is None:
            raise run_not_found(run_id)
        if purge:
            await self.session.delete(row)
        else:
            row.lifecycle = DELETED
            row.deleted_at = row.updated_at = utcnow()
        await self.session.flush()
        self._invalidate(row.experiment_id)

    async def restore_run(self, run_id: uuid.UUID) -> Run:
        row = await repo.get(self.session, run_id, include_deleted=True, for_update=True)
        if row is None:
            raise run_not_found(run_id)
        row.lifecycle = ACTIVE
        row.deleted_at = None
        row.updated_at = utcnow()
        await self.session.flush()
        self._invalidate(row.experiment_id)
        return await self._render(row)

    async def _render(self, row: RunRow) -> Run:
        return (await render_runs(self.session, [row]))[0]

    def _invalidate(self, experiment_id: uuid.UUID) -> None:
        # A run changes its experiment's page (its runs) and the list (run_count).
        after_commit(self.session, lambda: self.cache.bump(LIST, experiment_key(experiment_id)))
