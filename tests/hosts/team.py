"""A team's deployment on this machine: API hosts in network namespaces of their own
(network.py) behind HAProxy, sharing one PostgreSQL database, one Redis and one S3 bucket.

- PostgreSQL is the machine's shared server, reached from the namespaces through its Unix
  socket (a socket is a file, not a network address), in a database of the test's own.
- Redis and the S3 store (moto_server) are the test's own, listening on the bridge's
  address, so that every host reaches them over its link.
- HAProxy listens on 127.0.0.1 for the test's clients, checks each host's `/health`, and
  sends a request whose connection failed to another host.
"""

import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from tests.hosts.network import Network
from tests.objstore.s3 import CREDENTIALS, Moto, S3Bucket
from tests.polling import wait_for
from tests.sdk.live_server import KEEP_ALIVE_SECONDS, START_TIMEOUT_SECONDS, free_port, stop_process
from tests.services_available import POSTGRES_URL

__all__ = ["Host", "Team", "haproxy_binary"]

ROOT = Path(__file__).parents[2]
PORT = 8000  # every host's port, in its own namespace
FIRST_KEY = re.compile(r"First admin API key \(shown once, keep it safe\): (\S+)")
# A stopped host finishes what it is answering, open live streams included, for this long.
GRACEFUL_SECONDS = 25


def haproxy_binary() -> str | None:
    """HAProxy, on the PATH or where Debian puts it (/usr/sbin, off a plain user's PATH)."""
    return shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin")


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


async def _socket_database_url(name: str) -> str:
    """A new database on the shared server, and its URL through the server's Unix socket."""
    connection = await asyncpg.connect(f"{POSTGRES_URL}/postgres", timeout=10)
    try:
        directories = await connection.fetchval("SHOW unix_socket_directories")
        port = await connection.fetchval("SHOW port")
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    directory = str(directories).split(",")[0].strip()
    return f"postgresql://postgres@/{name}?host={directory}&port={port}"


async def _drop_database(name: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES_URL}/postgres", timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@dataclass
class Host:
    """One API server process in its namespace."""

    index: int
    network: Network
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its address as this machine reaches it, over the bridge."""
        return f"http://{self.network.address(self.index)}:{PORT}"

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", "mltrail_server.main:app"]
        command += ["--host", self.network.address(self.index), "--port", str(PORT)]
        command += ["--log-level", "warning", "--no-access-log"]
        command += ["--timeout-keep-alive", str(KEEP_ALIVE_SECONDS)]
        command += ["--timeout-graceful-shutdown", str(GRACEFUL_SECONDS)]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self.network.command(self.index, command),
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        process = self.process

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"host {self.index} exited:\n{self.log.read_text()[-3000:]}")
            return _answers(self.url)

        wait_for(healthy, f"host {self.index} answers /health", START_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """A graceful stop (SIGTERM): what it is answering is answered, then it exits."""
        if self.process is not None:
            stop_process(self.process, grace=GRACEFUL_SECONDS + 15)
            self.process = None


@dataclass
class Team:
    """Everything of the deployment; `start()` it, use `url` and `key`, then `stop()`."""

    directory: Path
    hosts: int = 3
    network: Network = field(init=False)
    members: list[Host] = field(default_factory=list)
    url: str = ""
    key: str = ""
    bucket: S3Bucket | None = None
    _database: str = field(default_factory=lambda: f"mltrail_hosts_{uuid.uuid4().hex[:10]}")
    _redis: subprocess.Popen[bytes] | None = None
    _moto: Moto | None = None
    _haproxy: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.network = Network(self.hosts)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.network.open()
        gateway = self.network.gateway
        redis_port = free_port()
        with (self.directory / "redis.log").open("ab") as output:
            self._redis = subprocess.Popen(
                ["redis-server", "--bind", gateway, "--port", str(redis_port), "--save", ""]
                + ["--appendonly", "no", "--protected-mode", "no"],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self._moto = Moto(self.directory / "moto.log", host=gateway)
        self._moto.start()
        self.bucket = self._moto.bucket()
        database_url = asyncio.run(_socket_database_url(self._database))
        base = {
            **os.environ,
            **CREDENTIALS,
            **self.bucket.server_env(),
            "DATABASE_URL": database_url,
            "REDIS_URL": f"redis://{gateway}:{redis_port}/0",
            "MIGRATE_ON_START": "true",
            "LOG_LEVEL": "WARNING",
            # The hosts listen on addresses other than loopback: authentication is on.
        }
        base.pop("AUTH_ENABLED", None)
        for index in range(self.hosts):
            data = self.directory / f"host{index}"
            data.mkdir()
            env = {**base, "DATA_DIR": str(data)}
            self.members.append(Host(index, self.network, env, self.directory / f"host{index}.log"))
        # The first host creates the schema and the first admin key; the others find both.
        self.members[0].start()
        found = FIRST_KEY.search(self.members[0].log.read_text())
        assert found, "the first host printed no admin key"
        self.key = found.group(1)
        for host in self.members[1:]:
            host.start()
        self._start_haproxy()

    def _start_haproxy(self) -> None:
        port = free_port()
        servers = "\n".join(
            f"    server h{host.index} {self.network.address(host.index)}:{PORT} check"
            for host in self.members
        )
        config = self.directory / "haproxy.cfg"
        config.write_text(
            f"""global
    maxconn 2000

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
    # A request whose connection to a host failed, or that got no answer at all (a
    # keep-alive connection the host closed as it stopped), goes to another host.
    option http-buffer-request
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response

frontend api
    bind 127.0.0.1:{port}
    default_backend hosts
    # Which host answered (h0, h1...): the test stops the one serving a live stream.
    http-response set-header X-Served-By %s

backend hosts
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter 250ms fall 2 rise 2
{servers}
"""
        )
        binary = haproxy_binary()
        assert binary is not None
        with (self.directory / "haproxy.log").open("ab") as output:
            self._haproxy = subprocess.Popen(
                [binary, "-db", "-f", str(config)], stdout=output, stderr=subprocess.STDOUT
            )
        self.url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(self.url), "HAProxy answers /health", START_TIMEOUT_SECONDS)

    def new_key(self, name: str) -> str:
        """The key of a new admin user `name`: each client of a test its own, as each job
        and person of a team has (the rate limit counts per key)."""
        with httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=60) as api:
            user = api.post("/api/v1/users", json={"name": name, "role": "admin"})
            assert user.status_code == 201, user.text
            key = api.post(f"/api/v1/users/{user.json()['id']}/keys", json={"name": name})
            assert key.status_code == 201, key.text
            return str(key.json()["key"])

    def stop(self) -> None:
        for host in self.members:
            host.stop()
        if self._haproxy is not None:
            stop_process(self._haproxy)
        if self._moto is not None:
            self._moto.stop()
        if self._redis is not None:
            stop_process(self._redis)
        asyncio.run(_drop_database(self._database))
        self.network.close()
