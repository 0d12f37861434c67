"""The query client: experiments, runs, search and metric histories, as typed records.

```python
client = mltrail.Client("http://tracker:8000")
for run in client.search("metrics.acc > 0.9", experiment_ids=[...], order_by=["metrics.acc DESC"]):
    print(run.name, run.metrics["acc"].value)
history = client.metric_history(run.id, "loss").to_pandas()
client.download_artifact(run.id, "model.pt", "restored/")
```

Managing users and API keys (`client.users`, `client.keys`) needs an admin's key.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mltrail import artifacts
from mltrail.config import Settings, current_settings
from mltrail.encoding import param_value
from mltrail.errors import Conflict, InvalidRequest, NotFound
from mltrail.models import (
    ApiKey,
    ArtifactFile,
    Experiment,
    MetricHistory,
    MetricPoint,
    Run,
    RunList,
    User,
)
from mltrail.registry import Models
from mltrail.transport import Transport

__all__ = ["Client", "Experiments", "Grants", "Keys", "Runs", "Users"]

#: The roles a user can have: admins do everything, members write to what they own or were
#: granted, viewers only read.
ROLES = ("admin", "member", "viewer")

PAGE_SIZE = 100
SEARCH_PAGE_SIZE = 1000
MAX_SEARCHED_EXPERIMENTS = 100
HISTORY_PAGE_SIZE = 25_000


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _pages(transport: Transport, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        body = transport.json("GET", path, params={**params, "page": page, "per_page": PAGE_SIZE})
        yield from body["items"]
        if page >= int(body.get("pages") or 0):
            return
        page += 1


class Experiments:
    """`client.experiments`: list, get, create, rename, delete. Wherever an experiment is
    named, its id or its name will do."""

    def __init__(self, transport: Transport, settings: Settings) -> None:
        self._transport = transport
        self._settings = settings

    def list(self, *, owner: str | None = None, status: str | None = None) -> list[Experiment]:
        """Every live experiment (all pages), newest first."""
        items = _pages(self._transport, "/api/v1/experiments", {"owner": owner, "status": status})
        return [Experiment.from_json(item) for item in items]

    def find(self, name: str) -> Experiment | None:
        """The live experiment called `name` (names are case-insensitive), or None."""
        wanted = name.lower()
        body = self._transport.json(
            "GET", "/api/v1/experiments", params={"name": wanted, "per_page": PAGE_SIZE}
        )
        for item in body.get("items", []):
            if str(item.get("name", "")).lower() == wanted:
                return Experiment.from_json(item)
        return None

    def resolve_id(self, id_or_name: str) -> str:
        """The id of the experiment with this id or name; NotFound if there is none."""
        if _is_uuid(id_or_name):
            return id_or_name
        found = self.find(id_or_name)
        if found is None:
            raise NotFound(404, f"No live experiment named {id_or_name!r}")
        return found.id

    def get(self, id_or_name: str) -> Experiment:
        """One experiment with its most recent runs."""
        experiment_id = self.resolve_id(id_or_name)
        return Experiment.from_json(
            self._transport.json("GET", f"/api/v1/experiments/{experiment_id}")
        )

    def create(
        self, name: str, *, owner: str | None = None, description: str | None = None
    ) -> Experiment:
        """Create an experiment (Conflict if the name is taken). On a server with auth the
        API key's user owns it (an admin may name another existing user as `owner`); on one
        without, `owner` defaults to `MLTRAIL_USER`, else the login name."""
        body: dict[str, Any] = {"name": name}
        if owner is not None:
            body["owner"] = owner
        elif not self._server_knows_the_user():
            # A server without auth knows no user: the login name is the best guess of who.
            body["owner"] = self._settings.user
        if description is not None:
            body["description"] = description
        return Experiment.from_json(self._transport.json("POST", "/api/v1/experiments", json=body))

    def _server_knows_the_user(self) -> bool:
        """Whether the server tells who the caller is (auth on, and a key sent). A key sent
        to a server without auth names nobody, so that is asked rather than assumed."""
        if not self._settings.api_key:
            return False
        me: dict[str, Any] = self._transport.json("GET", "/api/v1/me")
        return bool(me.get("authenticated", True))

    def get_or_create(self, name: str, *, owner: str | None = None) -> Experiment:
        """The experiment called `name`, created if there is none. Safe against another
        process creating it at the same moment."""
        found = self.find(name)
        if found is not None:
            return found
        try:
            return self.create(name, owner=owner)
        except Conflict:
            found = self.find(name)  # somebody else created it between our look-up and create
            if found is None:
                raise
            return found

    def rename(self, id_or_name: str, new_name: str) -> Experiment:
        """Give an experiment a new name (Conflict if taken)."""
        experiment_id = self.resolve_id(id_or_name)
        return Experiment.from_json(
            self._transport.json(
                "PATCH", f"/api/v1/experiments/{experiment_id}", json={"name": new_name}
            )
        )

    def delete(self, id_or_name: str, *, purge: bool = False) -> None:
        """Delete an experiment and its runs: soft by default, for good with `purge=True`."""
        experiment_id = self.resolve_id(id_or_name)
        self._transport.request(
            "DELETE",
            f"/api/v1/experiments/{experiment_id}",
            params={"purge": "true" if purge else None},
        )


class Runs:
    """`client.runs`: list, get, create, update, delete, and synchronous logging."""

    def __init__(self, transport: Transport, experiments: Experiments) -> None:
        self._transport = transport
        self._experiments = experiments

    def list(self, experiment: str) -> RunList:
        """Every live run of an experiment (id or name), most recently started first."""
        experiment_id = self._experiments.resolve_id(experiment)
        items = _pages(self._transport, f"/api/v1/experiments/{experiment_id}/runs", {})
        return RunList(Run.from_json(item) for item in items)

    def get(self, run_id: str) -> Run:
        """One run with its params, tags and metric summaries."""
        return Run.from_json(self._transport.json("GET", f"/api/v1/runs/{run_id}"))

    def create(
        self,
        experiment: str,
        *,
        name: str | None = None,
        user: str | None = None,
        description: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        """Start a run (status `running`) in an experiment (id or name), with `tags`."""
        experiment_id = self._experiments.resolve_id(experiment)
        body = {
            k: v
            for k, v in {
                "name": name,
                "user": user,
                "description": description,
                "parent_run_id": parent_run_id,
                "tags": dict(tags) if tags else None,
            }.items()
            if v is not None
        }
        response = self._transport.json(
            "POST", f"/api/v1/experiments/{experiment_id}/runs", json=body
        )
        return Run.from_json(response)

    def update(self, run_id: str, **fields: Any) -> Run:
        """Change a run's `status`, `name`, `description` or `ended_at`."""
        return Run.from_json(self._transport.json("PATCH", f"/api/v1/runs/{run_id}", json=fields))

    def delete(self, run_id: str, *, purge: bool = False) -> None:
        """Delete a run: soft by default, for good with `purge=True`."""
        self._transport.request(
            "DELETE", f"/api/v1/runs/{run_id}", params={"purge": "true" if purge else None}
        )

    def log_batch(
        self,
        run_id: str,
        *,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
    ) -> None:
        """Set params and tags now, all or nothing (Conflict names a param that already has
        another value). Metric points go through `ActiveRun.log`."""
        body = {
            "params": {k: param_value(v) for k, v in (params or {}).items()},
            "tags": {k: param_value(v) for k, v in (tags or {}).items()},
        }
        if body["params"] or body["tags"]:
            self._transport.request("POST", f"/api/v1/runs/{run_id}/batch", json=body)


class Users:
    """`client.users`: list, create, change and delete users (admins only)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def list(self) -> list[User]:
        """Every user, by name."""
        return [User.from_json(item) for item in self._transport.json("GET", "/api/v1/users")]

    def get(self, id_or_name: str) -> User:
        """The user with this id or name; NotFound if there is none."""
        for user in self.list():
            if id_or_name in (user.id, user.name):
                return user
        raise NotFound(404, f"No user named {id_or_name!r}")

    def create(self, name: str, *, role: str = "member") -> User:
        """Create a user (Conflict if the name is taken). `role`: admin, member or viewer."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        body = {"name": name, "role": role}
        return User.from_json(self._transport.json("POST", "/api/v1/users", json=body))

    def update(
        self, id_or_name: str, *, role: str | None = None, disabled: bool | None = None
    ) -> User:
        """Change a user's role and/or disable (`disabled=True`) or enable it. A disabled
        user's keys are refused but kept. Conflict if no active admin would be left."""
        if role is not None and role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        body = {
            name: value
            for name, value in (("role", role), ("disabled", disabled))
            if value is not None
        }
        if not body:
            raise ValueError("give role or disabled")
        user_id = id_or_name if _is_uuid(id_or_name) else self.get(id_or_name).id
        return User.from_json(self._transport.json("PATCH", f"/api/v1/users/{user_id}", json=body))

    def delete(self, id_or_name: str) -> dict[str, Any]:
        """Delete a user and its keys and grants; the experiments it owned pass to the admin
        calling. Returns `{"id", "name", "keys_deleted", "experiments_transferred",
        "new_owner"}`. Conflict for the caller itself or the last active admin."""
        user_id = id_or_name if _is_uuid(id_or_name) else self.get(id_or_name).id
        body: dict[str, Any] = self._transport.json("DELETE", f"/api/v1/users/{user_id}")
        return body


class Grants:
    """`client.grants`: who may write to an experiment it does not own (managed by the
    experiment's owner or an admin)."""

    def __init__(self, transport: Transport, experiments: Experiments, users: Users) -> None:
        self._transport = transport
        self._experiments = experiments
        self._users = users

    def _path(self, experiment: str) -> str:
        return f"/api/v1/experiments/{self._experiments.resolve_id(experiment)}/grants"

    def _user_id(self, user: str) -> str:
        return user if _is_uuid(user) else self._users.get(user).id

    def list(self, experiment: str) -> list[dict[str, Any]]:
        """The grantees of an experiment (id or name), oldest grant first: `{"user_id",
        "name", "role", "granted_at"}` each."""
        body: list[dict[str, Any]] = self._transport.json("GET", self._path(experiment))
        return body

    def add(self, experiment: str, user: str) -> None:
        """Let `user` (id, or name: resolving a name needs an admin's key) write to the
        experiment and its runs."""
        body = {"user_id": self._user_id(user)}
        self._transport.request("POST", self._path(experiment), json=body)

    def revoke(self, experiment: str, user: str) -> None:
        """Take `user`'s grant back; NotFound if it has none."""
        self._transport.request("DELETE", f"{self._path(experiment)}/{self._user_id(user)}")


class Keys:
    """`client.keys`: create, list and revoke API keys (admins only)."""

    def __init__(self, transport: Transport, users: Users) -> None:
        self._transport = transport
        self._users = users

    def create(self, user: str, *, name: str = "default") -> ApiKey:
        """A new key for a user (id or name), labelled `name`. The returned key's `key` is
        the secret: the server shows it this once and keeps only its hash."""
        user_id = user if _is_uuid(user) else self._users.get(user).id
        response = self._transport.json(
            "POST", f"/api/v1/users/{user_id}/keys", json={"name": name}
        )
        return ApiKey.from_json(response)

    def list(self, *, user: str | None = None) -> list[ApiKey]:
        """Every key (only `user`'s when given: id or name), oldest first, revoked ones
        included; never their secrets."""
        user_id = None
        if user is not None:
            user_id = user if _is_uuid(user) else self._users.get(user).id
        body = self._transport.json("GET", "/api/v1/keys", params={"user_id": user_id})
        return [ApiKey.from_json(item) for item in body]

    def resolve_id(self, id_or_prefix: str) -> str:
        """The id of the key with this id, or of the one live key that `id_or_prefix` names
        by its first characters (the PREFIX column of `mltrail keys ls`) or whole secret."""
        if _is_uuid(id_or_prefix):
            return id_or_prefix
        matches = [
            key
            for key in self.list()
            if not key.revoked
            and key.prefix
            and (key.prefix.startswith(id_or_prefix) or id_or_prefix.startswith(key.prefix))
        ]
        if len(matches) != 1:
            found = "no live key" if not matches else f"{len(matches)} live keys"
            raise NotFound(404, f"{found} with the id or prefix {id_or_prefix!r}")
        return matches[0].id

    def revoke(self, id_or_prefix: str) -> ApiKey:
        """Revoke a key (by id, or by its prefix): it stops working at once."""
        key_id = self.resolve_id(id_or_prefix)
        return ApiKey.from_json(self._transport.json("DELETE", f"/api/v1/keys/{key_id}"))


class Client:
    """Reads and manages what the server holds. Arguments left out come from `init()` or
    the environment; `give_up_after` bounds the seconds spent retrying an unanswered request."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        give_up_after: float | None = None,
        timeout: float | None = None,
    ) -> None:
        self.settings = current_settings(
            url=url, api_key=api_key, give_up_after=give_up_after, timeout=timeout
        )
        self._transport = Transport(self.settings)
        self.experiments = Experiments(self._transport, self.settings)
        self.runs = Runs(self._transport, self.experiments)
        self.users = Users(self._transport)
        self.keys = Keys(self._transport, self.users)
        self.grants = Grants(self._transport, self.experiments, self.users)
        self.models = Models(self._transport)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.settings.url

    def health(self) -> dict[str, Any]:
        """The server's `/health` answer (status and version)."""
        body: dict[str, Any] = self._transport.json("GET", "/health")
        return body

    def me(self) -> dict[str, Any]:
        """Who the API key belongs to: `{"name", "role", "authenticated"}` (`authenticated`
        is False when the server runs without authentication)."""
        body: dict[str, Any] = self._transport.json("GET", "/api/v1/me")
        return body

    def gc(
        self,
        *,
        older_than_seconds: float = 0,
        run_ids: Sequence[str] | None = None,
        experiment_ids: Sequence[str] | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Purge for good soft-deleted runs and experiments (admins only): those deleted at
        least `older_than_seconds` ago, or only those named. The server's report:
        `{"dry_run", "ran", "purged": [...], "kept": [...]}`, each item with `kind`, `id`,
        `experiment_id`, `name`, `deleted_at` and (kept) `kept_because`."""
        request: dict[str, Any] = {"dry_run": dry_run, "older_than_seconds": older_than_seconds}
        if run_ids is not None:
            request["run_ids"] = list(run_ids)
        if experiment_ids is not None:
            request["experiment_ids"] = list(experiment_ids)
        body: dict[str, Any] = self._transport.json("POST", "/api/v1/admin/gc", json=request)
        return body

    def search(
        self,
        filter: str = "",
        experiment_ids: Sequence[str] | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> RunList:
        """Runs matching a filter (`metrics.acc > 0.9 AND params.lr = '0.01'`), in the given
        experiments (ids or names; all experiments when None), ordered by `order_by`
        clauses (`metrics.acc DESC`), at most `max_results`, following pages as needed.
        The result's `next_page_token` continues the search where it stopped."""
        if experiment_ids is None:
            ids = [experiment.id for experiment in self.experiments.list()]
        else:
            ids = [self.experiments.resolve_id(e) for e in experiment_ids]
        if len(ids) > MAX_SEARCHED_EXPERIMENTS:
            raise InvalidRequest(
                422,
                f"a search covers at most {MAX_SEARCHED_EXPERIMENTS} experiments and "
                f"{len(ids)} were named; pass fewer experiment_ids",
            )
        runs = RunList()
        if not ids:
            return runs
        token = page_token
        while len(runs) < max_results:
            body = {
                "experiment_ids": ids,
                "filter": filter,
                "order_by": list(order_by or []),
                "max_results": min(SEARCH_PAGE_SIZE, max_results - len(runs)),
                "page_token": token,
            }
            page = self._transport.json("POST", "/api/v1/runs/search", json=body)
            runs.extend(Run.from_json(item) for item in page.get("runs", []))
            token = page.get("next_page_token")
            if not token:
                break
        runs.next_page_token = token
        return runs

    def metric_history(self, run_id: str, key: str) -> MetricHistory:
        """Every point of one metric of a run (following the server's cursor)."""
        points: list[MetricPoint] = []
        cursor: str | None = None
        while True:
            page = self._transport.json(
                "GET",
                f"/api/v1/runs/{run_id}/metrics/history",
                params={"key": key, "cursor": cursor, "limit": HISTORY_PAGE_SIZE},
            )
            points.extend(MetricPoint.from_json(p) for p in page.get("points", []))
            cursor = page.get("next_cursor")
            if not cursor:
                return MetricHistory(run_id=run_id, key=key, points=points)

    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactFile:
        """Upload a file as `<artifact_path>/<its name>` among the run's artifacts (streamed
        from disk; replaces a file at that path)."""
        return artifacts.upload_file(self._transport, run_id, local_path, artifact_path)

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactFile]:
        """Upload every file under a directory, keeping their relative paths, under
        `artifact_path` (the run's root by default)."""
        return artifacts.upload_directory(self._transport, run_id, local_dir, artifact_path)

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[ArtifactFile]:
        """The files and directories directly under `path` among the run's artifacts (the
        root by default). Their paths are relative to the run's root."""
        return artifacts.list_artifacts(self._transport, run_id, path)

    def download_artifact(self, run_id: str, path: str, dest: str | os.PathLike[str]) -> Path:
        """Download an artifact (a file, or a directory with what is under it) to `dest`,
        streamed to disk: into `dest` if it ends with `/` or is an existing directory
        (`"restored/"` -> `restored/model.pt`), else as `dest`. Returns the path written."""
        return artifacts.download_artifact(self._transport, run_id, path, dest)

    def close(self) -> None:
        """Close the connections."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
