"""Identity and permissions (DESIGN §6): API keys, roles, experiment ownership and grants.

Keys are random tokens shown once; only their SHA-256 is stored. A request presents one as
`X-API-Key` (the header name is configurable), `Authorization: Bearer <key>`, or as the
password of `Authorization: Basic` (how the mlflow client sends MLFLOW_TRACKING_PASSWORD).

Lookups are cached in-process for a few seconds, so an authenticated write costs no extra
query on the hot path; a revoked key therefore stops working within `CACHE_SECONDS` on other
workers (at once on the worker that revoked it).
"""

import base64
import binascii
import hashlib
import ipaddress
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories import auth as repo
from app.db.tables import ApiKey, User
from app.db.types import utcnow
from app.errors import Conflict, Forbidden, NotFound, Unauthorized

KEY_PREFIX = "et_"
# The web UI keeps the key in this HTTP-only cookie (app/routes/ui_session.py).
SESSION_COOKIE = "exptrack_key"
# A write authenticated by that cookie must carry this header: another site's form or image
# cannot set it, and a script on another origin cannot send it without our CORS consent.
CSRF_HEADER = "x-requested-with"
CACHE_SECONDS = 5.0
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

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """A small bounded in-process cache whose entries live `ttl` seconds."""

    def __init__(self, ttl: float = CACHE_SECONDS, size: int = 10_000) -> None:
        self._ttl = ttl
        self._size = size
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        self._entries[key] = (time.monotonic() + self._ttl, value)
        self._entries.move_to_end(key)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


# Shared by every request of this process.
principals: TtlCache[str, Principal] = TtlCache()
run_owners: TtlCache[uuid.UUID, tuple[uuid.UUID, str]] = TtlCache(ttl=60.0)
grants: TtlCache[tuple[uuid.UUID, uuid.UUID], bool] = TtlCache()


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


def auth_required(setting: bool | None, configured_host: str, server_host: str | None) -> bool:
    """Explicit setting, else on whenever the server is reachable beyond loopback."""
    if setting is not None:
        return setting
    return not is_loopback(configured_host) or (
        server_host is not None and not is_loopback(server_host)
    )


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


@dataclass
class AuthService:
    session: AsyncSession

    async def authenticate(self, raw_key: str) -> Principal:
        digest = hash_key(raw_key)
        cached = principals.get(digest)
        if cached is not None:
            return cached
        found = await repo.principal_for_hash(self.session, digest)
        if found is None:
            raise Unauthorized("Invalid or revoked API key")
        user, _key = found
        principal = Principal(name=user.name, role=Role(user.role), user_id=user.id)
        principals.put(digest, principal)
        return principal

    async def bootstrap_admin(self) -> str | None:
        """On a database without users: create user `admin` and return its first key (the
        only time it is ever shown). Several workers starting at once create it once."""
        if await repo.count_users(self.session):
            return None
        try:
            user = await repo.add_user(self.session, User(name="admin", role=Role.ADMIN.value))
            raw = await self._add_key(user.id, "first admin key")
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            return None
        return raw

    async def create_user(self, name: str, role: Role) -> User:
        try:
            user = await repo.add_user(self.session, User(name=name, role=role.value))
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            raise Conflict(f"A user named {name!r} already exists") from None
        return user

    async def create_key(self, user_id: uuid.UUID, name: str) -> tuple[ApiKey, str]:
        if await repo.get_user(self.session, user_id) is None:
            raise NotFound(f"User {user_id} not found")
        raw = await self._add_key(user_id, name)
        key = (await repo.list_keys(self.session, user_id))[-1]
        await self.session.commit()
        return key, raw

    async def revoke_key(self, key_id: uuid.UUID) -> ApiKey:
        key = await repo.revoke_key(self.session, key_id, utcnow())
        if key is None:
            raise NotFound(f"API key {key_id} not found")
        await self.session.commit()
        principals.clear()
        return key

    async def grant(self, experiment_id: uuid.UUID, user_id: uuid.UUID) -> None:
        if await repo.experiment_owner(self.session, experiment_id) is None:
            raise NotFound(f"Experiment {experiment_id} not found")
        if await repo.get_user(self.session, user_id) is None:
            raise NotFound(f"User {user_id} not found")
        await repo.add_grant(self.session, experiment_id, user_id)
        await self.session.commit()
        grants.clear()

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
        found = run_owners.get(run_id)
        if found is None:
            found = await repo.run_experiment(self.session, run_id)
            if found is None:
                return
            run_owners.put(run_id, found)
        await self._owner_or_grant(principal, *found)

    async def check_write_logged_model(self, principal: Principal, model_id: str) -> None:
        if principal.is_admin:
            return
        self._no_viewers(principal)
        experiment_id = await repo.logged_model_experiment(self.session, model_id)
        if experiment_id is not None:
            await self.check_write_experiment(principal, experiment_id)

    def check_create(self, principal: Principal) -> None:
        self._no_viewers(principal)

    @staticmethod
    def _no_viewers(principal: Principal) -> None:
        if principal.role == Role.VIEWER:
            raise Forbidden(f"{principal.name} is a viewer: read-only access")

    async def _owner_or_grant(
        self, principal: Principal, experiment_id: uuid.UUID, owner: str
    ) -> None:
        if owner == principal.name:
            return
        if principal.user_id is None:
            raise Forbidden(f"{principal.name} may not write to experiment {experiment_id}")
        key = (experiment_id, principal.user_id)
        allowed = grants.get(key)
        if allowed is None:
            allowed = await repo.has_grant(self.session, experiment_id, principal.user_id)
            grants.put(key, allowed)
        if not allowed:
            raise Forbidden(
                f"{principal.name} may not write to experiment {experiment_id}: it belongs to "
                f"{owner}; ask its owner or an admin for a grant"
            )

    async def _add_key(self, user_id: uuid.UUID, name: str) -> str:
        raw = new_key()
        await repo.add_key(
            self.session,
            ApiKey(user_id=user_id, name=name, prefix=raw[:10], hash=hash_key(raw)),
        )
        return raw
