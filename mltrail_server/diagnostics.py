"""What `mltrail doctor` checks: the settings, the database and its migrations, Redis, the
artifact store and authentication, each read or reached the way the server would, each
ending in a finding that says what is wrong and how to fix it.

Nothing is changed: no database file, artifact folder or row is created. The one write is a
probe file in the artifact folder (or the nearest folder above it), removed at once.
"""

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from pydantic import ValidationError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError

from mltrail_server.config import Settings, describe_setting_error, hide_password
from mltrail_server.db.engine import Database
from mltrail_server.db.migrate import alembic_config
from mltrail_server.db.repositories import auth as auth_repo
from mltrail_server.services.auth import Role, auth_required, is_loopback
from mltrail_server.storage import ObjectArtifactStore, ObjectStoreUnreachable, open_artifact_store

__all__ = ["LOW_SPACE_BYTES", "Finding", "Status", "diagnose"]

# A backstop over the drivers' own connect timeouts (asyncpg's is 5 s in `Database`).
CONNECT_TIMEOUT_SECONDS = 8.0
REDIS_TIMEOUT_SECONDS = 3.0
LOW_SPACE_BYTES = 1024**3
UPGRADE = "run `mltrail db upgrade`"
# The settings each check reads: with one of them invalid, the check is not run.
_DATABASE_FIELDS = {
    "data_dir",
    "database_url",
    "database_pgbouncer",
    "database_statement_timeout_seconds",
}
_REPLICA_FIELDS = {
    "database_url",
    "database_read_url",
    "database_pgbouncer",
    "database_statement_timeout_seconds",
}
_REDIS_FIELDS = {"redis_url", "cache_enabled"}
_ARTIFACT_FIELDS = {"data_dir", "artifact_root", "artifact_s3_endpoint_url"}
_AUTH_FIELDS = {"auth_enabled", "host"}


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """The outcome of one check; `fix` says what to do, empty when nothing needs doing."""

    check: str
    status: Status
    detail: str
    fix: str = ""


async def diagnose() -> list[Finding]:
    """Every check, in order; a check whose settings are invalid, or whose database could
    not be opened, is reported as not checked."""
    settings, invalid, findings = check_configuration()
    if settings is None:
        names = ("database", "migrations", "admins", "replica", "redis", "artifacts", "auth")
        return findings + [_not_checked(name, invalid) for name in names]
    findings += await _database_checks(settings, invalid)
    if invalid & _REPLICA_FIELDS:
        findings.append(_not_checked("replica", invalid & _REPLICA_FIELDS))
    else:
        findings.append(await check_replica(settings))
    if invalid & _REDIS_FIELDS:
        findings.append(_not_checked("redis", invalid & _REDIS_FIELDS))
    else:
        findings.append(await check_redis(settings))
    if invalid & _ARTIFACT_FIELDS:
        findings.append(_not_checked("artifacts", invalid & _ARTIFACT_FIELDS))
    else:
        findings.append(await check_artifacts(settings))
    if invalid & _AUTH_FIELDS:
        findings.append(_not_checked("auth", invalid & _AUTH_FIELDS))
    else:
        findings.append(check_auth(settings))
    return findings


def _not_checked(check: str, invalid: set[str]) -> Finding:
    names = ", ".join(sorted(name.upper() for name in invalid))
    return Finding(check, Status.WARNING, f"not checked: {names} invalid")


def _reason(exc: BaseException) -> str:
    """The driver's own words for a failure, without SQLAlchemy's wrapping."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc).strip() or type(exc).__name__


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:.0f} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def _existing_ancestor(path: Path) -> Path:
    """`path` itself or the nearest of its parents that exists (as anything)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# --- configuration -------------------------------------------------------------------------


def check_configuration() -> tuple[Settings | None, set[str], list[Finding]]:
    """The settings read as the server reads them (environment, then ./.env): one finding
    per invalid variable, and the settings with those at their defaults (None if even that
    fails), so that the checks that do not depend on them still run."""
    source = "the environment or ./.env" if Path(".env").is_file() else "the environment"
    try:
        return Settings(), set(), [Finding("configuration", Status.OK, f"read from {source}")]
    except ValidationError as exc:
        errors = exc.errors()
    findings: list[Finding] = []
    defaults: dict[str, Any] = {}
    for error in errors:
        field = str(error["loc"][0]) if error["loc"] else ""
        # The same words as the server's own start-up message (config.load_settings).
        detail = describe_setting_error(error)
        fix = f"correct {field.upper()} in {source}, or unset it for the default"
        if info := Settings.model_fields.get(field):
            defaults[field] = info.get_default(call_default_factory=True)
            if defaults[field] not in (None, ""):
                fix += f" ({defaults[field]})"
        findings.append(Finding("configuration", Status.ERROR, detail, fix))
    try:
        # Values given here win over the environment's.
        return Settings(**defaults), set(defaults), findings
    except ValidationError:
        return None, set(defaults), findings


# --- database, migrations, admins ------------------------------------------------------------


async def _database_checks(settings: Settings, invalid: set[str]) -> list[Finding]:
    names = ("database", "migrations", "admins")
    if invalid & _DATABASE_FIELDS:
        return [_not_checked(name, invalid & _DATABASE_FIELDS) for name in names]
    database, finding = await check_database(settings)
    if database is None:
        return [finding] + [
            Finding(name, Status.WARNING, "not checked: no database") for name in names[1:]
        ]
    admins = Finding("admins", Status.WARNING, "not checked: the schema is not current")
    try:
        migrations, at_head = await check_migrations(database)
        if at_head:
            admins = await check_admins(database, settings)
    except Exception as exc:  # a locked or damaged database: say so, and run the rest
        failed = Finding(
            "database",
            Status.ERROR,
            f"answers, but reading it failed: {_reason(exc)}",
            "see the database's own log; a SQLite file may be locked by a stuck process",
        )
        return [failed, *(Finding(name, Status.WARNING, "not checked") for name in names[1:])]
    finally:
        await database.dispose()
    return [finding, migrations, admins]


def _sqlite_problem(database: str, shown: str) -> Finding | None:
    """Why the server could not open this SQLite file, or None."""
    path = Path(database).resolve()
    folder = path.parent
    if path.exists():
        if not path.is_file():
            return Finding(
                "database",
                Status.ERROR,
                f"{shown}: {path} is not a file",
                "point DATABASE_URL (or DATA_DIR) at a SQLite file",
            )
        if not os.access(path, os.R_OK | os.W_OK) or not os.access(folder, os.W_OK):
            # SQLite writes its -wal and -shm files beside the database.
            return Finding(
                "database",
                Status.ERROR,
                f"{shown}: {path} or its folder is not writable",
                "let the user the server runs as write both (chown / chmod)",
            )
        return None
    ancestor = _existing_ancestor(folder)
    if not ancestor.is_dir():
        return Finding(
            "database",
            Status.ERROR,
            f"{shown}: {path} cannot be created, {ancestor} is a file, not a folder",
            "point DATABASE_URL (or DATA_DIR) at a path inside a folder",
        )
    return Finding(
        "database",
        Status.ERROR,
        f"{shown}: no database at {path} yet",
        f"{UPGRADE} to create it (the server also creates it at start)",
    )


async def check_database(settings: Settings) -> tuple[Database | None, Finding]:
    """The database opened and answering `SELECT 1` (returned, to be disposed of by the
    caller), or None and why not."""
    url = make_url(settings.resolved_database_url)
    # As the user wrote it: without the async driver's name.
    shown = url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)
    sqlite = url.get_backend_name() == "sqlite"
    in_memory = sqlite and url.database in (None, "", ":memory:")
    if sqlite and not in_memory and (problem := _sqlite_problem(url.database or "", shown)):
        return None, problem
    database = Database(
        settings.resolved_database_url,
        pooled=False,
        pgbouncer=settings.database_pgbouncer,
        statement_timeout=settings.database_statement_timeout_seconds,
        busy_timeout=settings.database_busy_timeout_seconds,
    )
    try:
        await asyncio.wait_for(database.ping(), CONNECT_TIMEOUT_SECONDS)
    except Exception as exc:  # every driver's own errors: this is what the check reports
        await database.dispose()
        fix = (
            "check the file is a SQLite database, or point DATABASE_URL elsewhere"
            if sqlite
            else "check that PostgreSQL runs there and that DATABASE_URL's host, port, user, "
            "password and database name are right"
        )
        return None, Finding("database", Status.ERROR, f"cannot open {shown}: {_reason(exc)}", fix)
    if in_memory:
        return database, Finding(
            "database",
            Status.WARNING,
            f"{shown}: in memory, lost when the server stops",
            "point DATABASE_URL at a file (or leave it empty for DATA_DIR/tracker.db)",
        )
    return database, Finding("database", Status.OK, f"{shown} answers")


def _schema(connection: Connection) -> tuple[tuple[str, ...], list[str]]:
    current = MigrationContext.configure(connection).get_current_heads()
    tables = [name for name in inspect(connection).get_table_names() if name != "alembic_version"]
    return current, tables


async def check_migrations(database: Database) -> tuple[Finding, bool]:
    """The database's revision against the newest this code knows; True when they match."""
    script = ScriptDirectory.from_config(alembic_config())
    heads = tuple(script.get_heads())
    async with database.engine.connect() as connection:
        current, tables = await connection.run_sync(_schema)
    if not current:
        if tables:
            return Finding(
                "migrations",
                Status.ERROR,
                f"{len(tables)} tables but no migration revision: not a database mltrail made",
                "point DATABASE_URL at an empty database (or mltrail's own), then " + UPGRADE,
            ), False
        return Finding("migrations", Status.ERROR, "no tables yet", UPGRADE), False
    unknown = []
    for revision in current:
        try:
            script.get_revision(revision)
        except CommandError:
            unknown.append(revision)
    if unknown:
        return Finding(
            "migrations",
            Status.ERROR,
            f"the database is at revision {', '.join(unknown)}, which this mltrail does not "
            f"know (its newest is {', '.join(heads)}): a newer mltrail upgraded it",
            "upgrade mltrail here (pip install -U 'mltrail[server]'), or point DATABASE_URL "
            "at another database",
        ), False
    if set(current) == set(heads):
        return Finding("migrations", Status.OK, f"at the newest revision {heads[0]}"), True
    pending = len(list(script.iterate_revisions(heads, current)))
    return Finding(
        "migrations",
        Status.ERROR,
        f"behind: at {', '.join(current)}, {pending} migration(s) to {', '.join(heads)}",
        f"{UPGRADE} (the server also does at start unless MIGRATE_ON_START=false)",
    ), False


async def check_admins(database: Database, settings: Settings) -> Finding:
    """Whether someone can manage users, keys and grants."""
    async with database.session() as session:
        # Not `active_admin_ids`: that one locks the rows, for the writes that follow it.
        everyone = await auth_repo.list_users(session)
        users = len(everyone)
        admins = sum(user.role == Role.ADMIN and user.disabled_at is None for user in everyone)
    if users == 0:
        return Finding(
            "admins",
            Status.OK,
            "no users yet: the server creates user 'admin' at its first start and prints "
            "its API key once",
        )
    if admins:
        return Finding("admins", Status.OK, f"{admins} active admin(s) among {users} user(s)")
    on = auth_required(settings.auth_enabled, (settings.host,))
    return Finding(
        "admins",
        Status.ERROR if on else Status.WARNING,
        f"no active admin among {users} user(s): nobody can manage users, keys and grants"
        + ("" if on else " once auth is on"),
        "`mltrail keys create --admin` makes an admin key directly in the database",
    )


async def check_replica(settings: Settings) -> Finding:
    """The read replica, when DATABASE_READ_URL is set: answering, and a hot standby."""
    if not settings.database_read_url:
        return Finding("replica", Status.OK, "not configured: every request uses DATABASE_URL")
    shown = hide_password(settings.database_read_url)
    database = Database(
        settings.resolved_database_read_url or "",
        pooled=False,
        pgbouncer=settings.database_pgbouncer,
        statement_timeout=settings.database_statement_timeout_seconds,
    )
    try:
        async with database.engine.connect() as connection:
            standby = await asyncio.wait_for(
                connection.scalar(text("SELECT pg_is_in_recovery()")), CONNECT_TIMEOUT_SECONDS
            )
    except Exception as exc:  # every driver's own errors: this is what the check reports
        return Finding(
            "replica",
            Status.ERROR,
            f"cannot reach the read replica {shown}: {_reason(exc)}; reads go to "
            "DATABASE_URL while it is down",
            "start the standby or correct DATABASE_READ_URL (or unset it: no replica)",
        )
    finally:
        await database.dispose()
    if not standby:
        return Finding(
            "replica",
            Status.WARNING,
            f"{shown} answers, but is not a standby (pg_is_in_recovery() is false): "
            "it only shows what DATABASE_URL wrote if something copies it there",
            "point DATABASE_READ_URL at a hot standby of DATABASE_URL",
        )
    return Finding(
        "replica",
        Status.OK,
        f"{shown} answers, a hot standby; reads go there, a principal's own for "
        f"{settings.database_read_your_writes_seconds:g} s after it writes to DATABASE_URL",
    )


# --- Redis, artifacts, auth ------------------------------------------------------------------


async def check_redis(settings: Settings) -> Finding:
    """Redis answering PING, when REDIS_URL is set."""
    if not settings.redis_url:
        detail = "not configured: each worker keeps its own cache (fine for one worker)"
        if not settings.cache_enabled:
            detail = "not configured, and the cache is off (CACHE_ENABLED=false)"
        return Finding("redis", Status.OK, detail)
    shown = hide_password(settings.redis_url)
    try:
        client = aioredis.from_url(
            settings.redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            await asyncio.wait_for(client.ping(), REDIS_TIMEOUT_SECONDS * 2)
        finally:
            await client.aclose()
    except Exception as exc:  # connection, protocol and URL errors alike are the finding
        return Finding(
            "redis",
            Status.ERROR,
            f"cannot reach Redis at {shown}: {_reason(exc)}",
            "start Redis there or correct REDIS_URL; or unset REDIS_URL if the server runs "
            "one worker",
        )
    return Finding("redis", Status.OK, f"{shown} answers PING")


async def check_artifacts(settings: Settings) -> Finding:
    """The artifact store: a bucket that answers, or a local folder, writable, with room."""
    if settings.artifact_store_url is not None:
        return await _check_object_store(settings)
    root = settings.resolved_artifact_root.resolve()
    folder = _existing_ancestor(root)
    if not folder.is_dir():
        return Finding(
            "artifacts",
            Status.ERROR,
            f"{root} cannot be created: {folder} is not a folder",
            "set ARTIFACT_ROOT (or DATA_DIR) to a path that is not inside a file",
        )
    try:
        handle, probe = tempfile.mkstemp(prefix=".mltrail-doctor-", dir=folder)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        return Finding(
            "artifacts",
            Status.ERROR,
            f"cannot write in {folder}: {exc.strerror}",
            "let the user the server runs as write there (chown / chmod), or set "
            "ARTIFACT_ROOT to another folder",
        )
    free = shutil.disk_usage(folder).free
    where = str(root) if folder == root else f"{root} (made at the first upload)"
    if free < LOW_SPACE_BYTES:
        return Finding(
            "artifacts",
            Status.WARNING,
            f"{where}: writable, only {_size(free)} free",
            "free space on that disk or move ARTIFACT_ROOT to a larger one: uploads fail "
            "when it is full",
        )
    return Finding("artifacts", Status.OK, f"{where}: writable, {_size(free)} free")


async def _check_object_store(settings: Settings) -> Finding:
    store = open_artifact_store(settings)
    assert isinstance(store, ObjectArtifactStore)
    try:
        await asyncio.wait_for(store.probe(), CONNECT_TIMEOUT_SECONDS * 3)
    except (ObjectStoreUnreachable, TimeoutError) as exc:
        endpoint = settings.artifact_s3_endpoint_url
        return Finding(
            "artifacts",
            Status.ERROR,
            f"ARTIFACT_ROOT={settings.artifact_root}: the store cannot be reached: "
            f"{exc or 'no answer in time'}",
            "check the bucket's name and the credentials in the environment"
            + (f", and ARTIFACT_S3_ENDPOINT_URL={endpoint}" if endpoint else ""),
        )
    return Finding("artifacts", Status.OK, f"{settings.artifact_root}: the store answers")


def check_auth(settings: Settings) -> Finding:
    """Whether requests need an API key, and a warning when the server is open to a network."""
    host, setting = settings.host, settings.auth_enabled
    if setting is False and not is_loopback(host):
        return Finding(
            "auth",
            Status.WARNING,
            f"off (AUTH_ENABLED=false) while HOST={host} is reachable beyond loopback: anyone "
            "who reaches the server can read, change and delete everything",
            "unset AUTH_ENABLED (or set it to true), or listen on HOST=127.0.0.1",
        )
    if setting is not None:
        state = "on" if setting else "off"
        return Finding("auth", Status.OK, f"{state} (AUTH_ENABLED={str(setting).lower()})")
    if auth_required(setting, (host,)):
        return Finding(
            "auth",
            Status.OK,
            f"on: HOST={host} is reachable beyond loopback, every request needs an API key",
        )
    return Finding(
        "auth",
        Status.OK,
        f"off: HOST={host} is loopback only (it is on for any request that "
        "arrives on another address)",
    )
