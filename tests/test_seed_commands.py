"""The seed's own deployment commands, run from the repository root, still serve the API
after the server moved to the `mltrail_server` package (through the `app/` shim)."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.sdk.live_server import ROOT, free_port, wait_until_healthy

COMMANDS = {
    "uvicorn": ["-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port"],
    "gunicorn": ["-m", "gunicorn", "app.main:app", "-w", "1", "-k", "uvicorn.workers.UvicornWorker"]
    + ["--bind"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_seed_command_serves_experiments(name: str, tmp_path: Path) -> None:
    port = free_port()
    address = str(port) if name == "uvicorn" else f"127.0.0.1:{port}"
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DATABASE_URL": "", "AUTH_ENABLED": "false"}
    log = tmp_path / "server.log"
    with log.open("ab") as handle:
        process = subprocess.Popen(
            [sys.executable, *COMMANDS[name], address],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, url, log)
        created = httpx.post(f"{url}/api/v1/experiments", json={"name": "seed", "owner": "me"})
        assert created.status_code == 201, created.text
        listed = httpx.get(f"{url}/api/v1/experiments", params={"name": "seed"}).json()
        assert [item["name"] for item in listed["items"]] == ["seed"]
    finally:
        process.terminate()
        process.wait(timeout=20)
