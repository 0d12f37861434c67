"""`mltrail users ls|create|set-role|disable|enable|rm`, `mltrail keys create|ls|rm` and
`mltrail grants ls|add|rm`: users, API keys and grants, through the API (users and keys
with an admin's key; grants with the experiment owner's or an admin's); and
`mltrail keys create --admin`, which makes a new admin key directly in the server's
database, for when no admin key is at hand (the first one, printed once at the server's
first start, was lost, or every admin was disabled).

A new key is printed alone on stdout (the message about it goes to stderr), so that
`export MLTRAIL_API_KEY=$(mltrail keys create --admin)` works."""

import asyncio
from enum import StrEnum
from typing import Annotated

import typer

from mltrail.cli.context import client
from mltrail.cli.output import JsonOption, fail, format_time, make_table, print_json, stdout
from mltrail.cli.server import DatabaseUrlOption, require_server
from mltrail.models import ApiKey, User

__all__ = ["grants_app", "keys_app", "users_app"]

users_app = typer.Typer(
    help="List, create, change and delete users (needs an admin's key).", no_args_is_help=True
)
grants_app = typer.Typer(
    help="Who may write to an experiment it does not own (needs the owner's or an admin's key).",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="Create, list and revoke API keys (needs an admin's key, except create --admin).",
    no_args_is_help=True,
)

#: The label of a key `keys create --admin` adds for an existing admin.
ADMIN_KEY_NAME = "mltrail keys create --admin"


class Role(StrEnum):
    member = "member"
    viewer = "viewer"
    admin = "admin"


def _users_table(users: list[User]) -> None:
    rows = [(u.id, u.name, u.role, format_time(u.created_at)) for u in users]
    stdout().print(make_table(["ID", "NAME", "ROLE", "CREATED"], rows))


@users_app.command("ls")
def list_users(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List users and their roles."""
    with client(ctx) as api:
        users = api.users.list()
    if as_json:
        print_json(users)
    else:
        _users_table(users)


@users_app.command("create")
def create_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Letters, digits, '_', '.', '@' and '-'.")],
    role: Annotated[
        Role,
        typer.Option(help="admin: everything; member: writes what it owns; viewer: reads."),
    ] = Role.member,
    as_json: JsonOption = False,
) -> None:
    """Create a user; give it a key with `mltrail keys create --user NAME`."""
    with client(ctx) as api:
        user = api.users.create(name, role=role.value)
    if as_json:
        print_json(user)
    else:
        stdout().print(f"Created user {user.name} ({user.role}), id {user.id}.")


UserArgument = Annotated[str, typer.Argument(help="The user's name or id.")]


def _print_user(user: User, message: str, as_json: bool) -> None:
    if as_json:
        print_json(user)
    else:
        stdout().print(message)


@users_app.command("set-role")
def set_role(
    ctx: typer.Context,
    user: UserArgument,
    role: Annotated[Role, typer.Argument(help="admin, member or viewer.")],
    as_json: JsonOption = False,
) -> None:
    """Change a user's role; its keys carry the new role at once (the last active admin
    cannot be demoted)."""
    with client(ctx) as api:
        changed = api.users.update(user, role=role.value)
    _print_user(changed, f"{changed.name} is now {changed.role}.", as_json)


@users_app.command("disable")
def disable_user(ctx: typer.Context, user: UserArgument, as_json: JsonOption = False) -> None:
    """Disable a user: its keys are refused at once, and kept for `users enable`."""
    with client(ctx) as api:
        changed = api.users.update(user, disabled=True)
    _print_user(changed, f"Disabled {changed.name}: its keys are refused.", as_json)


@users_app.command("enable")
def enable_user(ctx: typer.Context, user: UserArgument, as_json: JsonOption = False) -> None:
    """Enable a disabled user: its keys work again."""
    with client(ctx) as api:
        changed = api.users.update(user, disabled=False)
    _print_user(changed, f"Enabled {changed.name}: its keys work again.", as_json)


@users_app.command("rm")
def delete_user(ctx: typer.Context, user: UserArgument, as_json: JsonOption = False) -> None:
    """Delete a user with its keys and grants. The experiments it owned stay, and become
    yours (the admin running this)."""
    with client(ctx) as api:
        deleted = api.users.delete(user)
    if as_json:
        print_json(deleted)
    else:
        stdout().print(
            f"Deleted {deleted['name']} and its {deleted['keys_deleted']} key(s); "
            f"{deleted['experiments_transferred']} experiment(s) now belong to "
            f"{deleted['new_owner']}."
        )


ExperimentArgument = Annotated[str, typer.Argument(help="The experiment's name or id.")]


@grants_app.command("ls")
def list_grants(
    ctx: typer.Context, experiment: ExperimentArgument, as_json: JsonOption = False
) -> None:
    """The users granted write access to an experiment."""
    with client(ctx) as api:
        grants = api.grants.list(experiment)
    if as_json:
        print_json(grants)
    elif not grants:
        stdout().print("No grants.")
    else:
        rows = [(g["user_id"], g["name"], g["role"], g["granted_at"]) for g in grants]
        stdout().print(make_table(["USER ID", "NAME", "ROLE", "GRANTED"], rows))


@grants_app.command("add")
def add_grant(
    ctx: typer.Context,
    experiment: ExperimentArgument,
    user: UserArgument,
    as_json: JsonOption = False,
) -> None:
    """Let a user write to an experiment and its runs."""
    with client(ctx) as api:
        api.grants.add(experiment, user)
    if as_json:
        print_json({"experiment": experiment, "user": user, "granted": True})
    else:
        stdout().print(f"{user} may now write to {experiment}.")


@grants_app.command("rm")
def revoke_grant(
    ctx: typer.Context,
    experiment: ExperimentArgument,
    user: UserArgument,
    as_json: JsonOption = False,
) -> None:
    """Take a user's grant back: its next write to the experiment is refused."""
    with client(ctx) as api:
        api.grants.revoke(experiment, user)
    if as_json:
        print_json({"experiment": experiment, "user": user, "granted": False})
    else:
        stdout().print(f"{user} may no longer write to {experiment}.")


def _print_new_key(
    key: str, user: str, role: str, name: str, as_json: bool, **extra: object
) -> None:
    if as_json:
        print_json({"key": key, "user": user, "role": role, "name": name, **extra})
        return
    typer.echo(
        f"A new API key {name!r} for {user} ({role}); it is shown this once, keep it safe:",
        err=True,
    )
    typer.echo(key)


async def _admin_key_in_database(url: str, name: str) -> dict[str, str]:
    """Migrate, then the server's own rule for an admin key made without the API
    (`AuthService.admin_key`). Returns the key, its id and label, and its user's name."""
    from mltrail_server.db.engine import Database
    from mltrail_server.db.unit_of_work import transaction
    from mltrail_server.services.auth import AuthService

    database = Database(url, pooled=False)
    try:
        await database.migrate()
        async with transaction(database.session()) as session:
            new = await AuthService(session).admin_key(name)
        return {"key": new.raw, "id": str(new.key.id), "name": new.key.name, "user": new.user.name}
    finally:
        await database.dispose()


def _create_admin_key(database_url: str | None, name: str, as_json: bool) -> None:
    require_server()
    from mltrail_server.config import (
        hide_password,
        load_settings,  # uncached, unlike get_settings: reads the env now
    )

    settings = load_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    url = settings.resolved_database_url
    try:
        new = asyncio.run(_admin_key_in_database(url, name))
    except Exception as exc:  # the server's own errors, the driver's: one line, not a trace
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise fail(f"cannot create a key in the database {hide_password(url)}: {reason}") from None
    _print_new_key(new["key"], new["user"], "admin", new["name"], as_json, id=new["id"])


@keys_app.command("create")
def create_key(
    ctx: typer.Context,
    user: Annotated[
        str | None, typer.Option(help="The user (name or id) to create a key for, via the API.")
    ] = None,
    admin: Annotated[
        bool,
        typer.Option(
            "--admin",
            help="Create an admin key directly in the server's database (--database-url), "
            "without the API: for when no admin key is at hand.",
        ),
    ] = False,
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key and print it (once: only its hash is stored).

    --user NAME asks the server, with an admin's key.
    --admin writes to the server's database itself (run it where that is reachable):
    a new key for the first admin; on a fresh database, user `admin` and its first key."""
    if admin == (user is not None):
        raise typer.BadParameter("give either --user NAME or --admin", param_hint="--user/--admin")
    if admin:
        _create_admin_key(database_url, name or ADMIN_KEY_NAME, as_json)
        return
    assert user is not None
    with client(ctx) as api:
        owner = api.users.get(user)
        key = api.keys.create(owner.id, name=name or "default")
    assert key.key is not None
    _print_new_key(key.key, owner.name, owner.role, key.name, as_json, id=key.id)


def _keys_table(keys: list[ApiKey], names: dict[str, str]) -> None:
    rows = [
        (
            k.id,
            names.get(k.user_id, k.user_id),
            k.name,
            f"{k.prefix}...",
            format_time(k.created_at),
            format_time(k.revoked_at),
        )
        for k in keys
    ]
    columns = ["KEY ID", "USER", "NAME", "PREFIX", "CREATED", "REVOKED"]
    stdout().print(make_table(columns, rows))


@keys_app.command("ls")
def list_keys(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option(help="Only this user's keys (name or id).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List API keys, oldest first, revoked ones included (never the keys themselves)."""
    with client(ctx) as api:
        users = api.users.list()
        names = {u.id: u.name for u in users}
        keys = api.keys.list(user=user)
    if as_json:
        print_json(keys)
    elif not keys:
        stdout().print("No keys.")
    else:
        _keys_table(keys, names)


@keys_app.command("rm")
def revoke_key(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(help="The key's id, or its prefix (see keys ls).")],
    as_json: JsonOption = False,
) -> None:
    """Revoke an API key: it stops working at once."""
    with client(ctx) as api:
        key = api.keys.revoke(key_id)
    if as_json:
        print_json(key)
    else:
        stdout().print(f"Revoked key {key.id} ({key.name}, {key.prefix}...).")
