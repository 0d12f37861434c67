"""SQL for grants: a user's write access to an experiment or a registered model they do not own.

Both kinds are the same table shape (subject id, user id, created at), so one repository serves
both, told which table and subject column it works on.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from mltrail_server.db.tables import Base, ExperimentGrant, RegisteredModelGrant, User

GrantT = TypeVar("GrantT", bound=Base)


@dataclass(frozen=True)
class Grants(Generic[GrantT]):
    """The grants held in one table, keyed by (subject, user)."""

    table: type[GrantT]
    subject: InstrumentedAttribute[uuid.UUID]
    user: InstrumentedAttribute[uuid.UUID]
    created_at: InstrumentedAttribute[datetime]

    async def exists(
        self, session: AsyncSession, subject_id: uuid.UUID, user_id: uuid.UUID
    ) -> bool:
        query = select(self.user).where(self.subject == subject_id, self.user == user_id)
        return (await session.execute(query)).first() is not None

    async def add(self, session: AsyncSession, subject_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Grant once: adding a grant the user already holds changes nothing."""
        if not await self.exists(session, subject_id, user_id):
            session.add(self.table(**{self.subject.key: subject_id, self.user.key: user_id}))
            await session.flush()

    async def list(
        self, session: AsyncSession, subject_id: uuid.UUID
    ) -> Sequence[tuple[GrantT, User]]:
        """The subject's grants with their users, oldest first."""
        query = (
            select(self.table, User)
            .join(User, User.id == self.user)
            .where(self.subject == subject_id)
            .order_by(self.created_at, User.name)
        )
        return [(row[0], row[1]) for row in (await session.execute(query)).all()]

    async def delete(
        self, session: AsyncSession, subject_id: uuid.UUID, user_id: uuid.UUID
    ) -> bool:
        """Whether there was such a grant to delete."""
        result = await session.execute(
            delete(self.table).where(self.subject == subject_id, self.user == user_id)
        )
        return bool(getattr(result, "rowcount", 0))


experiment_grants = Grants(
    ExperimentGrant,
    ExperimentGrant.experiment_id,
    ExperimentGrant.user_id,
    ExperimentGrant.created_at,
)
model_grants = Grants(
    RegisteredModelGrant,
    RegisteredModelGrant.model_id,
    RegisteredModelGrant.user_id,
    RegisteredModelGrant.created_at,
)
