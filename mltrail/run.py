"""A live run: `start_run` and the `ActiveRun` it returns.

```python
mltrail.init(url="http://tracker:8000")
with mltrail.start_run(experiment="mnist", params={"lr": 0.01}) as run:
    for step in range(10_000):
        run.log({"loss": loss, "acc": acc}, step=step)   # returns at once
```
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal

from mltrail import artifacts, media
from mltrail import run_context as _run_context
from mltrail.client import Client
from mltrail.config import Settings, current_settings
from mltrail.encoding import Point, check_key, now_ms, param_value
from mltrail.errors import MltrailError
from mltrail.media import MediaItem
from mltrail.models import ArtifactFile, Run
from mltrail.progress import progress_bar
from mltrail.run_media import RunMedia
from mltrail.sender import Sender
from mltrail.system_metrics import SystemMetrics, resume_step
from mltrail.transport import Transport

__all__ = ["ActiveRun", "FinalStatus", "start_run"]

FinalStatus = Literal["completed", "failed", "killed"]

#: A backlog still unsent this long after `finish()` starts gets a progress bar.
PROGRESS_AFTER_SECONDS = 0.5


class ActiveRun:
    """A run this process is logging to. Use it as a context manager, or call `finish()`.
    If neither happens, the run is finished when the interpreter exits (`failed` after an
    uncaught exception, else `completed`)."""

    def __init__(self, info: Run, settings: Settings, *, upload_spool: bool = True) -> None:
        self.info = info
        self.settings = settings
        self._sender = Sender(info.id, settings, upload_spool=upload_spool)
        self._points = self._sender.points
        self._known_keys: set[str] = set()
        self._finished = False
        self._finish_lock = threading.Lock()
        self._system_metrics: SystemMetrics | None = None
        self._context_upload: threading.Thread | None = None
        self._media = RunMedia(info.id, settings)
        atexit.register(self._at_exit)

    def _start_extras(
        self, *, upload_context: bool, diff: bytes | None, system_step: int = 0
    ) -> None:
        """Start sampling system metrics (from `system_step` on) and uploading the context
        files, as settings say."""
        if self.settings.system_metrics:
            self._system_metrics = SystemMetrics(
                self._queue_points,
                self.settings.system_metrics_interval,
                name=f"mltrail-system-{self.id[:8]}",
                first_step=system_step,
            ).start()
        if upload_context:
            self._context_upload = _run_context.start_upload(self.settings, self.id, diff=diff)

    def _queue_points(self, points: list[Point]) -> None:
        """Queue points made by the SDK itself (system metrics), keys already checked."""
        self._points.extend(points)
        if len(self._points) >= self._sender.notify_at:
            self._sender.on_backlog()

    @property
    def id(self) -> str:
        """The run's id."""
        return self.info.id

    @property
    def experiment_id(self) -> str:
        """The id of the run's experiment."""
        return self.info.experiment_id

    @property
    def name(self) -> str:
        """The run's name."""
        return self.info.name

    @property
    def offline(self) -> bool:
        """True while the server does not answer and points go to the spool."""
        return self._sender.offline

    @property
    def backlog(self) -> int:
        """Points logged but still in memory: queued, or in the batch being sent. At most
        `max_queue + max_batch`; beyond that they go to the spool."""
        return self._sender.backlog

    def log(
        self, metrics: Mapping[str, float], step: int | None = None, *, timestamp: int | None = None
    ) -> None:
        """Log metric values at `step` (default 0). Returns at once: the points are stamped
        with the current time (ms; or `timestamp`) and queued for the background sender.
        A bad key or a value that is not a number raises here, not later."""
        if self._finished:
            raise MltrailError(f"run {self.info.id} is finished; start or resume a run to log")
        stamp = now_ms() if timestamp is None else int(timestamp)
        at = 0 if step is None else int(step)
        append = self._points.append
        known = self._known_keys
        for key, value in metrics.items():
            if key not in known:
                check_key(key, "metric")
                known.add(key)
            append((key, float(value), at, stamp))
        if len(self._points) >= self._sender.notify_at:
            self._sender.on_backlog()

    def log_metric(
        self, key: str, value: float, step: int | None = None, *, timestamp: int | None = None
    ) -> None:
        """Log one metric value; see `log`."""
        self.log({key: value}, step, timestamp=timestamp)

    def log_params(self, params: Mapping[str, object]) -> None:
        """Queue params (write-once: the same value again is fine; another value is refused
        by the server, reported as a warning and kept under the spool's `rejected/`)."""
        self._sender.add_params(_checked(params, "param"))

    def set_tags(self, tags: Mapping[str, object]) -> None:
        """Queue tags (a tag set again is overwritten)."""
        self._sender.add_tags(_checked(tags, "tag"))

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactFile:
        """Upload a file now, as `<artifact_path>/<its name>` among the run's artifacts (the
        run's root by default), replacing a file at that path. The file is streamed from
        disk, never read whole into memory. Unlike `log`, this waits for the server: it is
        retried like every request for `give_up_after` seconds, then raises
        `ServerUnreachable` (artifacts are not spooled)."""
        with Transport(self.settings) as transport:
            return artifacts.upload_file(transport, self.id, local_path, artifact_path)

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactFile]:
        """Upload every file under a directory (recursively, keeping relative paths) under
        `artifact_path`; see `log_artifact`."""
        with Transport(self.settings) as transport:
            return artifacts.upload_directory(transport, self.id, local_dir, artifact_path)

    def log_image(
        self, key: str, image: Any, step: int | None = None, caption: str | None = None
    ) -> MediaItem:
        """Store an image as `media/images/<key>/step-<step>.png` (step 0 by default) and
        list it, with its `caption`, in the run's `media/index.json`. `image` is a numpy
        array (H×W, H×W×3 or H×W×4; uint8, or floats in [0, 1]), a PIL image, a matplotlib
        figure (anything with `savefig(file, format="png")`), or the path of an image file
        (kept as it is, with its suffix). Arrays and PIL images need pillow
        (`pip install 'mltrail[media]'`). Like `log_artifact`, this waits for the server."""
        key, at = self._media_args("log_image", key, step)
        if caption is not None and not isinstance(caption, str):
            raise ValueError(f"log_image: caption must be a string, got {caption!r}")
        source = media.image_file(image)
        if source is not None:
            return self._media.add(
                "image",
                key,
                at,
                source.suffix.lower(),
                lambda target: media.copy_image_file(source, target),
                caption,
            )
        return self._media.add(
            "image", key, at, ".png", lambda target: media.write_image(image, target), caption
        )

    def log_table(
        self, key: str, data: Any, step: int | None = None, columns: Sequence[str] | None = None
    ) -> MediaItem:
        """Store a table as Parquet, `media/tables/<key>/step-<step>.parquet`, listed in the
        run's `media/index.json`. `data` is a list of rows (lists of values, named by
        `columns`), a list of dicts (`columns` picks and orders their keys), a pandas
        DataFrame or a pyarrow Table. Needs pyarrow (`pip install 'mltrail[media]'`)."""
        key, at = self._media_args("log_table", key, step)
        media.require_pyarrow("log_table")
        return self._media.add(
            "table", key, at, ".parquet", lambda target: media.write_table(data, columns, target)
        )

    def log_histogram(
        self,
        key: str,
        values: Any = None,
        step: int | None = None,
        bins: int = 64,
        counts: Any = None,
        edges: Any = None,
    ) -> MediaItem:
        """Store a histogram as `media/histograms/<key>/step-<step>.json`, holding
        `{"key", "step", "edges", "counts"}` (one file per step, for a heat map over steps),
        listed in the run's `media/index.json`. Either `values` (numbers, binned into `bins`
        equal bins) or `counts` with `edges` (one more edge than counts)."""
        key, at = self._media_args("log_histogram", key, step)
        found = media.histogram(values, bins=bins, counts=counts, edges=edges)
        record = media.histogram_record(key, at, found)
        return self._media.add("histogram", key, at, ".json", lambda t: t.write_bytes(record))

    def media(self) -> list[MediaItem]:
        """The images, tables and histograms this run has stored, as its index lists them."""
        return self._media.items()

    def _media_args(self, call: str, key: str, step: int | None) -> tuple[str, int]:
        if self._finished:
            raise MltrailError(f"run {self.info.id} is finished; start or resume a run to log")
        return media.check_media_key(key, call), media.check_step(step, call)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything logged so far is stored by the server or spooled; False if
        `timeout` seconds passed first."""
        return self._sender.flush(timeout)

    def finish(self, status: FinalStatus = "completed") -> None:
        """Send what is still queued (with a progress bar when that takes a while), then set
        the run's final status. If the server does not answer, both go to the spool for
        `mltrail sync`. Ctrl-C while waiting spools what is left at once."""
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
        atexit.unregister(self._at_exit)
        if self._system_metrics is not None:
            self._system_metrics.stop()
        if self._context_upload is not None:
            self._context_upload.join(self.settings.give_up_after + self.settings.timeout)
        try:
            self._media.finish()
        except MltrailError as error:
            print(
                f"mltrail: run {self.id}'s media index was not uploaded: {error}", file=sys.stderr
            )
        sender = self._sender
        sender.close({"status": status, "ended_at": datetime.now(UTC).isoformat()})
        try:
            if not sender.join(PROGRESS_AFTER_SECONDS):
                self._wait_with_progress()
        except KeyboardInterrupt:
            sender.hurry()
            sender.join()
            raise
        if sender.offline:
            print(
                f"mltrail: the server did not answer ({sender.last_error}); run "
                f"{self.id}'s data is in {self.settings.spool_dir}: upload it with `mltrail sync`",
                file=sys.stderr,
            )

    def _wait_with_progress(self) -> None:
        sender = self._sender
        total = sender.remaining
        if not total:
            sender.join()
            return
        shown = 0
        with progress_bar(total, f"mltrail: sending run {self.name}") as advance:
            while not sender.join(0.1):
                done = min(total, max(shown, total - sender.remaining))
                advance(done - shown)
                shown = done
            advance(total - shown)

    def _at_exit(self) -> None:
        self.finish("failed" if hasattr(sys, "last_value") else "completed")

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.finish("completed")
        elif issubclass(kind, KeyboardInterrupt):
            self.finish("killed")
        else:
            self.finish("failed")

    def __repr__(self) -> str:
        return f"<ActiveRun {self.name} id={self.id} queued={self._sender.backlog}>"


def _checked(values: Mapping[str, object], kind: str) -> dict[str, str]:
    return {check_key(key, kind): param_value(value) for key, value in values.items()}


def start_run(
    experiment: str | None = None,
    *,
    name: str | None = None,
    params: Mapping[str, object] | None = None,
    tags: Mapping[str, object] | None = None,
    run_id: str | None = None,
    description: str | None = None,
    parent_run_id: str | None = None,
    system_metrics: bool | None = None,
    run_context: bool | None = None,
    capture_diff: bool | None = None,
) -> ActiveRun:
    """Start a run in `experiment` (a name: created when missing; default `default`), or
    resume the run `run_id` (set back to `running`). `params` and `tags` are stored before
    this returns, so a param that conflicts with a resumed run's raises `Conflict` here;
    the resumed run then keeps the status it had (a run this call created is marked
    `failed`), as with MLflow.

    Starting needs the server (it assigns the run's id); it is retried for the settings'
    `give_up_after` seconds before `ServerUnreachable` is raised. Spooled data of earlier
    runs is uploaded in the background.

    `system_metrics`, `run_context` and `capture_diff` override the settings of the same
    names for this run (see `mltrail.system_metrics` and `mltrail.run_context`); the context
    is recorded only when the run is created, not when it is resumed. A resumed run's system
    metrics go on after the last step already recorded for it."""
    settings = current_settings(
        system_metrics=system_metrics, run_context=run_context, capture_diff=capture_diff
    )
    checked_params = _checked(params or {}, "param")
    checked_tags = _checked(tags or {}, "tag")
    with Client() as client:
        if run_id is not None:
            info = client.runs.get(run_id)
            # Params first: the server refuses a changed one before the run is touched.
            client.runs.log_batch(info.id, params=checked_params, tags=checked_tags)
            if info.status != "running":
                info = client.runs.update(run_id, status="running")
        else:
            found = client.experiments.get_or_create(experiment or "default")
            context = _run_context.context_tags(settings.user) if settings.run_context else {}
            info = client.runs.create(
                found.id,
                name=name,
                user=settings.user,
                description=description,
                parent_run_id=parent_run_id,
                tags=context,
            )
            try:
                client.runs.log_batch(info.id, params=checked_params, tags=checked_tags)
            except MltrailError:
                _mark_failed(client, info.id)
                raise
        if checked_params or checked_tags:
            info = replace(
                info,
                params={**info.params, **checked_params},
                tags={**info.tags, **checked_tags},
            )
    # Before the sender starts uploading this run's spooled points of an earlier session.
    system_step = (
        resume_step(info.metrics, settings.spool_dir, info.id)
        if run_id is not None and settings.system_metrics
        else 0
    )
    active = ActiveRun(info, settings)
    created = run_id is None and settings.run_context
    diff = _run_context.git_diff() if created and settings.capture_diff else None
    active._start_extras(upload_context=created, diff=diff, system_step=system_step)
    return active


def _mark_failed(client: Client, run_id: str) -> None:
    """End a run that could not start, so it is not left `running` for good; best effort,
    since the error that stopped it is the one to report."""
    with contextlib.suppress(MltrailError):
        client.runs.update(run_id, status="failed", ended_at=datetime.now(UTC).isoformat())
