"""compose.yaml: valid against the Compose specification's JSON schema (the copy that
check-jsonschema ships), and wired the way it says: migrate once, then serve; healthchecks
on what the server waits for; no secret in the file. Docker Compose itself is not on this
machine, so the file is not run."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from tests.deploy.conftest import ImageServer
from tests.deploy.deploy_files import (
    DEPLOY,
    ROOT,
    Dockerfile,
    checker,
    load_yaml,
    local_argv,
    with_port,
)

COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "compose.env.example"
VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    (document,) = load_yaml(COMPOSE)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(checker("check-jsonschema")), "--builtin-schema", "vendor.compose-spec"]
    return subprocess.run(
        [*command, str(path)], capture_output=True, text=True, timeout=60, check=False
    )


class TestSchema:
    def test_valid_against_the_compose_spec(self) -> None:
        result = check_compose_schema(COMPOSE)
        assert result.returncode == 0, result.stdout + result.stderr

    def test_the_schema_rejects_a_wrong_condition(self, tmp_path: Path) -> None:
        # Proof that the schema is applied: a condition Compose does not know fails.
        broken = tmp_path / "compose.yaml"
        text = COMPOSE.read_text()
        broken.write_text(text.replace("service_completed_successfully", "service_finished"))
        result = check_compose_schema(broken)
        assert result.returncode == 1
        assert "service_finished" in result.stdout + result.stderr


class TestServices:
    def test_postgres_redis_minio_migrate_server(self, services: dict[str, Any]) -> None:
        assert set(services) == {"postgres", "redis", "minio", "migrate", "server"}

    def test_every_service_has_an_image_or_a_build(self, services: dict[str, Any]) -> None:
        for name, service in services.items():
            assert "image" in service or "build" in service, name

    def test_third_party_images_are_pinned(self, services: dict[str, Any]) -> None:
        for name in ("postgres", "redis", "minio"):
            image = services[name]["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"

    def test_depends_on_names_services_with_what_they_wait_for(
        self, services: dict[str, Any]
    ) -> None:
        for name, service in services.items():
            for target, rule in service.get("depends_on", {}).items():
                assert target in services, f"{name} depends on unknown {target}"
                if rule["condition"] == "service_healthy":
                    assert "healthcheck" in services[target], f"{target} has no healthcheck"

    def test_every_long_running_service_has_a_healthcheck(self, services: dict[str, Any]) -> None:
        for name, service in services.items():
            if service.get("restart") != "no":
                assert service["healthcheck"]["test"][0] == "CMD", name

    def test_server_starts_after_the_one_shot_migration(self, services: dict[str, Any]) -> None:
        migrate, server = services["migrate"], services["server"]
        assert migrate["command"] == ["mltrail", "db", "upgrade"]
        assert migrate["restart"] == "no"
        assert server["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert server["environment"]["MIGRATE_ON_START"] == "false"

    def test_server_runs_the_image_cmd_on_shared_services(self, services: dict[str, Any]) -> None:
        server = services["server"]
        assert server["command"] == Dockerfile(ROOT / "Dockerfile").cmd
        assert server["build"] == "."
        assert server["environment"]["DATABASE_URL"].startswith("postgresql://mltrail:${")
        assert server["environment"]["DATABASE_URL"].endswith("@postgres:5432/mltrail")
        assert server["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert server["environment"]["AUTH_ENABLED"] == "true"

    def test_artifacts_on_a_declared_volume_at_data_dir(self, compose: dict[str, Any]) -> None:
        data_dir = Dockerfile(ROOT / "Dockerfile").env["DATA_DIR"]
        assert f"artifacts:{data_dir}" in compose["services"]["server"]["volumes"]
        for service in compose["services"].values():
            for volume in service.get("volumes", []):
                assert volume.split(":")[0] in compose["volumes"], volume

    def test_server_container_is_locked_down(self, services: dict[str, Any]) -> None:
        server = services["server"]
        assert server["read_only"] is True
        assert server["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in server["security_opt"]


class TestSecrets:
    def test_no_secret_in_the_file_only_variables(self, services: dict[str, Any]) -> None:
        for name, service in services.items():
            for key, value in service.get("environment", {}).items():
                if "PASSWORD" in key or ("URL" in key and "@" in str(value)):
                    assert VARIABLE.search(str(value)), f"{name}.{key} holds a literal secret"

    def test_every_variable_is_in_the_example_env_file(self) -> None:
        used = set(VARIABLE.findall(COMPOSE.read_text()))
        example = dotenv_values(ENV_EXAMPLE)
        assert used == set(example), "compose.yaml and deploy/compose.env.example disagree"
        assert all("change-me" in str(example[key]) for key in used if "PASSWORD" in key)

    def test_secrets_are_required_not_defaulted(self) -> None:
        # ${VAR:?message}: compose refuses to start instead of using an empty password.
        for name in ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
            assert f"${{{name}:?" in COMPOSE.read_text(), name


class TestServerHealthcheck:
    def test_passes_on_a_live_server(
        self, services: dict[str, Any], image_server: ImageServer
    ) -> None:
        test = services["server"]["healthcheck"]["test"]
        command = with_port(local_argv(test[1:]), image_server.port)
        result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
