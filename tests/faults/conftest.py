"""Fixtures of the fault tests: a live server (uvicorn in a subprocess) and private, throwaway
Redis and PostgreSQL processes that a test may kill, freeze and start again.

The machine's shared PostgreSQL (5432) and Redis (6379) are never stopped: the private ones
listen on free ports of 127.0.0.1 and live in temporary directories.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RUN_ID, _create_postgres_database, _drop_postgres_database
from tests.sdk.live_server import free_port, spawn_uvicorn, stop_process, wait_until_healthy
from tests.services_available import IN_CI, require_postgres


def missing(what: str) -> None:
    """Skip a test whose tool is not installed; under CI=true that is a failure."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true requires it)", pytrace=False)
    pytest.skip(what)


def _wait_for_port(port: int, seconds: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args!r} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds}s")


def _end(process: subprocess.Popen[bytes] | None) -> None:
    """Terminate a process this module started (by its own handle), then kill it."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
    stop_process(process)


class PrivateRedis:
    """A redis-server of our own, without persistence, on a free port."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server is not installed")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--daemonize", "no", "--dir", str(self.directory)]
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _wait_for_port(self.port, 10, self.process)

    def kill(self) -> None:
        """SIGKILL: Redis is gone, with everything it held."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, like a hung or partitioned Redis."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        _end(self.process)
        self.process = None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb) in a temporary directory, on a free port,
    run as the `postgres` OS user when we are root (initdb refuses root)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if initdb is None:
            missing("PostgreSQL's initdb is not installed (/usr/lib/postgresql/*/bin/initdb)")
        assert initdb is not None
        self.bin = Path(initdb).parent
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="mltrail-faults-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                missing("runuser is needed to run initdb as the postgres user")
            assert runuser is not None
            self._as_postgres = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.directory, user="postgres", group="postgres")

    def _run(self, *command: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self._as_postgres, *command],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "--encoding=UTF8",
            "--locale=C",
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        options += " -c fsync=off -c max_connections=200"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class LiveServer:
    """`uvicorn mltrail_server.main:app` on a free port of 127.0.0.1, with the given settings."""

    def __init__(self, directory: Path, env: dict[str, str], workers: int = 1) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log = directory / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "DATA_DIR": str(directory),
            "LOG_LEVEL": "WARNING",
            "MIGRATE_ON_START": "true",
            "AUTH_ENABLED": "false",
            "RATE_LIMIT_PER_SECOND": "0",
            "REDIS_URL": "",
            "REDIS_PREFIX": f"mltrail-faults-{uuid.uuid4().hex[:8]}:",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = spawn_uvicorn(
            self.port, self.env, self.log, ("--workers", str(self.workers))
        )
        wait_until_healthy(self.process, self.url, self.log)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        _end(self.process)
        self.process = None

    def errors_logged(self) -> str:
        """Unhandled errors the server logged (tracebacks), for the failure message."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(line[:400] for line in text.splitlines() if '"ERROR"' in line)[-4000:]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    postgres = PrivatePostgres()
    try:
        postgres.init()
        postgres.start()
    except subprocess.CalledProcessError as exc:
        postgres.destroy()
        raise RuntimeError(f"private PostgreSQL failed: {exc.stderr!r}") from exc
    yield postgres
    postgres.destroy()


@pytest.fixture
def shared_postgres_database() -> Iterator[str]:
    """A fresh database on the machine's shared PostgreSQL (which is never restarted)."""
    require_postgres()
    name = f"mltrail_faults_{RUN_ID}_{uuid.uuid4().hex[:6]}"
    url = _create_postgres_database(name)
    yield url
    _drop_postgres_database(name)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[LiveServer]]:
    """Servers a test starts; all stopped at its end."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()
