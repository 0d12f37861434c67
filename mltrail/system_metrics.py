"""System metrics of a run: CPU, memory, disk and network of the machine and this process
(psutil), and per-GPU figures when NVIDIA's NVML is there (the optional `nvidia-ml-py`
package, imported as `pynvml`).

A daemon thread samples every `interval` seconds (the first sample one interval after the
start, as MLflow does) and queues the figures as `system/...` metrics, the sample's index as
the step, on the run's own sender: sampling never waits for the network. A sample that fails
is skipped (logged once at debug level); it never reaches the training loop.

A resumed run goes on after the last sample already recorded for it (`resume_step`), so
its `system/` series never has two points at one step: the greatest step the server holds
(it comes with the run `start_run` fetches anyway, so no extra request) or, when an earlier
session's points still wait in this machine's spool, the greatest step among them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil

from mltrail.encoding import Point, now_ms
from mltrail.models import MetricSummary
from mltrail.spool import read_records, spool_files

__all__ = ["PREFIX", "SystemMetrics", "gpu_library", "resume_step"]

logger = logging.getLogger("mltrail")

PREFIX = "system/"
_MB = 1024 * 1024


def gpu_library() -> Any | None:
    """`pynvml`, initialised, or None when it is not installed or finds no driver."""
    try:
        import pynvml  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no GPU, a container without the library: no GPU figures
        return None
    module: ModuleType = pynvml
    return module


def resume_step(metrics: Mapping[str, MetricSummary], spool_dir: Path, run_id: str) -> int:
    """The step a resumed run's first sample takes: one after the greatest `system/` step in
    `metrics` (the run's series as the server holds them: each one's latest point is its
    greatest step) and in this machine's spool files of the run (points of an earlier
    session the server has not received yet); 0 when there is none."""
    last = max((m.step for key, m in metrics.items() if key.startswith(PREFIX)), default=-1)
    for path in spool_files(spool_dir, run_id):
        try:
            records, _ = read_records(path.read_bytes())
        except OSError:  # uploaded and removed meanwhile: the server's figure counts it
            continue
        for record in records:
            for point in (record.batch or {}).get("metrics", ()):
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    if str(point["key"]).startswith(PREFIX):
                        last = max(last, int(point["step"]))
    return last + 1


class Sampler:
    """Reads one sample: a dict of `system/...` keys to numbers. Counters (disk and network
    bytes) are reported since the sampler was made, so a run's curve starts near 0."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only starts the measurement
        psutil.cpu_percent(None)
        self._disk0 = self._disk()
        self._net0 = self._net()
        self._nvml = gpu_library()
        self._gpus = self._nvml.nvmlDeviceGetCount() if self._nvml is not None else 0

    @staticmethod
    def _disk() -> tuple[int, int]:
        counters = psutil.disk_io_counters()
        return (counters.read_bytes, counters.write_bytes) if counters else (0, 0)

    @staticmethod
    def _net() -> tuple[int, int]:
        counters = psutil.net_io_counters()
        return (counters.bytes_sent, counters.bytes_recv) if counters else (0, 0)

    def sample(self) -> dict[str, float]:
        memory = psutil.virtual_memory()
        with self._process.oneshot():
            rss = self._process.memory_info().rss
            process_cpu = self._process.cpu_percent(None)
            threads = self._process.num_threads()
        read, written = self._disk()
        sent, received = self._net()
        figures = {
            "cpu_percent": psutil.cpu_percent(None),
            "memory_used_mb": (memory.total - memory.available) / _MB,
            "memory_percent": memory.percent,
            "process_rss_mb": rss / _MB,
            "process_cpu_percent": process_cpu,
            "process_threads": float(threads),
            "disk_read_mb": (read - self._disk0[0]) / _MB,
            "disk_write_mb": (written - self._disk0[1]) / _MB,
            "net_sent_mb": (sent - self._net0[0]) / _MB,
            "net_recv_mb": (received - self._net0[1]) / _MB,
        }
        for index in range(self._gpus):
            figures.update(self._gpu(index))
        return {PREFIX + key: float(value) for key, value in figures.items()}

    def _gpu(self, index: int) -> dict[str, float]:
        nvml = self._nvml
        assert nvml is not None
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            rates = nvml.nvmlDeviceGetUtilizationRates(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            figures = {
                "utilization_percent": rates.gpu,
                "memory_used_mb": memory.used / _MB,
                "memory_percent": 100.0 * memory.used / memory.total if memory.total else 0.0,
                "temperature_c": nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU),
                "power_w": nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
            }
        except Exception:  # a GPU that stops answering drops out of this sample only
            return {}
        return {f"gpu{index}/{key}": value for key, value in figures.items()}

    def close(self) -> None:
        if self._nvml is not None:
            # Shutting down a library that failed: nothing to do about it.
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()


class SystemMetrics:
    """The sampling thread of one run: `start()`, then `stop()` (returns within a moment,
    however long the interval)."""

    def __init__(
        self,
        emit: Callable[[list[Point]], None],
        interval: float,
        *,
        name: str = "mltrail-system-metrics",
        sampler: Callable[[], Sampler] = Sampler,
        first_step: int = 0,
    ) -> None:
        self._emit = emit
        self._first_step = first_step
        self._interval = interval
        self._make_sampler = sampler
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> SystemMetrics:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling; no point is queued after this returns (unless `timeout` passed)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _main(self) -> None:
        try:
            sampler = self._make_sampler()
        except Exception:
            logger.debug("mltrail: system metrics are off: psutil failed", exc_info=True)
            return
        step = self._first_step
        warned = False
        next_at = time.monotonic() + self._interval
        try:
            while not self._stop.wait(max(0.0, next_at - time.monotonic())):
                # A late wake-up (a suspended process) skips the missed samples.
                next_at = max(next_at + self._interval, time.monotonic())
                try:
                    figures = sampler.sample()
                    if self._stop.is_set():
                        break
                    stamp = now_ms()
                    self._emit([(key, value, step, stamp) for key, value in figures.items()])
                    step += 1
                except Exception:
                    if not warned:
                        logger.debug("mltrail: a system metrics sample failed", exc_info=True)
                        warned = True
        finally:
            sampler.close()
