"""Experiment rules: unique live names, PATCH semantics, soft delete, restore and purge,
and the cached reads."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import auth as auth_repo
from mltrail_server.db.repositories import experiments as repo
from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.db.tables import ACTIVE, DELETED
from mltrail_server.db.tables import Experiment as ExperimentRow
from mltrail_server.db.types import utcnow
from mltrail_server.db.unit_of_work import after_commit
from mltrail_server.errors import Conflict, InvalidInput, NotFound
from mltrail_server.models.experiment import (
    Experiment,
    ExperimentCreate,
    ExperimentListItem,
    ExperimentPage,
    ExperimentStatus,
    ExperimentUpdate,
)
from mltrail_server.models.run import NOTE_TAG, RunSummary
from mltrail_server.services.auth import OPEN, Principal
from mltrail_server.services.cache import Cache, read_through

RECENT_RUNS = 100
LIST = "experiments"


def experiment_key(experiment_id: uuid.UUID) -> str:
    """The cache generation name of one experiment's page."""
    return f"experiment:{experiment_id}"


def not_found(experiment_id: uuid.UUID) -> NotFound:
    return NotFound(f"Experiment {experiment_id} not found")


def duplicate(name: str) -> Conflict:
    return Conflict(f"An experiment named '{name}' already exists")


@dataclass
class ExperimentService:
    session: AsyncSession
    cache: Cache
    cache_ttl: int

    async def list_experiments(
        self,
        *,
        name: str | None = None,
        owner: str | None,
        status: ExperimentStatus | None,
        page: int,
        per_page: int,
    ) -> ExperimentPage:
        async def load() -> ExperimentPage:
            rows, total = await repo.list_page(
                self.session,
                name=name,
                owner=owner,
                status=status.value if status else None,
                offset=(page - 1) * per_page,
                limit=per_page,
            )
            notes = await repo.load_tag_values(
                self.session, [row.Experiment.id for row in rows], NOTE_TAG
            )
            items = [
                ExperimentListItem.model_validate(
                    {**_columns(row.Experiment, notes), "run_count": row.run_count}
                )
                for row in rows
            ]
            return ExperimentPage.build(items, total, page, per_page)

        key = f"experiments:{name!r}:{owner!r}:{status}:{page}:{per_page}"
        return await read_through(self.cache, ExperimentPage, (LIST,), key, self.cache_ttl, load)

    async def get_experiment(self, experiment_id: uuid.UUID) -> Experiment:
        async def load() -> Experiment:
            row = await repo.get(self.session, experiment_id)
            if row is None:
                raise not_found(experiment_id)
            return await self._render(row)

        name = experiment_key(experiment_id)
        return await read_through(self.cache, Experiment, (name,), name, self.cache_ttl, load)

    async def create_experiment(
        self, data: ExperimentCreate, principal: Principal = OPEN
    ) -> Experiment:
        now = utcnow()
        row = ExperimentRow(
            name=data.name,
            created_at=now,
            updated_at=now,
            owner=await self._owner(data.owner, principal),
            status=ExperimentStatus.CREATED.value,
        )
        try:
            await repo.add(self.session, row)
        except IntegrityError:
            await self.session.rollback()
            raise duplicate(data.name) from None
        if data.description is not None:
            await repo.set_tags(self.session, row.id, {NOTE_TAG: data.description})
        self._invalidate()
        notes = {} if data.description is None else {row.id: data.description}
        return Experiment.model_validate({**_columns(row, notes), "run_count": 0, "runs": []})

    async def _owner(self, asked: str | None, principal: Principal) -> str:
        """Who owns a new experiment. With auth on, the caller: the key says who that is, not
        the body (a client's default is its machine's login name, no user of ours). An admin
        may name another user, who must exist. With auth off no key names anyone, so the body
        must."""
        if not principal.authenticated:
            if asked is None:
                raise InvalidInput(
                    "owner: required when the server runs without auth (no API key says who "
                    "the owner is)"
                )
            return asked
        if asked is None or asked == principal.name or not principal.is_admin:
            return principal.name
        if await auth_repo.get_user_by_name(self.session, asked) is None:
            raise InvalidInput(
                f"owner: there is no user named '{asked}'; name an existing user, or leave "
                "owner out to own the experiment yourself"
            )
        return asked

    async def update_experiment(
        self, experiment_id: uuid.UUID, data: ExperimentUpdate
    ) -> Experiment:
        row = await repo.get_for_update(self.session, experiment_id)
        if row is None:
            raise not_found(experiment_id)
        changes = data.model_dump(exclude_unset=True)
        if "description" in changes:
            await self._set_note(row, changes.pop("description"))
        for field, value in changes.items():
            setattr(row, field, value)
        row.updated_at = utcnow()
        try:
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            raise duplicate(data.name or "") from None
        self._invalidate(experiment_id)
        return await self._render(row)

    async def delete_experiment(self, experiment_id: uuid.UUID, *, purge: bool) -> None:
        """Soft delete (restorable), or with `purge` remove it and everything under it."""
        if purge:
            if not await repo.purge(self.session, experiment_id):
                raise not_found(experiment_id)
        else:
            row = await repo.get_for_update(self.session, experiment_id)
            if row is None:
                raise not_found(experiment_id)
            row.lifecycle = DELETED
            row.deleted_at = row.updated_at = utcnow()
            await self.session.flush()
        self._invalidate(experiment_id)

    async def restore_experiment(self, experiment_id: uuid.UUID) -> Experiment:
        row = await repo.get_for_update(self.session, experiment_id, include_deleted=True)
        if row is None:
            raise not_found(experiment_id)
        if row.lifecycle != ACTIVE:
            name = row.name
            row.lifecycle = ACTIVE
            row.deleted_at = None
            row.updated_at = utcnow()
            try:
                await self.session.flush()
            except IntegrityError:
                await self.session.rollback()
                raise Conflict(
                    f"Cannot restore: another live experiment is now named '{name}'; "
                    "rename it first"
                ) from None
        self._invalidate(experiment_id)
        return await self._render(row)

    async def _set_note(self, row: ExperimentRow, text: str | None) -> None:
        """An experiment's description is its MLflow note tag, as a run's is (one place, read
        by both APIs), stored as sent; null removes the tag. A note in the old column moves."""
        row.description = None
        if text is not None:
            await repo.set_tags(self.session, row.id, {NOTE_TAG: text})
        else:
            await repo.delete_tag(self.session, row.id, NOTE_TAG)

    def _invalidate(self, experiment_id: uuid.UUID | None = None) -> None:
        """After the commit: the list of experiments, and the experiment's own page."""
        names = (LIST,) if experiment_id is None else (LIST, experiment_key(experiment_id))
        after_commit(self.session, lambda: self.cache.bump(*names))

    async def _render(self, row: ExperimentRow) -> Experiment:
        runs, total = await runs_repo.list_page(self.session, row.id, offset=0, limit=RECENT_RUNS)
        notes = await repo.load_tag_values(self.session, [row.id], NOTE_TAG)
        return Experiment.model_validate(
            {
                **_columns(row, notes),
                "run_count": total,
                "runs": [RunSummary.model_validate(run) for run in runs],
            }
        )


def _columns(row: ExperimentRow, notes: Mapping[uuid.UUID, str]) -> dict[str, object]:
    """The row's columns, its description from its note tag (`notes`, by experiment id); the
    column is only read for notes written before the tag held them."""
    columns = {column.key: getattr(row, column.key) for column in ExperimentRow.__table__.columns}
    columns["description"] = notes.get(row.id, row.description)
    return columns
