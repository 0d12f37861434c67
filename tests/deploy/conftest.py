"""One server started the way the container image and the Kubernetes pods start it: the
image's environment plus the ConfigMap's, the migration Job's command, then the image's CMD
(on a free port, on loopback instead of 0.0.0.0), over SQLite in a temporary /data."""

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_files import (
    DEPLOY,
    ROOT,
    Dockerfile,
    base_environment,
    load_yaml,
    local_argv,
    running,
    with_port,
)
from tests.sdk.live_server import free_port
from tests.services_available import REDIS_URL, require_redis


@dataclass(frozen=True)
class ImageServer:
    url: str
    port: int
    data: Path
    migrate_output: str


def kubernetes(kind: str, name: str) -> dict[str, Any]:
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in load_yaml(path):
            if document["kind"] == kind and document["metadata"]["name"] == name:
                return document
    raise AssertionError(f"no {kind} {name} under deploy/kubernetes")


def rebased(value: str, data: Path) -> str:
    """/data/... of the image, under the test's own directory."""
    return (
        str(data / value.removeprefix("/data").lstrip("/")) if value.startswith("/data") else value
    )


@pytest.fixture(scope="session")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageServer]:
    require_redis()
    root = tmp_path_factory.mktemp("image")
    data = root / "data"
    (data / "artifacts").mkdir(parents=True)
    workdir = root / "app"
    workdir.mkdir()
    dockerfile = Dockerfile(ROOT / "Dockerfile")
    config_map = kubernetes("ConfigMap", "mltrail")
    settings = {**dockerfile.env, **config_map["data"]}
    env = base_environment(root)
    env.update({key: rebased(value, data) for key, value in settings.items()})
    # The cluster's Redis is this machine's, under a prefix of its own.
    env["REDIS_URL"] = REDIS_URL
    env["REDIS_PREFIX"] = f"deploy-test-{uuid.uuid4().hex[:8]}:"

    job = kubernetes("Job", "mltrail-migrate")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    migrate = subprocess.run(
        local_argv(container["command"]),
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr

    port = free_port()
    argv = with_port(local_argv(dockerfile.cmd), port)
    argv = ["127.0.0.1" if arg == "0.0.0.0" else arg for arg in argv]
    url = f"http://127.0.0.1:{port}"
    with running(argv, env, workdir, url, root / "server.log"):
        yield ImageServer(url=url, port=port, data=data, migrate_output=migrate.stdout)
