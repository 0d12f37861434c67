"""An import into a server with authentication on: an admin's key copies, a member's key
is refused before anything is written."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

from tests.importer.conftest import ROOT, client_environment, run_import
from tests.importer.mlflow_store import START
from tests.sdk.live_server import LiveServer


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    directory = tmp_path / "secured"
    directory.mkdir()
    created = subprocess.run(
        [sys.executable, "-m", "mltrail", "keys", "create", "--admin", "--json"],
        cwd=ROOT,
        env={**client_environment(), "DATABASE_URL": f"sqlite:///{directory / 't.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    server = LiveServer(directory, env={"AUTH_ENABLED": "true"})
    server.start()
    yield server, json.loads(created.stdout)["key"]
    server.stop()


def test_only_an_admins_key_imports(tmp_path: Path, secured: tuple[LiveServer, str]) -> None:
    server, admin = secured
    source = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=source)
    experiment = client.create_experiment("auth", artifact_location=(tmp_path / "a").as_uri())
    run = client.create_run(experiment, start_time=START)
    client.log_metric(run.info.run_id, "loss", float("nan"), timestamp=START, step=0)
    headers = {"Authorization": f"Bearer {admin}"}
    user = httpx.post(
        f"{server.url}/api/v1/users", json={"name": "bob", "role": "member"}, headers=headers
    ).json()
    member = httpx.post(
        f"{server.url}/api/v1/users/{user['id']}/keys", json={"name": "k"}, headers=headers
    ).json()["key"]

    refused = run_import(
        "mlflow", "--from", source, "--to", server.url, env={"MLTRAIL_API_KEY": member}
    )
    assert refused.returncode == 1
    assert "not an admin's" in refused.stderr
    listed = httpx.get(f"{server.url}/api/v1/experiments", headers=headers).json()
    assert listed["total"] == 0

    done = run_import(
        "mlflow", "--from", source, "--to", server.url, env={"MLTRAIL_API_KEY": admin}
    )
    assert done.returncode == 0, done.stderr + done.stdout
    got = httpx.get(f"{server.url}/api/v1/runs/{run.info.run_id}", headers=headers).json()
    assert got["metrics"]["loss"]["value"] == "NaN"
