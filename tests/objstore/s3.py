"""A real S3 endpoint on loopback for the tests: `moto_server` in a subprocess on a free port,
and a TCP relay in front of it that a test can cut (the store "goes down" for the server,
with moto and its objects still there) and restore."""

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import obstore
from obstore.store import S3Store

from tests.sdk.live_server import free_port, spawn_uvicorn
from tests.services_available import require_module

__all__ = ["CREDENTIALS", "Moto", "Relay", "S3Bucket", "start_and_wait_for_exit"]

START_TIMEOUT_SECONDS = 30.0
EXIT_TIMEOUT_SECONDS = 60
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def _moto_command(host: str, port: int) -> list[str]:
    require_module("moto", "the object-storage tests run against moto_server")
    found = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if found is None:
        found = shutil.which("moto_server")
    assert found is not None, "moto[server] is installed but its moto_server script is not"
    return [found, "-H", host, "-p", str(port)]


class Moto:
    """`moto_server` on `host` (127.0.0.1 unless told), a free port; its objects live as
    long as the process."""

    def __init__(self, log: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                _moto_command(self.host, self.port),
                stdout=output,
                stderr=subprocess.STDOUT,
                env={**os.environ, **CREDENTIALS},
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited:\n{self.log.read_text()[-2000:]}")
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"moto_server did not answer in {START_TIMEOUT_SECONDS}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def bucket(self, endpoint: str | None = None) -> "S3Bucket":
        """A new, empty bucket; `endpoint` is where the server under test is told to find it
        (the relay, for a fault test)."""
        name = f"t-{uuid.uuid4().hex[:12]}"
        httpx.put(f"{self.url}/{name}", timeout=10).raise_for_status()
        return S3Bucket(name, self.url, endpoint or self.url)


@dataclass
class S3Bucket:
    name: str
    moto_url: str
    endpoint: str  # what the server under test connects to
    prefix: str = "team/tracker"
    _store: S3Store | None = field(default=None, repr=False)

    @property
    def root(self) -> str:
        return f"s3://{self.name}/{self.prefix}"

    def server_env(self) -> dict[str, str]:
        """The settings that point a server at this bucket."""
        return {
            **CREDENTIALS,
            "ARTIFACT_ROOT": self.root,
            "ARTIFACT_S3_ENDPOINT_URL": self.endpoint,
        }

    @property
    def store(self) -> S3Store:
        """A client of the bucket straight at moto (not through the relay)."""
        if self._store is None:
            self._store = S3Store(
                self.name,
                config={
                    "endpoint": self.moto_url,
                    "access_key_id": "testing",
                    "secret_access_key": "testing",
                    "region": "us-east-1",
                    "virtual_hosted_style_request": False,
                },
                client_options={"allow_http": True},
            )
        return self._store

    def object_keys(self) -> list[str]:
        """Every object's key in the bucket, sorted."""
        return sorted(meta["path"] for batch in obstore.list(self.store) for meta in batch)

    def put_many(self, objects: dict[str, bytes]) -> None:
        """Write the objects straight into the bucket, several at a time."""

        async def put_all() -> None:
            limit = asyncio.Semaphore(16)

            async def put(key: str, data: bytes) -> None:
                async with limit:
                    await obstore.put_async(self.store, key, data)

            await asyncio.gather(*(put(key, data) for key, data in objects.items()))

        asyncio.run(put_all())

    def read(self, key: str) -> bytes:
        return bytes(obstore.get(self.store, key).bytes())

    def pending_uploads(self) -> str:
        """moto's list of multipart uploads not completed nor aborted (XML)."""
        return httpx.get(f"{self.moto_url}/{self.name}?uploads", timeout=10).text


def pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until either side closes, then shut both down and close them.
    Closing matters: a socket only shut down keeps taking a sender's bytes until its buffer
    is full, and the sender then waits forever (an upload through a relay whose far side
    dropped it hung a loaded run); closed, it answers with a reset and the sender fails."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class Relay:
    """A TCP relay 127.0.0.1:`port` → `target_port`. `cut()` drops every connection and
    refuses new ones (the store is down); `restore()` accepts again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            # The timeout was for connecting: an answer may take longer (moto joins 200 MiB
            # of parts in seconds), and a recv timing out would cut the request short.
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(source, sink), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(), which frees the port.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @property
    def is_cut(self) -> bool:
        return self._listener is None

    def restore(self) -> None:
        self.start()

    def stop(self) -> None:
        self.cut()


def start_and_wait_for_exit(
    directory: Path, env: dict[str, str], keys: dict[str, str] = CREDENTIALS
) -> tuple[int, str]:
    """A server started with `env` (and the AWS `keys` in its environment) that is expected
    to stop by itself at start: its exit code and what it logged."""
    log = directory / "server.log"
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{directory / 't.db'}",
        "REDIS_URL": "",
        "DATA_DIR": str(directory / "data"),
        **keys,
        **env,
    }
    process = spawn_uvicorn(free_port(), environment, log)
    try:
        code = process.wait(timeout=EXIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(f"the server kept running:\n{log.read_text()[-2000:]}") from None
    return code, log.read_text()
