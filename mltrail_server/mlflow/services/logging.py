"""MLflow's logging rules over the v1 tracking service: batch limits, key checks, truncation
of long values, write-once params (MLflow's 400), and the reads of metric history.

- log-batch: at most 1000 metrics, 100 params, 100 tags and 1000 entities in all; duplicate
  param keys are a 400. Param values over 6000 characters and tag values over 8000 are cut
  to that length, as MLflow's server does by default.
- A point is (key, step, timestamp): a re-sent request stores nothing twice. (MLflow keys
  points on the value too; two different values at the same step and timestamp keep the
  first here.)
- Writes need an active run: a deleted run is a 400, a missing one a 404.
- Setting the `mlflow.runName` tag renames the run, as in MLflow.
"""

import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail.encoding import check_key
from mltrail_server.db.repositories import logged_models as models_repo
from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.db.repositories import tracking as repo
from mltrail_server.db.tables import RunLink
from mltrail_server.errors import Conflict, InvalidInput, NotFound
from mltrail_server.mlflow import render, wire
from mltrail_server.mlflow.errors import (
    max_results_not_positive,
    missing_value,
    schema_message,
)
from mltrail_server.mlflow.services.runs import (
    MAX_RUN_NAME_LENGTH,
    active_row,
    run_not_found,
    run_ref,
)
from mltrail_server.mlflow.translate import RUN_NAME_TAG, run_id_in
from mltrail_server.models.metric_history import MAX_PAGE_SIZE, HistoryQuery, RunsHistoryRequest
from mltrail_server.models.run import RunUpdate
from mltrail_server.models.tracking import (
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
)
from mltrail_server.search import encode_cursor
from mltrail_server.services.cache import Cache
from mltrail_server.services.metric_history import MetricHistoryService, decode_history_cursor
from mltrail_server.services.point_writer import PointWriter
from mltrail_server.services.runs import RunService
from mltrail_server.services.tracking import ParamChanged, TrackingService

MAX_METRICS = 1000
MAX_PARAMS_TAGS = 100
MAX_ENTITIES = 1000
MAX_BULK_RUNS = 100
MAX_BULK_RESULTS = 2500
LOG_MODEL_HISTORY_TAG = "mlflow.log-model.history"
# Dataset input limits (MLflow's validation.py).
DATASET_LIMITS = {
    "name": 500,
    "digest": 36,
    "source": 65_535,
    "schema": 1_048_575,
    "profile": 16_777_215,
}
MAX_INPUT_TAG_KEY = 255
MAX_INPUT_TAG_VALUE = 500
MAX_MODEL_ID = 500


def check_metric(metric: wire.MetricIn) -> None:
    check_key(metric.key, "metric")
    if metric.timestamp < 0:
        raise InvalidInput(
            f"Invalid value {metric.timestamp} for parameter 'timestamp' of metric "
            f"{metric.key!r}: it must be a non-negative integer (milliseconds)."
        )


@dataclass
class MlflowLoggingService:
    session: AsyncSession
    cache: Cache
    # The group-commit writer for one point per request (services/point_writer.py).
    writer: PointWriter | None = None

    async def log_metric(self, request: wire.LogMetric) -> None:
        run_id, text = run_ref(request)
        check_metric(request)
        await self._log(run_id, text, [request], {}, {})

    async def log_param(self, request: wire.LogParam) -> None:
        run_id, text = run_ref(request)
        check_key(request.key, "param")
        await self._log(run_id, text, [], {request.key: request.value}, {}, one_param=True)

    async def set_tag(self, request: wire.SetTag) -> None:
        run_id, text = run_ref(request)
        check_key(request.key, "tag")
        await self._log(run_id, text, [], {}, {request.key: request.value})

    async def log_batch(self, request: wire.LogBatch) -> None:
        run_id, text = run_ref(request)
        metrics, params, tags = request.metrics, request.params, request.tags
        for count, limit, what in (
            (len(metrics), MAX_METRICS, "metrics"),
            (len(params), MAX_PARAMS_TAGS, "params"),
            (len(tags), MAX_PARAMS_TAGS, "tags"),
        ):
            if count > limit:
                raise InvalidInput(
                    f"A batch logging request can contain at most {limit} {what}. Got {count} "
                    f"{what}. Please split up {what} across multiple requests and try again."
                )
        total = len(metrics) + len(params) + len(tags)
        if total > MAX_ENTITIES:
            raise InvalidInput(
                f"A batch logging request can contain at most {MAX_ENTITIES} metrics, params, "
                f"and tags in total. Got {total} entities."
            )
        for metric in metrics:
            check_metric(metric)
        keys = [check_key(param.key, "param") for param in params]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise InvalidInput(
                f"Duplicate parameter keys have been submitted: {duplicates}. Please ensure "
                "the request contains only one param value per param key."
            )
        for tag in tags:
            check_key(tag.key, "tag")
        await self._log(
            run_id,
            text,
            metrics,
            {param.key: param.value for param in params},
            {tag.key: tag.value for tag in tags},
        )

    async def delete_tag(self, request: wire.DeleteTag) -> None:
        run_id, text = run_ref(request)
        try:
            await TrackingService(self.session).delete_tag(run_id, request.key)
        except NotFound:
            await self._why_not_live(run_id, text)
            raise NotFound(f"No tag with name: {request.key} in run with id {text}") from None

    async def log_inputs(self, request: wire.LogInputs) -> None:
        run_id, text = run_ref(request)
        links = [_dataset_link(item) for item in request.datasets]
        links += [
            RunLink(direction=render.INPUT, kind=render.MODEL, key=_model_id(model.model_id))
            for model in request.models
        ]
        await self._link(run_id, text, links)

    async def log_outputs(self, request: wire.LogOutputs) -> None:
        run_id, text = run_ref(request)
        links = [
            RunLink(
                direction=render.OUTPUT,
                kind=render.MODEL,
                key=_model_id(model.model_id),
                step=model.step,
            )
            for model in request.models
        ]
        await self._link(run_id, text, links)

    async def log_model(self, request: wire.LogModel) -> None:
        """The 2.x `runs/log-model`: the model's metadata joins the run's
        `mlflow.log-model.history` tag (a JSON list), as MLflow's server keeps it."""
        run_id, text = run_ref(request)
        try:
            model = json.loads(request.model_json)
        except ValueError:
            raise InvalidInput("Invalid value for parameter 'model_json': not JSON.") from None
        if not isinstance(model, dict):
            raise InvalidInput("Invalid value for parameter 'model_json': not a JSON object.")
        await active_row(self.session, run_id, text)
        data = await repo.load_run_data(self.session, [run_id])
        try:
            history = json.loads(data[run_id].tags.get(LOG_MODEL_HISTORY_TAG, "[]"))
        except ValueError:
            history = []
        history = [*history, model] if isinstance(history, list) else [model]
        await self._log(run_id, text, [], {}, {LOG_MODEL_HISTORY_TAG: json.dumps(history)})

    # -- reads ----------------------------------------------------------------------------

    async def metric_history(self, request: wire.GetMetricHistory) -> bytes:
        """The JSON of a `MetricHistoryResponse`: one page of a series in (step, timestamp)
        order, or all of it when `max_results` is not given (older clients do not page). The
        points come as JSON text from the database (MetricHistoryService.page_json), in
        pages of at most 25,000, which are joined as they are: no object per point."""
        if request.max_results is not None and request.max_results <= 0:
            raise InvalidInput(max_results_not_positive(request.max_results, period="."))
        run_id, text = run_ref(request)
        limit = min(request.max_results or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        service = MetricHistoryService(self.session)
        after = None
        if request.page_token:
            try:
                after = decode_history_cursor(request.page_token)
            except InvalidInput:
                raise InvalidInput(
                    "Invalid value for parameter 'page_token': not a token this server gave "
                    "out; send the next_page_token of the previous page, or none"
                ) from None
        try:
            # MLflow reads a deleted run's history too (runs/get shows deleted runs).
            series_id = await service.series_of(run_id, request.metric_key, include_deleted=True)
        except NotFound:
            raise run_not_found(text) from None
        query = HistoryQuery.model_construct(
            key=request.metric_key, limit=limit, cursor=None, start_step=None, end_step=None
        )
        pages: list[bytes] = []
        token = None
        while series_id is not None:
            page = await service.page_json(series_id, query, after=after, shape="mlflow")
            if page.text:
                pages.append(page.text.encode())
            after = page.last if page.more else None
            if after is None:
                break
            if request.max_results is not None:
                token = encode_cursor(*after)
                break
        # As MLflow's server writes it: an empty list is left out.
        body = [b'"metrics":[' + b",".join(pages) + b"]"] if pages else []
        if token is not None:
            body.append(b'"next_page_token":' + json.dumps(token).encode())
        return b"{" + b",".join(body) + b"}"

    async def metric_history_bulk(
        self, request: wire.GetMetricHistoryBulkInterval
    ) -> wire.MetricHistoryBulkResponse:
        """One metric of up to 100 runs, each downsampled to at most `max_results` points
        over the same buckets of steps."""
        if not request.run_ids:
            raise InvalidInput(missing_value("run_ids"))
        if len(request.run_ids) > MAX_BULK_RUNS:
            raise InvalidInput(
                schema_message(
                    f"GetMetricHistoryBulkInterval request must specify at most {MAX_BULK_RUNS} "
                    f"run_ids. Received {len(request.run_ids)} run_ids."
                )
            )
        points = MAX_BULK_RESULTS if request.max_results is None else request.max_results
        if not 0 < points <= MAX_BULK_RESULTS:
            raise InvalidInput(
                schema_message(f"max_results must be between 1 and {MAX_BULK_RESULTS}.")
            )
        if (request.start_step is None) != (request.end_step is None):
            raise InvalidInput(
                "If either start step or end step are specified, both must be specified."
            )
        if (
            request.start_step is not None
            and request.end_step is not None
            and request.start_step > request.end_step
        ):
            raise InvalidInput(
                "end_step must be greater than start_step. "
                f"Found start_step={request.start_step} and end_step={request.end_step}."
            )
        run_ids = [run_id for text in request.run_ids if (run_id := run_id_in(text))]
        history = await MetricHistoryService(self.session).compare(
            RunsHistoryRequest.model_construct(
                run_ids=run_ids,
                key=request.metric_key,
                points=points,
                start_step=request.start_step,
                end_step=request.end_step,
            )
        )
        return wire.MetricHistoryBulkResponse(
            metrics=[
                wire.MetricWithRunId.model_construct(
                    key=request.metric_key,
                    value=point.value,
                    timestamp=point.timestamp,
                    step=point.step,
                    run_id=series.run_id.hex,
                )
                for series in history.series
                for point in series.points
            ]
        )

    # -- helpers --------------------------------------------------------------------------

    async def _log(
        self,
        run_id: uuid.UUID,
        text: str,
        metrics: Sequence[wire.MetricIn],
        params: dict[str, str],
        tags: dict[str, str],
        *,
        one_param: bool = False,
    ) -> None:
        # Validated above against MLflow's rules: straight to the stored points, no model
        # per point (a batch carries a thousand).
        points = [repo.Point(m.key, m.value, m.step, m.timestamp) for m in metrics]
        try:
            await TrackingService(self.session, self.writer).store(
                run_id,
                points,
                {k: v[:MAX_PARAM_VALUE_LENGTH] for k, v in params.items()},
                {k: v[:MAX_TAG_VALUE_LENGTH] for k, v in tags.items()},
            )
        except ParamChanged as exc:
            raise InvalidInput(param_changed_message(exc, text, single=one_param)) from None
        except Conflict as exc:
            raise InvalidInput(f"Changing param values is not allowed. {exc.message}") from None
        except NotFound:
            await self._why_not_live(run_id, text)
            raise
        await self._log_model_metrics(run_id, metrics)
        name = tags.get(RUN_NAME_TAG)
        if name and len(name) <= MAX_RUN_NAME_LENGTH:
            await RunService(self.session, self.cache).change_run(
                run_id, RunUpdate.model_construct(name=name)
            )

    async def _log_model_metrics(self, run_id: uuid.UUID, metrics: Sequence[wire.MetricIn]) -> None:
        """Points logged with a `model_id` are the logged model's metrics too (with the
        dataset they were measured on); an id that names no logged model links nothing."""
        linked = [m for m in metrics if m.model_id]
        if not linked:
            return
        known = await models_repo.existing_ids(self.session, [m.model_id or "" for m in linked])
        rows: dict[tuple[str, str, int, int], dict[str, object]] = {}
        for m in linked:
            if m.model_id not in known:
                continue
            value, is_nan = (0.0, True) if math.isnan(m.value) else (m.value, False)
            rows[(m.model_id, m.key, m.timestamp, m.step)] = {
                "model_id": m.model_id,
                "key": m.key,
                "timestamp": m.timestamp,
                "step": m.step,
                "run_id": run_id,
                "value": value,
                "is_nan": is_nan,
                "dataset_name": m.dataset_name or None,
                "dataset_digest": m.dataset_digest or None,
            }
        await models_repo.add_metrics(self.session, list(rows.values()))

    async def _link(self, run_id: uuid.UUID, text: str, links: list[RunLink]) -> None:
        await active_row(self.session, run_id, text)
        await repo.add_links(self.session, run_id, links)

    async def _why_not_live(self, run_id: uuid.UUID, text: str) -> None:
        """After a write found no live run: 404 for a missing run, 400 for a deleted run
        (or one in a deleted experiment); returns if the run is live after all."""
        await self.session.rollback()
        await active_row(self.session, run_id, text)
        if not await runs_repo.is_live(self.session, run_id):
            raise InvalidInput(
                f"The run {text} belongs to a deleted experiment; restore the experiment first."
            )


def param_changed_message(exc: ParamChanged, run_id: str, *, single: bool) -> str:
    """MLflow's words: one param (log-parameter), or the list of them (log-batch)."""
    if single:
        key, old, new = exc.changes[0]
        return (
            f"Changing param values is not allowed. Param with key='{key}' was already logged "
            f"with value='{old}' for run ID='{run_id}'. Attempted logging new value '{new}'."
        )
    changes = [{"key": k, "old_value": old, "new_value": new} for k, old, new in exc.changes]
    return (
        f"Changing param values is not allowed. Params were already logged='{changes}' "
        f"for run ID='{run_id}'."
    )


def _model_id(model_id: str) -> str:
    if not model_id or len(model_id) > MAX_MODEL_ID:
        raise InvalidInput(f"Invalid value {model_id!r} for parameter 'model_id'.")
    return model_id


def _dataset_link(item: wire.DatasetInput) -> RunLink:
    dataset = item.dataset.model_dump(by_alias=True, exclude_none=True)
    for field, limit in DATASET_LIMITS.items():
        value = dataset.get(field)
        if value is not None and len(value) > limit:
            raise InvalidInput(
                f"Dataset {field} exceeds the maximum length of {limit} (got {len(value)})."
            )
    for tag in item.tags:
        if len(tag.key) > MAX_INPUT_TAG_KEY or len(tag.value) > MAX_INPUT_TAG_VALUE:
            raise InvalidInput(
                f"Input tag {tag.key[:50]!r}: the key may have at most {MAX_INPUT_TAG_KEY} "
                f"characters and the value at most {MAX_INPUT_TAG_VALUE}."
            )
    return RunLink(
        direction=render.INPUT,
        kind=render.DATASET,
        key=f"{item.dataset.name}\n{item.dataset.digest}",
        payload=json.dumps(
            {"dataset": dataset, "tags": [tag.model_dump() for tag in item.tags]},
            separators=(",", ":"),
        ),
    )
