"""Reads only MLflow's own UI makes (under `/ajax-api`): the older bulk metric history and the
dataset summaries of experiments (the runs table's dataset filter)."""

import json
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import tracking as tracking_repo
from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.mlflow import wire
from mltrail_server.mlflow.errors import max_results_not_positive
from mltrail_server.mlflow.services.runs import run_not_found
from mltrail_server.mlflow.translate import experiment_id_in, experiment_id_out, run_id_in
from mltrail_server.models.metric_history import MAX_PAGE_SIZE, HistoryQuery
from mltrail_server.services.cache import Cache
from mltrail_server.services.metric_history import MetricHistoryService

MAX_BULK_HISTORY_RUNS = 100
MAX_DATASET_EXPERIMENTS = 20
MAX_DATASET_SUMMARIES = 1000
DATASET_CONTEXT_TAG = "mlflow.data.context"


@dataclass
class MlflowUiReadService:
    session: AsyncSession
    cache: Cache

    async def metric_history_bulk(
        self, request: wire.GetMetricHistoryBulk
    ) -> wire.MetricHistoryBulkResponse:
        """Each run's series (up to 25,000 points, by time, then step, then value), runs in
        id order, every point with its `run_id`."""
        if not request.run_id:
            raise InvalidInput("GetMetricHistoryBulk request must specify at least one run_id.")
        if len(request.run_id) > MAX_BULK_HISTORY_RUNS:
            raise InvalidInput(
                f"GetMetricHistoryBulk request cannot specify more than {MAX_BULK_HISTORY_RUNS}"
                f" run_ids. Received {len(request.run_id)} run_ids."
            )
        if request.metric_key is None:
            raise InvalidInput("GetMetricHistoryBulk request must specify a metric_key.")
        limit = min(request.max_results or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        if limit <= 0:
            raise InvalidInput(max_results_not_positive(limit, period="."))
        history = MetricHistoryService(self.session)
        metrics: list[wire.MetricWithRunId] = []
        for text in sorted(request.run_id):
            run_id = run_id_in(text)
            query = HistoryQuery.model_construct(
                key=request.metric_key, limit=limit, cursor=None, start_step=None, end_step=None
            )
            try:
                # MLflow reads a deleted run's history too (runs/get shows deleted runs).
                page = (
                    await history.history(run_id, query, include_deleted=True) if run_id else None
                )
            except NotFound:
                page = None
            if page is None:
                raise run_not_found(text)
            points = sorted(page.points, key=lambda p: (p["timestamp"], p["step"], p["value"]))
            metrics += [
                wire.MetricWithRunId.model_construct(
                    key=request.metric_key,
                    value=p["value"],
                    timestamp=p["timestamp"],
                    step=p["step"],
                    run_id=text,
                )
                for p in points
            ]
        return wire.MetricHistoryBulkResponse(metrics=metrics)

    async def search_datasets(self, request: wire.SearchDatasets) -> wire.SearchDatasetsResponse:
        """The distinct (experiment, name, digest, context) of the datasets the experiments'
        runs used; the context is the input's `mlflow.data.context` tag."""
        if not request.experiment_ids:
            raise InvalidInput("SearchDatasets request must specify at least one experiment_id.")
        if len(request.experiment_ids) > MAX_DATASET_EXPERIMENTS:
            raise InvalidInput(
                f"SearchDatasets request cannot specify more than {MAX_DATASET_EXPERIMENTS}"
                f" experiment_ids. Received {len(request.experiment_ids)} experiment_ids."
            )
        experiment_ids = [experiment_id_in(t, "experiment_ids") for t in request.experiment_ids]
        links = await tracking_repo.dataset_inputs_of_experiments(
            self.session, experiment_ids, limit=MAX_DATASET_SUMMARIES * 10
        )
        seen: dict[tuple[str, str, str, str | None], wire.DatasetSummary] = {}
        for experiment_id, payload in links:
            stored = json.loads(payload)
            dataset = stored.get("dataset", {})
            tags = {tag.get("key"): tag.get("value") for tag in stored.get("tags", [])}
            summary = wire.DatasetSummary(
                experiment_id=experiment_id_out(experiment_id),
                name=dataset.get("name", ""),
                digest=dataset.get("digest", ""),
                context=tags.get(DATASET_CONTEXT_TAG),
            )
            identity = (summary.experiment_id, summary.name, summary.digest, summary.context)
            seen.setdefault(identity, summary)
            if len(seen) >= MAX_DATASET_SUMMARIES:
                break
        return wire.SearchDatasetsResponse(dataset_summaries=list(seen.values()))
