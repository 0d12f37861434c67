"""/api/v1 users, API keys, grants and the audit log."""

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status

from mltrail_server.db.repositories import auth as auth_repo
from mltrail_server.dependencies import (
    AdminDep,
    AuthServiceDep,
    PrincipalDep,
    RuntimeDep,
    SessionDep,
)
from mltrail_server.models.auth import (
    ApiKey,
    AuditEvent,
    AuditPage,
    Grant,
    GrantCreate,
    KeyCreate,
    Me,
    NewApiKey,
    User,
    UserCreate,
    UserDeleted,
    UserUpdate,
)
from mltrail_server.models.gc import GcItem, GcPointsDropped, GcReport, GcRequest
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import CONFLICT, NOT_FOUND

router = APIRouter(tags=["access"], route_class=AccessRoute)


@router.get("/me", response_model=Me)
async def who_am_i(principal: PrincipalDep) -> Me:
    """The caller's name and role."""
    return Me(name=principal.name, role=principal.role, authenticated=principal.authenticated)


@router.post("/users", response_model=User, status_code=status.HTTP_201_CREATED, responses=CONFLICT)
async def create_user(data: UserCreate, service: AuthServiceDep, _admin: AdminDep) -> User:
    """Create a user (admins only)."""
    return User.model_validate(await service.create_user(data.name, data.role))


@router.get("/users", response_model=list[User])
async def list_users(session: SessionDep, _admin: AdminDep) -> list[User]:
    """All users (admins only)."""
    return [User.model_validate(user) for user in await auth_repo.list_users(session)]


@router.patch("/users/{user_id}", response_model=User, responses={**NOT_FOUND, **CONFLICT})
async def update_user(
    user_id: UUID, data: UserUpdate, service: AuthServiceDep, _admin: AdminDep
) -> User:
    """Change a user's role, or disable or enable it (admins only). A disabled user's keys
    are refused but kept. Takes effect at once on every worker when Redis is configured,
    else within 5 seconds. 409 when it would leave no active admin."""
    user = await service.update_user(user_id, role=data.role, disabled=data.disabled)
    return User.model_validate(user)


@router.delete("/users/{user_id}", response_model=UserDeleted, responses={**NOT_FOUND, **CONFLICT})
async def delete_user(user_id: UUID, service: AuthServiceDep, admin: AdminDep) -> UserDeleted:
    """Delete a user with its keys and grants (admins only); its keys stop working like a
    revoked key. The experiments it owned stay and pass to the admin deleting it. 409 for
    the last active admin, or for the caller's own user."""
    removal = await service.delete_user(admin, user_id)
    return UserDeleted(
        id=removal.id,
        name=removal.name,
        keys_deleted=removal.keys_deleted,
        experiments_transferred=removal.experiments_transferred,
        new_owner=removal.new_owner,
    )


@router.post(
    "/users/{user_id}/keys",
    response_model=NewApiKey,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
async def create_key(
    user_id: UUID, data: KeyCreate, service: AuthServiceDep, _admin: AdminDep
) -> NewApiKey:
    """Create an API key for a user (admins only). The key is in this response only."""
    key, raw = await service.create_key(user_id, data.name)
    return NewApiKey.model_validate({**ApiKey.model_validate(key).model_dump(), "key": raw})


@router.get("/keys", response_model=list[ApiKey])
async def list_keys(
    session: SessionDep,
    _admin: AdminDep,
    user_id: Annotated[UUID | None, Query(description="Only this user's keys")] = None,
) -> list[ApiKey]:
    """API keys, without their secrets (admins only)."""
    return [ApiKey.model_validate(key) for key in await auth_repo.list_keys(session, user_id)]


@router.delete("/keys/{key_id}", response_model=ApiKey, responses=NOT_FOUND)
async def revoke_key(key_id: UUID, service: AuthServiceDep, _admin: AdminDep) -> ApiKey:
    """Revoke a key (admins only): it stops working at once on this worker, and on the
    others at once when Redis is configured, else within 5 seconds.

    Answers 200 with the revoked key as listed (its `revoked_at` set, never the secret), so a
    client can show what it revoked; revoking it again answers the same, with the first
    `revoked_at`."""
    return ApiKey.model_validate(await service.revoke_key(key_id))


@router.post(
    "/experiments/{experiment_id}/grants",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**NOT_FOUND, **CONFLICT},
)
async def grant_write(
    experiment_id: UUID, data: GrantCreate, service: AuthServiceDep, principal: PrincipalDep
) -> Response:
    """Let a user write to this experiment and its runs: its owner or an admin may, a
    grantee may not pass its access on. 409 for a viewer, who writes nothing."""
    await service.grant(principal, experiment_id, data.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/experiments/{experiment_id}/grants", response_model=list[Grant], responses=NOT_FOUND)
async def list_grants(
    experiment_id: UUID, service: AuthServiceDep, principal: PrincipalDep
) -> list[Grant]:
    """The users granted write access to this experiment, oldest grant first (its owner or
    an admin)."""
    found = await service.list_grants(principal, experiment_id)
    return [
        Grant(user_id=user.id, name=user.name, role=user.role, granted_at=grant.created_at)
        for grant, user in found
    ]


@router.delete(
    "/experiments/{experiment_id}/grants/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
async def revoke_grant(
    experiment_id: UUID, user_id: UUID, service: AuthServiceDep, principal: PrincipalDep
) -> Response:
    """Take back a user's write access (the experiment's owner or an admin). Its next write
    is refused: at once on every worker when Redis is configured, else within 5 seconds."""
    await service.revoke_grant(principal, experiment_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/audit", response_model=AuditPage)
async def list_audit_events(
    session: SessionDep,
    _admin: AdminDep,
    principal: Annotated[str | None, Query(description="Only this user's writes")] = None,
    method: Annotated[str | None, Query(pattern="^(?i)(POST|PUT|PATCH|DELETE)$")] = None,
    path_prefix: Annotated[str | None, Query(max_length=500)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, lt=2**63)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Every write, newest first (admins only): who, what, when, from where, and the status."""
    events = await auth_repo.list_audit_events(
        session,
        principal=principal,
        method=method,
        path_prefix=path_prefix,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    items = [AuditEvent.model_validate(event) for event in events]
    return AuditPage(items=items, next_before_id=items[-1].id if len(items) == limit else None)


@router.post("/admin/gc", response_model=GcReport, responses=NOT_FOUND)
async def collect_garbage(data: GcRequest, runtime: RuntimeDep, _admin: AdminDep) -> GcReport:
    """Purge for good soft-deleted runs and experiments (admins only): their rows now, their
        artifacts in the background. Those deleted at least `older_than_seconds` ago; with
        `run_ids` and/or `experiment_ids`, only those (404 for an unknown id, 422 for one not
        deleted). A run or experiment a model version was registered from is kept and listed
        under `kept`. `dry_run` lists what would go and changes nothing. `ran` is false when
        another collector (the background task, another host) was running. Without named ids, the
    pass also drops raw metric points older than N days in experiments tagged
    `mltrail.metric_retention_days` = N (`metric_points`), keeping their rollups."""
    report = await runtime.gc.collect(
        older_than=timedelta(seconds=data.older_than_seconds),
        run_ids=data.run_ids,
        experiment_ids=data.experiment_ids,
        dry_run=data.dry_run,
    )
    return GcReport(
        dry_run=report.dry_run,
        ran=report.ran,
        purged=[GcItem(**asdict(item)) for item in report.purged],
        kept=[GcItem(**asdict(item)) for item in report.kept],
        metric_points=[GcPointsDropped(**asdict(item)) for item in report.metric_points],
    )
