"""MLflow's run rules over the v1 run services: creation with MLflow's system tags, updates,
soft delete and restore, reads that include deleted runs, and search.

- A run is named by `run_name`, else by its `mlflow.runName` tag, else with a generated
  adjective-noun-NNN name; both given and different is a 400. The tag always mirrors the name.
- `mlflow.parentRunId` also sets the v1 `parent_run_id` when the parent is a live run of the
  same experiment; `mlflow.note.content` is the v1 description (the one place it lives).
- A run in an experiment with a custom `artifact_location` stores its artifact URI; other runs
  use `mlflow-artifacts:/<experiment>/<run>/artifacts` (computed, so v1 runs have one too).
"""

import secrets
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail.encoding import check_key
from mltrail_server.db.repositories import runs as repo
from mltrail_server.db.repositories import tracking as tracking_repo
from mltrail_server.db.tables import ACTIVE, DELETED
from mltrail_server.db.tables import Run as RunRow
from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.mlflow import render, wire
from mltrail_server.mlflow.errors import invalid_type, max_results_not_positive, missing_value
from mltrail_server.mlflow.services.experiments import MlflowExperimentService
from mltrail_server.mlflow.translate import (
    DEFAULT_EXPERIMENT_ID,
    FROM_MLFLOW_STATUS,
    PARENT_RUN_TAG,
    RUN_NAME_TAG,
    experiment_id_in,
    from_ms,
    run_id_in,
)
from mltrail_server.models.run import RunCreate, RunStatus, RunUpdate
from mltrail_server.models.run_search import RunSearch, RunView
from mltrail_server.models.tracking import MAX_TAG_VALUE_LENGTH
from mltrail_server.services.cache import Cache
from mltrail_server.services.run_records import load_records
from mltrail_server.services.run_search import RunSearchService
from mltrail_server.services.runs import RunService

MAX_RUN_NAME_LENGTH = 250
MAX_USER_LENGTH = 255
MAX_SEARCH_RESULTS = 50_000
VIEWS = {
    wire.ViewType.ACTIVE_ONLY: RunView.ACTIVE,
    wire.ViewType.DELETED_ONLY: RunView.DELETED,
    wire.ViewType.ALL: RunView.ALL,
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ADJECTIVES = _words(
    "able bold brave bright calm clever cool eager fair fast fine gentle glad grand happy keen "
    "kind lucky mellow merry neat nimble polite proud quick quiet rare sharp shy silent smart "
    "sly spry steady sunny swift tidy upbeat vivid warm wise witty zealous"
)
_NOUNS = _words(
    "ant bass bat bear bee bird boar cat colt crab crane crow deer dog dove duck eagle eel "
    "elk finch fish foal fox frog goat goose hare hawk hen horse jay koala lamb lark lion "
    "mole moth mouse newt owl ox panda pig puma ram rat robin seal shark sheep snail squid "
    "stork swan tiger toad trout whale wolf wren yak"
)


def generated_run_name() -> str:
    """A name in MLflow's style, e.g. `gentle-horse-382`."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000):03d}"


def run_not_found(run_id: str) -> NotFound:
    return NotFound(f"Run with id={run_id} not found")


def run_ref(ref: wire.RunRef) -> tuple[uuid.UUID, str]:
    """The run a request names (`run_id`, or the older `run_uuid`), and the id as sent."""
    text = ref.run_id or ref.run_uuid
    if not text:
        raise InvalidInput(missing_value("run_id"))
    run_id = run_id_in(text)
    if run_id is None:
        raise run_not_found(text)
    return run_id, text


def check_run_name(name: str) -> str:
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise InvalidInput(
            f"Invalid run name: at most {MAX_RUN_NAME_LENGTH} characters (got {len(name)})."
        )
    return name


@dataclass
class MlflowRunService:
    session: AsyncSession
    cache: Cache
    cache_ttl: int

    async def create(self, request: wire.CreateRun) -> wire.Run:
        experiments = MlflowExperimentService(self.session, self.cache, self.cache_ttl)
        experiment = await experiments.active_row(request.experiment_id or DEFAULT_EXPERIMENT_ID)
        tags: dict[str, str] = {}
        for tag in request.tags:
            tags[check_key(tag.key, "tag")] = tag.value[:MAX_TAG_VALUE_LENGTH]
        tagged_name = tags.get(RUN_NAME_TAG)
        if request.run_name and tagged_name and request.run_name != tagged_name:
            raise InvalidInput(
                f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{request.run_name}', "
                f"mlflow.runName='{tagged_name}')."
            )
        name = check_run_name(request.run_name or tagged_name or generated_run_name())
        tags[RUN_NAME_TAG] = name
        data = RunCreate.model_construct(
            name=name,
            user=(request.user_id or None) and request.user_id[:MAX_USER_LENGTH],
            description=None,  # the note tag among `tags` is the description
            parent_run_id=await self._parent(tags.get(PARENT_RUN_TAG), experiment.id),
            started_at=None
            if request.start_time is None
            else from_ms(request.start_time, "start_time"),
            params={},
            tags=tags,
        )
        row = await self._v1().add_run(experiment.id, data)
        if experiment.artifact_location:
            uri = f"{experiment.artifact_location.rstrip('/')}/{row.id.hex}/artifacts"
            await repo.set_artifact_uri(self.session, row, uri)
        created = (await self.render([row]))[0]
        created.outputs = None  # MLflow's runs/create answers no `outputs`
        return created

    async def get(self, ref: wire.RunRef) -> wire.Run:
        run_id, text = run_ref(ref)
        row = await repo.get_any(self.session, run_id)
        if row is None:
            raise run_not_found(text)
        return (await self.render([row]))[0]

    async def update(self, request: wire.UpdateRun) -> wire.RunInfo:
        row = await self.active(request)
        changes: dict[str, Any] = {}
        if request.status is not None:
            changes["status"] = FROM_MLFLOW_STATUS[request.status.value]
        if request.end_time is not None:
            changes["ended_at"] = from_ms(request.end_time, "end_time")
        if request.run_name:
            changes["name"] = check_run_name(request.run_name)
        if changes.get("status") not in (
            None,
            RunStatus.COMPLETED,
            RunStatus.FAILED,
            RunStatus.KILLED,
        ):
            changes.pop("ended_at", None)  # resuming: the end time goes
        updated = await self._v1().change_run(row.id, RunUpdate.model_construct(**changes))
        if request.run_name:
            await tracking_repo.set_tags(self.session, row.id, {RUN_NAME_TAG: request.run_name})
        return render.run_info(updated)

    async def delete(self, ref: wire.RunRef) -> None:
        run_id, text = run_ref(ref)
        row = await repo.get_any(self.session, run_id)
        if row is None:
            raise run_not_found(text)
        if row.lifecycle == ACTIVE:
            await self._in_live_experiment(self._v1().delete_run(run_id, purge=False), text)

    async def restore(self, ref: wire.RunRef) -> None:
        run_id, text = run_ref(ref)
        row = await repo.get_any(self.session, run_id)
        if row is None:
            raise run_not_found(text)
        if row.lifecycle != ACTIVE:
            await self._in_live_experiment(self._v1().restore_run(run_id), text)

    async def search(self, request: wire.SearchRuns) -> dict[str, Any]:
        """The JSON of a `SearchRunsResponse`, as plain dicts (render.run_json)."""
        if request.max_results > MAX_SEARCH_RESULTS:
            # MLflow's handler checks the bound (a type-style message), its store the sign.
            raise InvalidInput(invalid_type("max_results", request.max_results))
        if request.max_results < 1:
            raise InvalidInput(max_results_not_positive(request.max_results))
        experiment_ids = [
            experiment_id_in(text, "experiment_ids") for text in request.experiment_ids
        ]
        if not experiment_ids:
            return {}  # as MLflow's server writes it: an empty list is left out
        # Validated here against MLflow's limits, not v1's (larger pages, more experiments).
        search = RunSearch.model_construct(
            experiment_ids=experiment_ids,
            filter=request.filter,
            order_by=list(request.order_by),
            max_results=request.max_results,
            page_token=request.page_token or None,
            view=VIEWS[request.run_view_type],
        )
        page = await RunSearchService(self.session).search(search, links=True)
        runs = page.runs
        body = wire.present(
            {
                "runs": [
                    render.run_json(row, runs.data[row.id], runs.links.get(row.id, ()))
                    for row in runs.rows
                ]
            }
        )
        if page.next_page_token is not None:
            body["next_page_token"] = page.next_page_token
        return body

    async def render(self, rows: Sequence[RunRow]) -> list[wire.Run]:
        return [render.run(record) for record in await load_records(self.session, rows, links=True)]

    async def active(self, ref: wire.RunRef) -> RunRow:
        """The run a request names, which must be active (MLflow: 400 for a deleted run)."""
        return await active_row(self.session, *run_ref(ref))

    async def _parent(self, text: str | None, experiment_id: uuid.UUID) -> uuid.UUID | None:
        parent_id = run_id_in(text) if text else None
        if parent_id is None:
            return None
        parent = await repo.get(self.session, parent_id)
        return parent_id if parent is not None and parent.experiment_id == experiment_id else None

    async def _in_live_experiment(self, operation: Awaitable[object], text: str) -> None:
        """Run a v1 operation, which refuses runs of deleted experiments: MLflow's 400."""
        try:
            await operation
        except NotFound:
            raise InvalidInput(
                f"The run {text} belongs to a deleted experiment; restore the experiment first."
            ) from None

    def _v1(self) -> RunService:
        return RunService(self.session, self.cache)


async def active_row(session: AsyncSession, run_id: uuid.UUID, text: str) -> RunRow:
    """The run `run_id` (sent as `text`): 404 when missing, MLflow's 400 when not active."""
    row = await repo.get_any(session, run_id)
    if row is None:
        raise run_not_found(text)
    if row.lifecycle != ACTIVE:
        raise inactive(text, row.lifecycle)
    return row


def inactive(run_id: str, lifecycle: str = DELETED) -> InvalidInput:
    return InvalidInput(
        f"The run {run_id} must be in the 'active' state. Current state is {lifecycle}."
    )
