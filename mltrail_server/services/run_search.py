"""Run search rules: the filter and `order_by` are parsed (a syntax error names its position),
status values are accepted in MLflow's spelling and ours, and pages are chained by an opaque
token that is only good for the search that issued it."""

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import run_search as repo
from mltrail_server.db.tables import ACTIVE, DELETED
from mltrail_server.errors import InvalidInput
from mltrail_server.models.run import RunStatus
from mltrail_server.models.run_search import RunSearch, RunView
from mltrail_server.search import (
    RUNS,
    And,
    Comparison,
    Expr,
    Or,
    decode_page_token,
    encode_page_token,
    like_regex,
    read_filter,
    read_order_by,
    search_fingerprint,
)
from mltrail_server.services.run_records import RunPage, load_page, v1_run

__all__ = ["RecordPage", "RunSearchService"]

_LIFECYCLES: dict[RunView, str | None] = {
    RunView.ACTIVE: ACTIVE,
    RunView.DELETED: DELETED,
    RunView.ALL: None,
}
# Each status under the names a filter may use: MLflow's (as its client sends them) and ours.
_STATUS_NAMES: dict[RunStatus, tuple[str, ...]] = {
    RunStatus.RUNNING: ("RUNNING", "running"),
    RunStatus.SCHEDULED: ("SCHEDULED", "scheduled"),
    RunStatus.COMPLETED: ("FINISHED", "completed"),
    RunStatus.FAILED: ("FAILED", "failed"),
    RunStatus.KILLED: ("KILLED", "killed"),
}
_STATUS_BY_NAME = {name: status for status, names in _STATUS_NAMES.items() for name in names}
_SAME_SEARCH = "experiment_ids, filter, order_by and view"


@dataclass(frozen=True)
class RecordPage:
    """One page of matching runs, as read (both APIs render them)."""

    runs: RunPage
    next_page_token: str | None


@dataclass
class RunSearchService:
    session: AsyncSession

    async def search_runs(self, search: RunSearch) -> dict[str, Any]:
        """The v1 search: the JSON of a `RunSearchResult` (a page of `Run`), as plain dicts."""
        page = await self.search(search)
        runs = page.runs
        return {
            "runs": [v1_run(row, runs.data[row.id]) for row in runs.rows],
            "next_page_token": page.next_page_token,
        }

    async def search(self, search: RunSearch, *, links: bool = False) -> RecordPage:
        """One page of matching runs; `links` also loads their inputs and outputs."""
        parsed = read_filter(search.filter, RUNS)
        where = None if parsed is None else _resolve(parsed)
        order_by = read_order_by(search.order_by, RUNS)
        experiment_ids = sorted(set(search.experiment_ids))
        # What a page token is tied to: the same runs in the same order (page size may change).
        fingerprint = search_fingerprint(
            [str(experiment_id) for experiment_id in experiment_ids],
            search.view.value,
            where,
            order_by,
        )
        offset = decode_page_token(search.page_token, fingerprint, same=_SAME_SEARCH)
        rows = await repo.search_runs(
            self.session,
            experiment_ids=experiment_ids,
            lifecycle=_LIFECYCLES[search.view],
            where=where,
            order_by=order_by,
            offset=offset,
            limit=search.max_results + 1,  # one more tells whether there is a next page
        )
        page = rows[: search.max_results]
        next_token = (
            encode_page_token(offset + len(page), fingerprint)
            if len(rows) > search.max_results
            else None
        )
        return RecordPage(await load_page(self.session, page, links=links), next_token)


def _resolve(expr: Expr) -> Expr:
    """Reject what search cannot do yet, and turn status names into the stored values."""
    if isinstance(expr, And | Or):
        return type(expr)(tuple(_resolve(item) for item in expr.items))
    if expr.entity == "dataset":
        raise InvalidInput(
            f"filter: datasets.{expr.key} is not supported yet; filter on metrics., params., "
            "tags. or attributes."
        )
    if expr.entity == "attribute" and expr.key == "status":
        return _resolve_status(expr)
    return expr


def _resolve_status(clause: Comparison) -> Comparison:
    """`status = 'FINISHED'` and `status = 'completed'` both become `status IN ('completed')`;
    LIKE and ILIKE match either name of a status."""
    assert isinstance(clause.value, str)
    if clause.op in ("LIKE", "ILIKE"):
        pattern = like_regex(clause.value, ignore_case=clause.op == "ILIKE")
        statuses = [
            status
            for status, names in _STATUS_NAMES.items()
            if any(pattern.fullmatch(name) for name in names)
        ]
        return replace(clause, op="IN", value=tuple(statuses))
    status = _STATUS_BY_NAME.get(clause.value)
    if status is None:
        allowed = ", ".join(name for names in _STATUS_NAMES.values() for name in names)
        raise InvalidInput(f"filter: unknown run status {clause.value!r}; allowed: {allowed}")
    return replace(clause, op="IN" if clause.op == "=" else "NOT IN", value=(status.value,))
