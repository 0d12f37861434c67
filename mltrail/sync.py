"""Uploading the spool: what `mltrail sync` and a run's sender do once the server answers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mltrail.errors import ApiError, ServerUnreachable
from mltrail.spool import Record, claim, read_records, reject, rewrite, spool_files
from mltrail.transport import Transport

__all__ = ["SyncReport", "pending", "sync_spool"]

logger = logging.getLogger("mltrail")

SleepFn = Callable[[float], None]


@dataclass
class SyncReport:
    """What a sync did. `error` is set when the server stopped answering midway; what was
    not sent is still in the spool."""

    files: int = 0
    batches: int = 0
    points: int = 0
    statuses: int = 0
    rejected: int = 0
    skipped_files: int = 0
    unreadable_lines: int = 0
    left_points: int = 0
    left_files: int = 0
    rejected_paths: list[Path] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Everything readable was uploaded or set aside as rejected."""
        return self.error is None


def pending(directory: Path, run_id: str | None = None) -> tuple[int, int]:
    """(files, points) waiting in the spool, including files still being written."""
    points = 0
    files = spool_files(directory, run_id)
    for path in files:
        try:
            records, _ = read_records(path.read_bytes())
        except OSError:
            continue
        points += sum(record.points for record in records)
    return len(files), points


def _send(transport: Transport, record: Record, budget: float | None, sleep: SleepFn) -> None:
    if record.batch is not None:
        transport.request(
            "POST",
            f"/api/v1/runs/{record.run_id}/batch",
            content=record.body,
            budget=budget,
            sleep=sleep,
        )
    if record.status is not None:
        transport.request(
            "PATCH",
            f"/api/v1/runs/{record.run_id}",
            json=record.status,
            budget=budget,
            sleep=sleep,
        )


def sync_spool(
    transport: Transport,
    directory: Path,
    *,
    run_id: str | None = None,
    budget: float | None = None,
    sleep: SleepFn = time.sleep,
    on_points: Callable[[int, str], None] | None = None,
) -> SyncReport:
    """Upload every spool file in `directory` (only `run_id`'s when given) that no live
    process is writing, oldest first, and delete each once it is fully sent. A record the
    server refuses goes to `rejected/`; if the server stops answering, the file keeps what
    was not sent and the sync stops. Re-sending is harmless: the server stores a point once."""
    report = SyncReport()
    for path in spool_files(directory, run_id):
        with claim(path) as handle:
            if handle is None:
                report.skipped_files += 1
                continue
            records, bad = read_records(handle.read())
            report.unreadable_lines += bad
            for index, record in enumerate(records):
                try:
                    _send(transport, record, budget, sleep)
                except ServerUnreachable as exc:
                    rest = records[index:]
                    rewrite(path, rest)
                    report.error = str(exc)
                    report.left_files += 1
                    report.left_points += sum(r.points for r in rest)
                    return report
                except ApiError as exc:
                    report.rejected += 1
                    kept = reject(directory, record.run_id, json.loads(record.line), str(exc))
                    if kept not in report.rejected_paths:
                        report.rejected_paths.append(kept)
                    logger.warning("mltrail: the server refused spooled data: %s", exc)
                else:
                    report.batches += record.batch is not None
                    report.statuses += record.status is not None
                    report.points += record.points
                if on_points is not None and record.points:
                    on_points(record.points, record.run_id)
            path.unlink(missing_ok=True)
            report.files += 1
    return report
