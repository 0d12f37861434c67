"""A tracking server in a subprocess, for tests over real HTTP."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

__all__ = ["LiveServer", "free_port", "spawn_uvicorn", "stop_process", "wait_until_healthy"]

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 180.0  # generous: the machine may be very busy
KEEP_ALIVE_SECONDS = 600  # longer than any test: see spawn_uvicorn


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM, and SIGKILL if it has not exited within `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def spawn_uvicorn(
    port: int, env: Mapping[str, str], log: Path, extra: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """`uvicorn mltrail_server.main:app` on 127.0.0.1:`port`, its output appended to `log`."""
    command = [sys.executable, "-m", "uvicorn", "mltrail_server.main:app", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    # A pooled connection the server closes after 5 idle seconds (uvicorn's default) races the
    # client's next request on it ("Remote end closed connection"), which a busy machine makes
    # likely; the tests' clients do not retry, so the server keeps idle connections longer.
    command += ["--timeout-keep-alive", str(KEEP_ALIVE_SECONDS), *extra]
    with log.open("ab") as handle:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until `url`/health answers 200; raises if the process exits or the time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited at start:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not answer in {START_TIMEOUT_SECONDS}s")


class LiveServer:
    """One server process over one database (`<directory>/t.db`); `kill()` and `start()` as
    often as needed. `env` adds to or overrides the server's environment (AUTH_ENABLED...)."""

    def __init__(self, directory: Path, env: Mapping[str, str] | None = None) -> None:
        self.directory = directory
        self.env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = directory / "t.db"
        self.log = directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{self.database}",
            "REDIS_URL": "",
            "DATA_DIR": str(self.directory),
            "LOG_LEVEL": "WARNING",
            # Migrate on the first start only: a restart finds the schema in place.
            "MIGRATE_ON_START": "false" if self.database.exists() else "true",
            **self.env,
        }
        self.process = spawn_uvicorn(self.port, env, self.log)
        wait_until_healthy(self.process, self.url, self.log)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: a crash, not a clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=10)
        self.process = None
