"""The background delivery of one run's logged data.

`ActiveRun.log` appends points to `Sender.points` (a deque: appends are atomic under the GIL)
and returns. A daemon thread wakes every `flush_interval` seconds, or as soon as
`batch_size` points wait, and posts what waits in batches of at most `max_batch` points.

A failing post is retried with backoff for `give_up_after` seconds; then the batch is
written to the spool and the sender goes *offline*: from then on each cycle writes what
waits to the spool, and the server is probed with growing intervals. When it answers
again, the spool is uploaded and posting resumes. Memory stays bounded: while a post is
being retried, a queue past half of `max_queue` is moved to the spool, and a queue that
reaches `max_queue` is moved to the spool by the logging thread itself.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from mltrail.config import Settings
from mltrail.encoding import Point, dump_json, metrics_payload
from mltrail.errors import ApiError, ServerUnreachable
from mltrail.retry import Backoff
from mltrail.spool import REJECTED_DIR, SpoolWriter, batch_record, reject, status_record
from mltrail.sync import sync_spool
from mltrail.transport import Transport

__all__ = ["Sender"]

logger = logging.getLogger("mltrail")

THREAD_PREFIX = "mltrail-sender-"


class _QuietSenderRequests(logging.Filter):
    """httpx logs every request at INFO; a training script logging at INFO would get a line
    per batch. Only the sender threads' requests are dropped, not the application's own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not (record.threadName or "").startswith(
            THREAD_PREFIX
        )


_QUIET = _QuietSenderRequests()


def quiet_sender_requests() -> None:
    """Drop the sender threads' per-batch request lines from httpx's logger (idempotent).
    Called when a run starts sending, not on import: importing the SDK changes no logger."""
    httpx_logger = logging.getLogger("httpx")
    if _QUIET not in httpx_logger.filters:
        httpx_logger.addFilter(_QUIET)


class _Hurry(Exception):
    """Raised out of a retry sleep when the user asked to stop waiting (Ctrl-C in finish)."""


class Sender:
    """Delivers one run's points, params, tags and final status on a daemon thread."""

    def __init__(self, run_id: str, settings: Settings, *, upload_spool: bool = True) -> None:
        self.run_id = run_id
        self.settings = settings
        self.points: deque[Point] = deque()
        #: The queue length at which the logging thread calls `on_backlog` (the hot path
        #: compares against it; the thread moves it so the logger signals once, not per call).
        self.notify_at = settings.batch_size
        self.sent = 0
        self.spooled = 0
        self.rejected = 0
        self.uploaded = 0
        self.in_flight = 0
        self.offline = False
        self.last_error: str | None = None
        self._high_water = max(settings.batch_size, settings.max_queue // 2)
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        self._meta_lock = threading.Lock()
        self._spill_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._hurry = threading.Event()
        self._final_status: dict[str, Any] | None = None
        self._flush_waiters: list[threading.Event] = []
        self._waiters_lock = threading.Lock()
        self._writer = SpoolWriter(settings.spool_dir, run_id)
        self._transport = Transport(settings)
        self._path = f"/api/v1/runs/{run_id}/batch"
        self._probe_backoff = Backoff(base=0.5, cap=settings.probe_interval)
        self._probes = 0
        self._next_probe = 0.0
        self._upload_on_start = upload_spool
        quiet_sender_requests()
        self._thread = threading.Thread(
            target=self._main, name=f"{THREAD_PREFIX}{run_id[:8]}", daemon=True
        )
        self._thread.start()

    # -- called from the logging thread(s) ------------------------------------------------

    def on_backlog(self) -> None:
        """The queue reached `notify_at`: wake the thread, or at `max_queue` spool it here."""
        if len(self.points) >= self.settings.max_queue:
            # One batch at a time: a pause of milliseconds per batch, not one long stall.
            self._spill(self.settings.max_batch)
        else:
            self.notify_at = self.settings.max_queue
            self._wake.set()

    def add_params(self, params: Mapping[str, str]) -> None:
        """Queue params (sent before the next points)."""
        with self._meta_lock:
            self._params.update(params)
        self._wake.set()

    def add_tags(self, tags: Mapping[str, str]) -> None:
        """Queue tags (sent before the next points)."""
        with self._meta_lock:
            self._tags.update(tags)
        self._wake.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything queued before this call left memory; False on timeout."""
        done = threading.Event()
        with self._waiters_lock:
            self._flush_waiters.append(done)
        self._wake.set()
        return done.wait(timeout) or not self._thread.is_alive()

    def close(self, final_status: Mapping[str, Any] | None = None) -> None:
        """Ask the thread to send what waits, then `final_status` (a run PATCH body), and stop."""
        self._final_status = dict(final_status) if final_status else None
        self._closing.set()
        self._wake.set()

    def hurry(self) -> None:
        """Stop retrying: spool what waits and stop as soon as possible."""
        self._hurry.set()
        self._wake.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to stop; True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def backlog(self) -> int:
        """Points still in memory (queued or being sent)."""
        return len(self.points) + self.in_flight

    @property
    def remaining(self) -> int:
        """Points not yet stored by the server, except those in the spool while offline
        (they wait for `mltrail sync` or the server's return)."""
        spooled = 0 if self.offline else max(0, self.spooled - self.uploaded)
        return self.backlog + spooled

    # -- the thread -------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            if self._upload_on_start:
                self._upload_spool()
            while True:
                closing = self._closing.is_set()
                with self._waiters_lock:
                    waiters, self._flush_waiters = self._flush_waiters, []
                if not closing and not waiters:
                    self.notify_at = self.settings.batch_size
                    if len(self.points) < self.settings.batch_size:
                        self._wake.wait(self.settings.flush_interval)
                    self._wake.clear()
                if closing and self.offline:
                    self._next_probe = 0.0  # one last look before leaving it all to the spool
                self._flush()
                for waiter in waiters:
                    waiter.set()
                if closing:
                    break
            self._finish()
        except BaseException:  # never lose points to a bug here: put them on disk
            logger.exception("mltrail: the sender failed; spooling what is left")
            self._spill()
            raise
        finally:
            with self._waiters_lock:
                for waiter in self._flush_waiters:
                    waiter.set()
            self._transport.close()
            self._writer.close()

    def _take_meta(self) -> dict[str, Any] | None:
        with self._meta_lock:
            if not self._params and not self._tags:
                return None
            batch = {"metrics": [], "params": self._params, "tags": self._tags}
            self._params, self._tags = {}, {}
        return batch

    def _take(self, limit: int) -> list[Point]:
        taken: list[Point] = []
        popleft = self.points.popleft
        with contextlib.suppress(IndexError):
            for _ in range(limit):
                taken.append(popleft())
        return taken

    def _flush(self) -> None:
        meta = self._take_meta()
        if meta is not None:
            self._deliver(meta, 0)
        while self.points:
            batch = self._take(self.settings.max_batch)
            if batch:
                self._deliver({"metrics": metrics_payload(batch)}, len(batch))

    def _deliver(self, batch: dict[str, Any], points: int) -> None:
        if self._hurry.is_set() or (self.offline and not self._probe()):
            self._spool([batch_record(self.run_id, batch, points)], points)
            return
        self.in_flight = points
        try:
            self._transport.request("POST", self._path, content=dump_json(batch), sleep=self._sleep)
        except (ServerUnreachable, _Hurry) as exc:
            if isinstance(exc, ServerUnreachable):
                self._go_offline(exc)
            self._spool([batch_record(self.run_id, batch, points)], points)
        except ApiError as exc:
            # Refused for good (the run was deleted, a param changed): keep it for a human.
            self._spool_rejected(batch, points, exc)
        else:
            self.sent += points
        finally:
            self.in_flight = 0

    def _spool_rejected(self, batch: dict[str, Any], points: int, exc: ApiError) -> None:
        if str(exc) != self.last_error:  # once per reason, not once per batch
            logger.warning(
                "mltrail: the server refused data of run %s: %s (kept in %s)",
                self.run_id,
                exc,
                self.settings.spool_dir / REJECTED_DIR,
            )
        reject(
            self.settings.spool_dir, self.run_id, batch_record(self.run_id, batch, points), str(exc)
        )
        self.rejected += points
        self.last_error = str(exc)

    def _spool(self, records: list[dict[str, Any]], points: int) -> None:
        self._writer.append(records)
        with self._count_lock:  # the logging thread spools too (when the queue is full)
            self.spooled += points

    def _spill(self, limit: int | None = None) -> None:
        """Move the oldest `limit` points (default: everything) in memory to the spool;
        thread-safe, from any thread."""
        with self._spill_lock:
            records: list[dict[str, Any]] = []
            total = 0
            while limit is None or total < limit:
                size = (
                    self.settings.max_batch
                    if limit is None
                    else min(self.settings.max_batch, limit - total)
                )
                batch = self._take(size)
                if not batch:
                    break
                total += len(batch)
                records.append(
                    batch_record(self.run_id, {"metrics": metrics_payload(batch)}, len(batch))
                )
            meta = self._take_meta()
            if meta is not None:
                records.insert(0, batch_record(self.run_id, meta, 0))
            if records:
                self._spool(records, total)

    def _sleep(self, seconds: float) -> None:
        """A retry's wait, during which a growing queue is moved to the spool."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self._hurry.is_set():
                raise _Hurry
            self.notify_at = self._high_water
            if self._wake.wait(remaining):
                self._wake.clear()
                if len(self.points) >= self._high_water:
                    self._spill()

    def _go_offline(self, exc: ServerUnreachable) -> None:
        if not self.offline:
            logger.warning(
                "mltrail: %s; points of run %s go to %s until it answers again",
                exc,
                self.run_id,
                self.settings.spool_dir,
            )
        self.offline = True
        self.last_error = str(exc)
        self._probes = 0
        self._next_probe = time.monotonic() + self._probe_backoff.delay(0)

    def _probe(self) -> bool:
        """While offline: is the server back? Asks at most once per backoff interval."""
        if time.monotonic() < self._next_probe:
            return False
        try:
            self._transport.request("GET", "/health", budget=0)
        except (ServerUnreachable, ApiError):
            self._probes += 1
            self._next_probe = time.monotonic() + self._probe_backoff.delay(self._probes)
            return False
        logger.warning("mltrail: the server answers again; uploading the spool")
        self.offline = False
        self._upload_spool()
        return not self.offline

    def _upload_spool(self) -> None:
        self._writer.close()  # unlock this run's own file so it is uploaded too
        try:
            report = sync_spool(
                self._transport, self.settings.spool_dir, sleep=self._sleep, on_points=self._count
            )
        except _Hurry:
            return
        if report.error is not None:
            self._go_offline(ServerUnreachable(self.settings.url, report.error))

    def _count(self, points: int, run_id: str) -> None:
        if run_id == self.run_id:
            self.uploaded += points

    def _finish(self) -> None:
        if self.offline and not self._hurry.is_set():
            self._next_probe = 0.0
            self._probe()
        if not self.offline and not self._hurry.is_set() and self._writer.path is not None:
            self._upload_spool()
        if self._final_status is None:
            return
        if not self.offline and not self._hurry.is_set():
            try:
                self._transport.request(
                    "PATCH",
                    f"/api/v1/runs/{self.run_id}",
                    json=self._final_status,
                    sleep=self._sleep,
                )
                return
            except (ServerUnreachable, _Hurry):
                pass
            except ApiError as exc:
                print(f"mltrail: could not end run {self.run_id}: {exc}", file=sys.stderr)
                return
        self._writer.append([status_record(self.run_id, self._final_status)])
