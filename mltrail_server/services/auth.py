"""Identity and permissions (DESIGN §6): API keys, roles, experiment ownership and grants.

Keys are random tokens shown once; only their SHA-256 is stored. A request presents one as
`X-API-Key` (the header name is configurable), `Authorization: Bearer <key>`, or as the
password of `Authorization: Basic` (how the mlflow client sends MLFLOW_TRACKING_PASSWORD).

Lookups are cached in-process for a few seconds, so an authenticated write costs no extra
query on the hot path. Every cache entry is filed under an epoch: a counter of this process,
bumped by each revocation here, and the read cache's `auth` generation, bumped by each
revocation anywhere and shared by every worker through Redis. So a revoked key, a disabled
or re-roled user, or a revoked grant takes effect at once on the worker that changed it and,
with Redis, at the very next request on every other; without Redis (or while it is down)
within `CACHE_SECONDS` on the others.
"""

import base64
import binascii
import hashlib
import ipaddress
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import auth as repo
from mltrail_server.db.repositories import registry as registry_repo
from mltrail_server.db.repositories.grants import experiment_grants, model_grants
from mltrail_server.db.tables import ApiKey, ExperimentGrant, RegisteredModelGrant, User
from mltrail_server.db.types import utcnow
from mltrail_server.db.unit_of_work import after_commit
from mltrail_server.errors import Conflict, Forbidden, NotFound, Unauthorized
from mltrail_server.services.cache import Cache
from mltrail_server.services.ttl_cache import TtlCache

KEY_PREFIX = "et_"
# The web UI keeps the key in this HTTP-only cookie (mltrail_server/routes/ui_session.py).
SESSION_COOKIE = "mltrail_key"
# A write authenticated by that cookie must carry this header: another site's form or image
# cannot set it, and a script on another origin cannot send it without our CORS consent.
CSRF_HEADER = "x-requested-with"
CACHE_SECONDS = 5.0
# The user the first admin key belongs to, made on a database without users.
ADMIN_USER = "admin"
FIRST_KEY_NAME = "first admin key"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Principal:
    """Who is making a request. With auth off, everyone is an unauthenticated admin."""

    name: str
    role: Role
    user_id: uuid.UUID | None = None
    authenticated: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


OPEN = Principal(name="local", role=Role.ADMIN, authenticated=False)

# The read cache's generation that every change of who may do what bumps.
AUTH_GENERATION = "auth"
# (this process's counter, the shared generations or None when they cannot be read).
Epoch = tuple[int, tuple[int, ...] | None]


@dataclass
class _LocalEpoch:
    """Bumped by every change made by this process: it never serves a stale entry of its
    own, even while the shared counter cannot be reached."""

    value: int = 0


_local = _LocalEpoch()

# Shared by every request of this process, keyed by the epoch they were read under.
principals: TtlCache[tuple[Epoch, str], Principal] = TtlCache(CACHE_SECONDS)
# An experiment's owner changes only when its owner is deleted (and the epoch moves).
run_owners: TtlCache[tuple[Epoch, uuid.UUID], tuple[uuid.UUID, str]] = TtlCache(ttl=60.0)
grants: TtlCache[tuple[Epoch, uuid.UUID, uuid.UUID], bool] = TtlCache(CACHE_SECONDS)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_required(setting: bool | None, hosts: Iterable[str | None]) -> bool:
    """The explicit setting, else on whenever any of `hosts` (the configured HOST, the
    addresses the process listens on, the one a request arrived on) is beyond loopback."""
    if setting is not None:
        return setting
    return any(host is not None and not is_loopback(host) for host in hosts)


def presented_key(headers: Mapping[str, str], api_key_header: str) -> str | None:
    """The key a request presents, if any, from any of the accepted headers."""
    if key := headers.get(api_key_header.lower()):
        return key.strip()
    authorization = headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, _, password = decoded.partition(":")
        return password or None
    return None


async def known_principal(raw_key: str, cache: Cache | None) -> Principal | None:
    """The key's principal if this process looked it up under the current epoch (at most
    `CACHE_SECONDS` ago): the hot path of every request, which needs no database session.
    None means: ask `AuthService.authenticate`."""
    shared = await cache.generations(AUTH_GENERATION) if cache else None
    epoch: Epoch = (_local.value, None if shared is None else tuple(shared))
    return principals.get((epoch, hash_key(raw_key)))


@dataclass(frozen=True)
class NewAdminKey:
    """An admin key made without the API: its user, its row, and the key itself (shown
    once, never stored)."""

    user: User
    key: ApiKey
    raw: str


@dataclass(frozen=True)
class UserRemoval:
    """What went with a deleted user."""

    id: uuid.UUID
    name: str
    keys_deleted: int
    experiments_transferred: int
    new_owner: str


@dataclass
class AuthService:
    """The rules of who may do what. `cache` is the read cache (DESIGN §5): its generation
    counter `auth` is how a change made on one worker reaches the others; without it (or
    without Redis) other workers notice within `CACHE_SECONDS`."""

    session: AsyncSession
    cache: Cache | None = None
    _epoch: Epoch | None = field(default=None, init=False, repr=False)

    async def epoch(self) -> Epoch:
        """The counters under which cached identities and grants are valid, read once per
        service (that is, per request) and before anything is read from the database."""
        if self._epoch is None:
            shared = await self.cache.generations(AUTH_GENERATION) if self.cache else None
            self._epoch = (_local.value, None if shared is None else tuple(shared))
        return self._epoch

    def _changed(self) -> None:
        """A change of who may do what: once it is committed, this worker's cached
        identities and grants are stale at once, and every other worker's at its next
        request when the counter is shared through Redis."""
        after_commit(self.session, self._publish_change)

    async def _publish_change(self) -> None:
        _local.value += 1
        self._epoch = None
        if self.cache is not None:
            await self.cache.bump(AUTH_GENERATION)

    async def authenticate(self, raw_key: str) -> Principal:
        digest = hash_key(raw_key)
        epoch = await self.epoch()
        cached = principals.get((epoch, digest))
        if cached is not None:
            return cached
        found = await repo.principal_for_hash(self.session, digest)
        if found is None:
            raise Unauthorized("Invalid or revoked API key")
        user, _key = found
        if user.disabled_at is not None:
            raise Unauthorized(f"This key's user {user.name} is disabled; an admin can enable it")
        principal = Principal(name=user.name, role=Role(user.role), user_id=user.id)
        principals.put((epoch, digest), principal)
        return principal

    async def bootstrap_admin(self) -> str | None:
        """At the server's start: the first admin key on a database without users (see
        `first_admin_key`), returned as the raw key, shown once; None if there are users."""
        first = await self.first_admin_key()
        return None if first is None else first.raw

    async def first_admin_key(self) -> "NewAdminKey | None":
        """On a database without users: create user `admin` and its first key (the only time
        it is ever shown). Several workers starting at once create it once."""
        if await repo.count_users(self.session):
            return None
        try:
            user = await repo.add_user(self.session, User(name=ADMIN_USER, role=Role.ADMIN.value))
            key, raw = await self._add_key(user.id, FIRST_KEY_NAME)
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            return None
        return NewAdminKey(user, key, raw)

    async def admin_key(self, name: str) -> "NewAdminKey":
        """An admin key made without the API, for when no admin key is at hand (`mltrail keys
        create --admin`): on a database without users, the same first key the server's start
        makes; otherwise a new key labelled `name` for the oldest active admin (a disabled
        one's key would be refused), making user `admin` an enabled admin if none is left."""
        first = await self.first_admin_key()
        if first is not None:
            return first
        user = await self.recovery_admin(ADMIN_USER)
        key, raw = await self.create_key(user.id, name)
        return NewAdminKey(user, key, raw)

    async def recovery_admin(self, name: str) -> User:
        """An active admin to give a new key to when no admin key is at hand: the oldest
        one; else user `name`, made an enabled admin (or created)."""
        active = set(await repo.active_admin_ids(self.session))
        admins = [user for user in await repo.list_users(self.session) if user.id in active]
        if admins:
            return min(admins, key=lambda user: (user.created_at, user.name))
        user = await repo.get_user_by_name(self.session, name)
        if user is None:
            return await self.create_user(name, Role.ADMIN)
        await repo.update_user(self.session, user, role=Role.ADMIN.value, disabled_at=None)
        await self.session.flush()
        self._changed()
        return user

    async def create_user(self, name: str, role: Role) -> User:
        try:
            user = await repo.add_user(self.session, User(name=name, role=role.value))
            await self.session.flush()
        except IntegrityError:
            await self.session.rollback()
            raise Conflict(f"A user named {name!r} already exists") from None
        return user

    async def update_user(
        self, user_id: uuid.UUID, *, role: Role | None, disabled: bool | None
    ) -> User:
        """Change a user's role or disable/enable it; refuses to leave no active admin.
        Takes effect on its keys at once (every worker with Redis, else within
        `CACHE_SECONDS`)."""
        admins = await repo.active_admin_ids(self.session)  # locked until the commit
        user = await self._user(user_id)
        new_role = user.role if role is None else role.value
        disabled_at = user.disabled_at
        if disabled is not None and disabled != (disabled_at is not None):
            disabled_at = utcnow() if disabled else None
        if user.id in admins and len(admins) == 1:
            if new_role != Role.ADMIN.value:
                raise Conflict(
                    f"role: {user.name} is the last active admin and cannot be demoted; "
                    "make another user an admin first"
                )
            if disabled_at is not None:
                raise Conflict(
                    f"disabled: {user.name} is the last active admin and cannot be disabled; "
                    "make another user an admin first"
                )
        if (new_role, disabled_at) == (user.role, user.disabled_at):
            return user
        await repo.update_user(self.session, user, role=new_role, disabled_at=disabled_at)
        await self.session.flush()
        self._changed()
        return user

    async def delete_user(self, actor: Principal, user_id: uuid.UUID) -> UserRemoval:
        """Delete a user and its keys and grants. The experiments it owns stay, and become
        the deleting admin's: a new user given the same name later must not inherit them."""
        admins = await repo.active_admin_ids(self.session)  # locked until the commit
        user = await self._user(user_id)
        if actor.user_id == user.id:
            raise Conflict(
                f"user_id: {user.name} is you; an admin cannot delete itself, ask another admin"
            )
        if user.id in admins and len(admins) == 1:
            raise Conflict(
                f"user_id: {user.name} is the last active admin and cannot be deleted; "
                "make another user an admin first"
            )
        moved = await repo.transfer_experiments(self.session, user.name, actor.name)
        keys = await repo.delete_user(self.session, user.id)
        await self.session.flush()
        self._changed()
        if moved and self.cache is not None:
            # Imported here: the experiments service imports this module.
            from mltrail_server.services.experiments import LIST, experiment_key

            cache, names = self.cache, [LIST, *(experiment_key(e) for e in moved)]
            after_commit(self.session, lambda: cache.bump(*names))
        return UserRemoval(user.id, user.name, keys, len(moved), actor.name)

    async def create_key(self, user_id: uuid.UUID, name: str) -> tuple[ApiKey, str]:
        await self._user(user_id)
        key, raw = await self._add_key(user_id, name)
        await self.session.flush()
        return key, raw

    async def revoke_key(self, key_id: uuid.UUID) -> ApiKey:
        key = await repo.revoke_key(self.session, key_id, utcnow())
        if key is None:
            raise NotFound(f"API key {key_id} not found")
        await self.session.flush()
        self._changed()
        return key

    async def grant(
        self, principal: Principal, experiment_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        """Let a user write to an experiment: its owner or an admin may (not a grantee)."""
        await self._manage_grants(principal, experiment_id)
        self._no_viewers(principal)
        user = await self._user(user_id)
        if user.role == Role.VIEWER.value:
            raise Conflict(
                f"user_id: {user.name} is a viewer, which writes nothing even with a grant; "
                "make it a member first"
            )
        await experiment_grants.add(self.session, experiment_id, user_id)
        await self.session.flush()
        self._changed()

    async def list_grants(
        self, principal: Principal, experiment_id: uuid.UUID
    ) -> Sequence[tuple[ExperimentGrant, User]]:
        """Who was granted write access: for the experiment's owner and admins."""
        await self._manage_grants(principal, experiment_id)
        return await experiment_grants.list(self.session, experiment_id)

    async def revoke_grant(
        self, principal: Principal, experiment_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        """Take a grant back (its owner or an admin); the user's next write is refused."""
        await self._manage_grants(principal, experiment_id)
        self._no_viewers(principal)
        if not await experiment_grants.delete(self.session, experiment_id, user_id):
            raise NotFound(f"User {user_id} has no grant on experiment {experiment_id}")
        await self.session.flush()
        self._changed()

    async def check_write_experiment(self, principal: Principal, experiment_id: uuid.UUID) -> None:
        """Owner, admin or grantee may write; a missing experiment is left to the route."""
        if principal.is_admin:
            return
        self._no_viewers(principal)
        owner = await repo.experiment_owner(self.session, experiment_id)
        if owner is not None:
            await self._owner_or_grant(principal, experiment_id, owner)

    async def check_write_run(self, principal: Principal, run_id: uuid.UUID) -> None:
        if principal.is_admin:
            return
        self._no_viewers(principal)
        key = (await self.epoch(), run_id)
        found = run_owners.get(key)
        if found is None:
            found = await repo.run_experiment(self.session, run_id)
            if found is None:
                return
            run_owners.put(key, found)
        await self._owner_or_grant(principal, *found)

    async def check_write_logged_model(self, principal: Principal, model_id: str) -> None:
        if principal.is_admin:
            return
        self._no_viewers(principal)
        experiment_id = await repo.logged_model_experiment(self.session, model_id)
        if experiment_id is not None:
            await self.check_write_experiment(principal, experiment_id)

    async def check_write_registered_model(self, principal: Principal, name: str) -> None:
        """Owner, admin or grantee may write; a missing model is left to the route (a
        create, or its 404)."""
        if principal.is_admin:
            return
        self._no_viewers(principal)
        found = await registry_repo.model_owner(self.session, name)
        if found is None:
            return
        model_id, owner = found
        if owner == principal.name:
            return
        allowed = principal.user_id is not None and await model_grants.exists(
            self.session, model_id, principal.user_id
        )
        if not allowed:
            raise Forbidden(
                f"{principal.name} may not write to registered model {name!r}: it belongs to "
                f"{owner}; ask its owner or an admin for a grant"
            )

    async def grant_model(self, principal: Principal, name: str, user_id: uuid.UUID) -> None:
        """Let a user write to a registered model: its owner or an admin may."""
        model_id = await self._manage_model_grants(principal, name)
        user = await self._user(user_id)
        if user.role == Role.VIEWER.value:
            raise Conflict(
                f"user_id: {user.name} is a viewer, which writes nothing even with a grant; "
                "make it a member first"
            )
        await model_grants.add(self.session, model_id, user_id)
        await self.session.flush()

    async def list_model_grants(
        self, principal: Principal, name: str
    ) -> Sequence[tuple[RegisteredModelGrant, User]]:
        """Who was granted write access to a registered model: for its owner and admins."""
        model_id = await self._manage_model_grants(principal, name, reading=True)
        return await model_grants.list(self.session, model_id)

    async def revoke_model_grant(self, principal: Principal, name: str, user_id: uuid.UUID) -> None:
        model_id = await self._manage_model_grants(principal, name)
        if not await model_grants.delete(self.session, model_id, user_id):
            raise NotFound(f"User {user_id} has no grant on registered model {name!r}")
        await self.session.flush()

    async def _manage_model_grants(
        self, principal: Principal, name: str, *, reading: bool = False
    ) -> uuid.UUID:
        found = await registry_repo.model_owner(self.session, name)
        if found is None:
            raise NotFound(f"Registered Model with name={name} not found")
        if not reading:
            self._no_viewers(principal)
        if not principal.is_admin and found[1] != principal.name:
            raise Forbidden(
                f"{principal.name} may not manage the grants of registered model {name!r}: "
                f"only its owner ({found[1]}) or an admin may"
            )
        return found[0]

    def check_create(self, principal: Principal) -> None:
        self._no_viewers(principal)

    @staticmethod
    def _no_viewers(principal: Principal) -> None:
        if principal.role == Role.VIEWER:
            raise Forbidden(f"{principal.name} is a viewer: read-only access")

    async def _user(self, user_id: uuid.UUID) -> User:
        user = await repo.get_user(self.session, user_id)
        if user is None:
            raise NotFound(f"User {user_id} not found")
        return user

    async def _manage_grants(self, principal: Principal, experiment_id: uuid.UUID) -> None:
        owner = await repo.experiment_owner(self.session, experiment_id)
        if owner is None:
            raise NotFound(f"Experiment {experiment_id} not found")
        if not principal.is_admin and owner != principal.name:
            raise Forbidden(
                f"{principal.name} may not manage the grants of experiment {experiment_id}: "
                f"only its owner ({owner}) or an admin may"
            )

    async def _owner_or_grant(
        self, principal: Principal, experiment_id: uuid.UUID, owner: str
    ) -> None:
        if owner == principal.name:
            return
        if principal.user_id is None:
            raise Forbidden(f"{principal.name} may not write to experiment {experiment_id}")
        key = (await self.epoch(), experiment_id, principal.user_id)
        allowed = grants.get(key)
        if allowed is None:
            allowed = await experiment_grants.exists(self.session, experiment_id, principal.user_id)
            grants.put(key, allowed)
        if not allowed:
            raise Forbidden(
                f"{principal.name} may not write to experiment {experiment_id}: it belongs to "
                f"{owner}; ask its owner or an admin for a grant"
            )

    async def _add_key(self, user_id: uuid.UUID, name: str) -> tuple[ApiKey, str]:
        raw = new_key()
        key = await repo.add_key(
            self.session,
            ApiKey(user_id=user_id, name=name, prefix=raw[:10], hash=hash_key(raw)),
        )
        return key, raw
