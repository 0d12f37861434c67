"""The query client: experiments, runs, search and metric histories, as typed records.

```python
client = exptrack.Client("http://tracker:8000")
for run in client.search("metrics.acc > 0.9", experiment_ids=[...], order_by=["metrics.acc DESC"]):
    print(run.name, run.metrics["acc"].value)
history = client.metric_history(run.id, "loss").to_pandas()
```
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from exptrack.config import Settings, current_settings
from exptrack.encoding import param_value
from exptrack.errors import Conflict, InvalidRequest, NotFound
from exptrack.models import Experiment, MetricHistory, MetricPoint, Run, RunList
from exptrack.transport import Transport

__all__ = ["Client", "Experiments", "Runs"]

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
        """Create an experiment (Conflict if the name is taken). `owner` defaults to
        `EXPTRACK_USER`, else the login name."""
        body: dict[str, Any] = {"name": name, "owner": owner or self._settings.user}
        if description is not None:
            body["description"] = description
        return Experiment.from_json(self._transport.json("POST", "/api/v1/experiments", json=body))

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
    ) -> Run:
        """Start a run (status `running`) in an experiment (id or name)."""
        experiment_id = self._experiments.resolve_id(experiment)
        body = {
            k: v
            for k, v in {
                "name": name,
                "user": user,
                "description": description,
                "parent_run_id": parent_run_id,
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

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.settings.url

    def health(self) -> dict[str, Any]:
        """The server's `/health` answer (status and version)."""
        body: dict[str, Any] = self._transport.json("GET", "/health")
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

    def close(self) -> None:
        """Close the connections."""
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
