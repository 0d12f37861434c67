"""SQL for users, API keys and the audit log (grants: `grants.py`)."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.tables import (
    ApiKey,
    AuditEvent,
    Experiment,
    ExperimentGrant,
    LoggedModel,
    RegisteredModel,
    RegisteredModelGrant,
    Run,
    User,
)


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count(User.id)))).scalar_one())


async def add_user(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_name(session: AsyncSession, name: str) -> User | None:
    return (await session.execute(select(User).where(User.name == name))).scalar_one_or_none()


async def list_users(session: AsyncSession) -> Sequence[User]:
    return (await session.execute(select(User).order_by(User.name))).scalars().all()


async def active_admin_ids(session: AsyncSession) -> list[uuid.UUID]:
    """The admins not disabled. On PostgreSQL their rows stay locked until the transaction
    ends, so two admins demoting each other at once cannot both pass a last-admin check
    (SQLite's `BEGIN IMMEDIATE` already runs writers one at a time)."""
    query = (
        select(User.id)
        .where(User.role == "admin", User.disabled_at.is_(None))
        .order_by(User.id)
        .with_for_update()
    )
    return list((await session.execute(query)).scalars().all())


async def update_user(
    session: AsyncSession, user: User, *, role: str, disabled_at: datetime | None
) -> User:
    user.role = role
    user.disabled_at = disabled_at
    await session.flush()
    return user


async def delete_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Delete a user with its keys and grants (explicitly: not every SQLite connection
    enforces foreign keys). Returns how many keys went with it."""
    keys = await session.execute(delete(ApiKey).where(ApiKey.user_id == user_id))
    await session.execute(delete(ExperimentGrant).where(ExperimentGrant.user_id == user_id))
    await session.execute(
        delete(RegisteredModelGrant).where(RegisteredModelGrant.user_id == user_id)
    )
    await session.execute(delete(User).where(User.id == user_id))
    return int(getattr(keys, "rowcount", 0) or 0)


async def transfer_experiments(
    session: AsyncSession, from_owner: str, to_owner: str
) -> list[uuid.UUID]:
    """Give every experiment and registered model `from_owner` owns to `to_owner`; returns
    the experiments' ids."""
    await session.execute(
        update(RegisteredModel).where(RegisteredModel.owner == from_owner).values(owner=to_owner)
    )
    query = (
        update(Experiment)
        .where(Experiment.owner == from_owner)
        .values(owner=to_owner)
        .returning(Experiment.id)
    )
    return list((await session.execute(query)).scalars().all())


async def add_key(session: AsyncSession, key: ApiKey) -> ApiKey:
    session.add(key)
    await session.flush()
    return key


async def principal_for_hash(session: AsyncSession, key_hash: str) -> tuple[User, ApiKey] | None:
    """The user owning a live key with this hash."""
    query = (
        select(User, ApiKey)
        .join(ApiKey, ApiKey.user_id == User.id)
        .where(ApiKey.hash == key_hash, ApiKey.revoked_at.is_(None))
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def list_keys(session: AsyncSession, user_id: uuid.UUID | None) -> Sequence[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at)
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    return (await session.execute(query)).scalars().all()


async def revoke_key(session: AsyncSession, key_id: uuid.UUID, at: datetime) -> ApiKey | None:
    key = await session.get(ApiKey, key_id)
    if key is None:
        return None
    if key.revoked_at is None:
        await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=at))
        key.revoked_at = at
    return key


async def experiment_owner(session: AsyncSession, experiment_id: uuid.UUID) -> str | None:
    query = select(Experiment.owner).where(Experiment.id == experiment_id)
    return (await session.execute(query)).scalar_one_or_none()


async def run_experiment(session: AsyncSession, run_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
    """The experiment of a run and that experiment's owner."""
    query = (
        select(Experiment.id, Experiment.owner)
        .join(Run, Run.experiment_id == Experiment.id)
        .where(Run.id == run_id)
    )
    row = (await session.execute(query)).first()
    return None if row is None else (row[0], row[1])


async def add_audit_events(session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
    if events:
        await session.execute(insert(AuditEvent), list(events))


async def list_audit_events(
    session: AsyncSession,
    *,
    principal: str | None,
    method: str | None,
    path_prefix: str | None,
    since: datetime | None,
    until: datetime | None,
    before_id: int | None,
    limit: int,
) -> Sequence[AuditEvent]:
    """Newest first, paged by id."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if principal is not None:
        query = query.where(AuditEvent.principal == principal)
    if method is not None:
        query = query.where(AuditEvent.method == method.upper())
    if path_prefix is not None:
        query = query.where(AuditEvent.path.startswith(path_prefix, autoescape=True))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    return (await session.execute(query)).scalars().all()


async def logged_model_experiment(session: AsyncSession, model_id: str) -> uuid.UUID | None:
    query = select(LoggedModel.experiment_id).where(LoggedModel.id == model_id)
    return (await session.execute(query)).scalar_one_or_none()
