"""The Dockerfile: hadolint finds nothing, the image is built and run the way the README
says, and the command lines it runs (CMD, HEALTHCHECK) work against a real server. No
container engine runs here, so the image itself is not built."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.conftest import ImageServer
from tests.deploy.deploy_files import ROOT, Dockerfile, checker, get, local_argv, with_port

DOCKERFILE = ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return Dockerfile(DOCKERFILE)


def hadolint(path: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [str(checker("hadolint")), "--format", "json", "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout.strip(), result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout)
    return findings


class TestLint:
    def test_hadolint_finds_nothing(self) -> None:
        assert hadolint(DOCKERFILE) == []

    def test_every_ignore_is_explained(self) -> None:
        lines = DOCKERFILE.read_text().splitlines()
        for number, line in enumerate(lines):
            if "hadolint ignore" in line:
                assert lines[number - 1].startswith("#"), f"line {number + 1}: ignore without why"

    def test_hadolint_really_lints(self, tmp_path: Path) -> None:
        # The same file with an unpinned install and root as the last user must be flagged:
        # an empty answer above means the file is clean, not that nothing was checked.
        broken = tmp_path / "Dockerfile"
        text = DOCKERFILE.read_text().replace("USER 10001:10001", "USER root")
        broken.write_text(text.replace("# hadolint ignore=DL3013\n", ""))
        codes = {finding["code"] for finding in hadolint(broken)}
        assert {"DL3002", "DL3013"} <= codes


class TestBuild:
    def test_two_stages_on_python_3_11_slim(self, dockerfile: Dockerfile) -> None:
        assert dockerfile.parser.parent_images == ["python:3.11-slim", "python:3.11-slim"]
        assert len(dockerfile.stages) == 2

    def test_build_stage_makes_wheels_of_the_project_and_its_pins(
        self, dockerfile: Dockerfile
    ) -> None:
        assert dockerfile.values(0, "RUN") == ["pip wheel --wheel-dir /wheels '.[server,cli]'"]

    def test_runtime_installs_from_those_wheels_only(self, dockerfile: Dockerfile) -> None:
        installs = [run for run in dockerfile.values(1, "RUN") if "pip install" in run]
        assert len(installs) == 1
        assert "--mount=type=bind,from=build,source=/wheels" in installs[0]
        assert "--no-index --find-links=/wheels 'mltrail[server,cli]'" in installs[0]

    def test_what_the_build_copies_is_in_the_context(self, dockerfile: Dockerfile) -> None:
        # .dockerignore excludes everything, then lets back in what the wheel is made of.
        allowed = {
            line.removeprefix("!").rstrip("/")
            for line in (ROOT / ".dockerignore").read_text().splitlines()
            if line.startswith("!")
        }
        sources = [source for copy in dockerfile.values(0, "COPY") for source in copy.split()[:-1]]
        assert sources == ["pyproject.toml", "README.md", "mltrail", "mltrail_server"]
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source in allowed, f"{source} is copied but .dockerignore leaves it out"
        assert ".env" not in allowed and ".venv" not in allowed


class TestRuntime:
    def test_runs_as_an_unprivileged_user(self, dockerfile: Dockerfile) -> None:
        (user,) = dockerfile.values(1, "USER")
        # Numeric, so Kubernetes' runAsNonRoot can tell without reading /etc/passwd.
        uid, _, gid = user.partition(":")
        assert int(uid) >= 1000 and int(gid) >= 1000

    def test_data_on_a_volume_and_no_migration_at_start(self, dockerfile: Dockerfile) -> None:
        assert dockerfile.env["DATA_DIR"] == "/data"
        assert dockerfile.env["ARTIFACT_ROOT"] == "/data/artifacts"
        assert dockerfile.env["MIGRATE_ON_START"] == "false"
        assert dockerfile.values(1, "VOLUME") == ['["/data"]']
        assert dockerfile.values(1, "EXPOSE") == ["8000"]

    def test_cmd_serves_on_every_interface_port_8000(self, dockerfile: Dockerfile) -> None:
        assert dockerfile.cmd == ["mltrail", "server", "--host", "0.0.0.0", "--port", "8000"]


class TestCommandLines:
    """The image's CMD has started `image_server` (see conftest.py); its HEALTHCHECK runs."""

    def test_the_migration_command_brought_the_schema_up(self, image_server: ImageServer) -> None:
        assert "is at the latest schema" in image_server.migrate_output
        assert (image_server.data / "tracker.db").is_file()

    def test_the_server_from_cmd_is_ready(self, image_server: ImageServer) -> None:
        ready = get(f"{image_server.url}/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"

    def test_healthcheck_passes_on_a_live_server(
        self, dockerfile: Dockerfile, image_server: ImageServer
    ) -> None:
        command = with_port(local_argv(dockerfile.healthcheck), image_server.port)
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr

    def test_healthcheck_fails_when_nothing_answers(self, dockerfile: Dockerfile) -> None:
        from tests.sdk.live_server import free_port

        command = with_port(local_argv(dockerfile.healthcheck), free_port())
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode != 0
        assert "Connection refused" in result.stderr

    def test_healthcheck_uses_only_the_standard_library(self, dockerfile: Dockerfile) -> None:
        # python:3.11-slim has no curl, and the check must not depend on the app's packages.
        command = local_argv(dockerfile.healthcheck)
        assert command[0] == sys.executable and command[1] == "-c"
        assert command[2].startswith("import urllib.request;")
