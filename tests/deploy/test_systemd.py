"""deploy/systemd/mltrail.service: its ExecStartPre= and ExecStart= lines run for real (with
this checkout's `mltrail`, on a free port, over SQLite and the real Redis, in an environment
made only of an env file like /etc/mltrail/env), and systemd-analyze verifies the unit.
systemd does not run here (it is not PID 1), so the sandboxing options are checked by
systemd-analyze, not enforced on the test's processes."""

import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values

from tests.deploy.deploy_files import (
    DEPLOY,
    SCRIPTS,
    base_environment,
    get,
    local_argv,
    read_unit,
    running,
    with_port,
)
from tests.sdk.live_server import free_port
from tests.services_available import REDIS_URL, require_redis

UNIT = DEPLOY / "systemd" / "mltrail.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "env.example"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed on this machine"
)


@pytest.fixture(scope="module")
def unit() -> dict[str, dict[str, list[str]]]:
    return read_unit(UNIT)


def command(line: str) -> list[str]:
    # systemd's prefixes (-, @, +, !, :) change how a line runs, not what it runs; none is
    # expected here, so any would fail the exact comparisons below.
    return shlex.split(line)


def only(unit: dict[str, dict[str, list[str]]], key: str) -> str:
    (value,) = unit["Service"][key]
    return value


class TestUnit:
    def test_runs_as_mltrail_with_its_env_file(self, unit: dict[str, dict[str, list[str]]]) -> None:
        assert only(unit, "User") == "mltrail"
        assert only(unit, "EnvironmentFile") == "/etc/mltrail/env"
        assert only(unit, "Type") == "exec"
        assert only(unit, "Restart") == "on-failure"
        assert unit["Install"]["WantedBy"] == ["multi-user.target"]

    def test_migrates_before_serving_on_loopback(
        self, unit: dict[str, dict[str, list[str]]]
    ) -> None:
        (pre,) = unit["Service"]["ExecStartPre"]
        assert command(pre)[1:] == ["db", "upgrade"]
        start = command(only(unit, "ExecStart"))
        assert start[1:] == ["server", "--host", "127.0.0.1", "--port", "8000", "--workers", "2"]
        assert Path(start[0]).is_absolute() and Path(start[0]) == Path(command(pre)[0])

    def test_hardened(self, unit: dict[str, dict[str, list[str]]]) -> None:
        assert only(unit, "NoNewPrivileges") == "yes"
        assert only(unit, "ProtectSystem") == "strict"
        assert only(unit, "PrivateTmp") == "yes"
        assert only(unit, "ProtectHome") == "yes"
        state = only(unit, "WorkingDirectory")
        assert only(unit, "ReadWritePaths") == state == "/var/lib/mltrail"
        env = dotenv_values(ENV_EXAMPLE)
        assert env["DATA_DIR"] == state
        assert str(env["ARTIFACT_ROOT"]).startswith(state + "/")

    def test_env_file_has_what_two_workers_need(self) -> None:
        env = dotenv_values(ENV_EXAMPLE)
        # --workers 2 refuses to start without a shared cache.
        assert str(env["REDIS_URL"]).startswith("redis://")
        assert env["AUTH_ENABLED"] == "true"
        assert env["MIGRATE_ON_START"] == "false"
        assert "change-me" in str(env["DATABASE_URL"])


class TestCommandLines:
    def test_exec_start_pre_then_exec_start_serve(
        self, unit: dict[str, dict[str, list[str]]], tmp_path: Path
    ) -> None:
        require_redis()
        state = tmp_path / "var-lib-mltrail"
        state.mkdir()
        # /etc/mltrail/env as an operator writes it from env.example, pointed at this test's
        # directory, SQLite and the local Redis (under a prefix of its own).
        settings = dotenv_values(ENV_EXAMPLE)
        settings.update(
            DATABASE_URL=f"sqlite:///{state / 'tracker.db'}",
            DATA_DIR=str(state),
            ARTIFACT_ROOT=str(state / "artifacts"),
            REDIS_URL=REDIS_URL,
            REDIS_PREFIX=f"deploy-test-{uuid.uuid4().hex[:8]}:",
        )
        env_file = tmp_path / "env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        env = {
            **base_environment(state),
            **{key: str(value) for key, value in dotenv_values(env_file).items()},
        }

        (pre,) = unit["Service"]["ExecStartPre"]
        migrate = subprocess.run(
            local_argv(command(pre)),
            cwd=state,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        assert "is at the latest schema" in migrate.stdout

        port = free_port()
        start = with_port(local_argv(command(only(unit, "ExecStart"))), port)
        url = f"http://127.0.0.1:{port}"
        journal = tmp_path / "journal.log"
        with running(start, env, state, url, journal) as server:
            ready = get(f"{url}/ready")
            assert ready.status_code == 200
            assert ready.json()["cache_backend"] == "redis"
            # AUTH_ENABLED=true from the env file, though it listens on loopback.
            assert get(f"{url}/api/v1/experiments").status_code == 401
            # The operator reads the first admin key from the journal and uses it.
            key = first_admin_key(journal)
            created = httpx.post(
                f"{url}/api/v1/experiments",
                json={"name": "systemd-check", "owner": "admin"},
                headers={"X-API-Key": key},
                timeout=10,
            )
            assert created.status_code == 201, created.text
            # What `systemctl stop` does with KillMode=mixed: SIGTERM to the main process,
            # which stops its two workers and exits cleanly.
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0, journal.read_text()[-3000:]
        assert (state / "tracker.db").is_file()


def first_admin_key(journal: Path) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(
            r"First admin API key \(shown once, keep it safe\): (\S+)", journal.read_text()
        )
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no first admin key in the journal:\n{journal.read_text()[-3000:]}")


@needs_systemd_analyze
class TestSystemdAnalyze:
    @pytest.fixture
    def installed_unit(self, tmp_path: Path) -> Path:
        # verify checks that ExecStart's program exists: point it at this checkout's mltrail.
        copy = tmp_path / UNIT.name
        unit = read_unit(UNIT)
        program = command(only(unit, "ExecStart"))[0]
        copy.write_text(UNIT.read_text().replace(program, str(SCRIPTS / "mltrail")))
        return copy

    def analyze(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert SYSTEMD_ANALYZE is not None
        return subprocess.run(
            [SYSTEMD_ANALYZE, *args], capture_output=True, text=True, timeout=60, check=False
        )

    def test_verify_reports_nothing(self, installed_unit: Path) -> None:
        # An unknown or misspelled key is only a warning (exit 0): any output fails.
        result = self.analyze("verify", "--man=no", str(installed_unit))
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

    def test_verify_catches_a_misspelled_key(self, installed_unit: Path) -> None:
        text = installed_unit.read_text().replace("ProtectSystem=", "ProtectSytem=")
        installed_unit.write_text(text)
        result = self.analyze("verify", "--man=no", str(installed_unit))
        assert "Unknown key" in result.stderr and "ProtectSytem" in result.stderr

    def test_exposure_is_low(self, installed_unit: Path) -> None:
        # systemd's own score of the sandbox, 0 (locked down) to 10 (none); 2.0 at most.
        result = self.analyze("security", "--offline=true", "--threshold=20", str(installed_unit))
        assert result.returncode == 0, result.stdout[-2000:]
        assert "Overall exposure level for mltrail.service" in result.stdout
