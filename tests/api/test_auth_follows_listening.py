"""Auth on by default follows where the server really listens (over real sockets).

A server bound to 0.0.0.0 also answers on 127.0.0.1, which is where a reverse proxy on the
same host connects from: such requests must need a key too. Each server here is a real
process on a free port, started without AUTH_ENABLED, from a directory without a `.env`."""

import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.sdk.live_server import ROOT, free_port, stop_process, wait_until_healthy

BIN = Path(sys.executable).parent


def _environment(directory: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"AUTH_ENABLED", "HOST", "PORT", "DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        {
            "DATA_DIR": str(directory),
            "LOG_LEVEL": "WARNING",
            "CACHE_ENABLED": "false",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


LAUNCHERS = {
    "mltrail server": lambda host, port: (
        [str(BIN / "mltrail"), "server", "--host", host] + ["--port", str(port)]
    ),
    "uvicorn": lambda host, port: (
        [sys.executable, "-m", "uvicorn", "mltrail_server.main:app"]
        + ["--host", host, "--port", str(port)]
    ),
    "uvicorn, 2 workers": lambda host, port: (
        [sys.executable, "-m", "uvicorn", "mltrail_server.main:app"]
        + ["--host", host, "--port", str(port), "--workers", "2"]
    ),
}


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine beyond loopback, if it has one (the route to a
    documentation address tells which interface would be used; nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if ipaddress.ip_address(address).is_loopback else address


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    processes: list[subprocess.Popen[bytes]] = []

    def launch(launcher: str, host: str) -> str:
        port = free_port()
        log = tmp_path / f"server-{port}.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                LAUNCHERS[launcher](host, port),
                cwd=tmp_path,
                env=_environment(tmp_path),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
        wait_until_healthy(process, url, log)
        return url

    yield launch
    for process in processes:
        stop_process(process)


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_a_server_listening_on_every_address_wants_a_key_on_loopback_too(
    start: object, launcher: str
) -> None:
    url = start(launcher, "0.0.0.0")  # type: ignore[operator]
    # Several requests: with two workers, each worker must refuse (any may answer).
    for _ in range(6):
        answer = httpx.get(f"{url}/api/v1/experiments", timeout=10)
        assert answer.status_code == 401, answer.text
        mlflow = httpx.post(
            f"{url}/api/2.0/mlflow/experiments/create", json={"name": "x"}, timeout=10
        )
        assert mlflow.status_code == 401, mlflow.text
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def test_a_server_on_a_network_address_wants_a_key(start: object) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address beyond loopback")
    url = start("uvicorn", address)  # type: ignore[operator]
    answer = httpx.get(f"{url}/api/v1/experiments", timeout=10)
    assert answer.status_code == 401, answer.text


@pytest.mark.parametrize("launcher", ["mltrail server", "uvicorn"])
def test_a_server_on_loopback_only_runs_open(start: object, launcher: str) -> None:
    url = start(launcher, "127.0.0.1")  # type: ignore[operator]
    answer = httpx.get(f"{url}/api/v1/experiments", timeout=10)
    assert answer.status_code == 200, answer.text


def test_looking_for_listening_sockets_leaves_no_descriptor_open() -> None:
    from mltrail_server.services.exposure import _scan

    before = len(os.listdir("/dev/fd"))
    for _ in range(50):
        _scan()
    assert len(os.listdir("/dev/fd")) == before
