"""With auth on, the mlflow client authenticates with an API key sent as
MLFLOW_TRACKING_TOKEN (Bearer) or as MLFLOW_TRACKING_PASSWORD (Basic); without one the
client gets MLflow's 401."""

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.mlflow.conftest import CLEARED, CLIENT_ENVIRONMENT, LiveServer, _start, _stop, unique

KEY_LINE = re.compile(r"First admin API key[^:]*: (\S+)")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    directory = tmp_path_factory.mktemp("mlflow-auth")
    server = _start(
        "sqlite",
        f"sqlite:///{directory / 'tracker.db'}",
        "",
        directory,
        extra={"AUTH_ENABLED": "true"},
    )
    deadline = time.monotonic() + 10
    while not (match := KEY_LINE.search(server.log.read_text())):
        assert time.monotonic() < deadline, "the server printed no admin key"
        time.sleep(0.1)
    yield server, match.group(1)
    _stop(server)


@pytest.fixture
def secured_client(
    secured: tuple[LiveServer, str], monkeypatch: pytest.MonkeyPatch
) -> MlflowClient:
    server, _ = secured
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name, value in CLIENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    return MlflowClient(server.url)


def test_no_key_is_mlflows_401(
    secured: tuple[LiveServer, str], secured_client: MlflowClient
) -> None:
    server, _ = secured
    response = httpx.post(f"{server.url}/api/2.0/mlflow/experiments/search", json={})
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"
    with pytest.raises(MlflowException) as refused:
        secured_client.search_experiments()
    assert str(refused.value.error_code) == "UNAUTHENTICATED"


@pytest.mark.parametrize("how", ["token", "basic"])
def test_a_key_as_token_or_password(
    how: str,
    secured: tuple[LiveServer, str],
    secured_client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server, key = secured
    if how == "token":
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", key)
    experiment_id = secured_client.create_experiment(unique("Secured"))
    run = secured_client.create_run(experiment_id)
    secured_client.log_metric(run.info.run_id, "m", 1.0)
    artifact = tmp_path / "a.txt"
    artifact.write_text("secret")
    secured_client.log_artifact(run.info.run_id, str(artifact))
    assert [f.path for f in secured_client.list_artifacts(run.info.run_id)] == ["a.txt"]
    assert secured_client.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    # The experiment belongs to the key's user.
    experiment = httpx.get(
        f"{server.url}/api/v1/experiments/{experiment_id}", headers={"X-API-Key": key}
    ).json()
    assert experiment["owner"] == "admin"


def _member_key(server: LiveServer, admin_key: str, role: str) -> str:
    """A new user of `role` and its API key, made by the admin through /api/v1."""
    admin = {"X-API-Key": admin_key}
    user = httpx.post(
        f"{server.url}/api/v1/users",
        json={"name": unique(role).replace(" ", "-"), "role": role},
        headers=admin,
    )
    assert user.status_code == 201, user.text
    key = httpx.post(
        f"{server.url}/api/v1/users/{user.json()['id']}/keys", json={"name": "k"}, headers=admin
    )
    assert key.status_code == 201, key.text
    return str(key.json()["key"])


def test_the_registry_refuses_a_viewer_and_a_non_owner(
    secured: tuple[LiveServer, str],
    secured_client: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, admin_key = secured
    keys = {role: _member_key(server, admin_key, role) for role in ("member", "viewer")}
    owner_key = _member_key(server, admin_key, "member")
    name = unique("owned").replace(" ", "-")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", owner_key)
    secured_client.create_registered_model(name)
    secured_client.create_model_version(name, "s3://bucket/model")
    for role, key in keys.items():
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
        assert secured_client.get_registered_model(name).name == name  # reading is allowed
        for write in (
            lambda: secured_client.set_registered_model_alias(name, "champion", 1),
            lambda: secured_client.create_model_version(name, "s3://evil/model"),
            lambda: secured_client.delete_registered_model(name),
        ):
            with pytest.raises(MlflowException) as refused:
                write()
            assert str(refused.value.error_code) == "PERMISSION_DENIED", role
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", owner_key)
    model = secured_client.get_registered_model(name)
    assert model.aliases == {}
    assert [v.version for v in secured_client.search_model_versions(f"name = '{name}'")] == ["1"]
