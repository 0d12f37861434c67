"""`mltrail server` and `mltrail db upgrade` as an operator runs them: the settings they read
(environment and `.env`, as the server does), `--json`, and a server that refuses to start on
a database without a schema. Every server here is a real process on a free port, stopped by
its test."""

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from mltrail.cli import app
from mltrail.cli.server import server_settings, shared_cache_problem
from mltrail_server.db.migrate import alembic_config
from mltrail_server.runtime import SchemaMissing
from tests.conftest import Backend, _create_postgres_database, _drop_postgres_database
from tests.conftest import start_server as start_in_process
from tests.sdk.live_server import ROOT, free_port, spawn_uvicorn, stop_process, wait_until_healthy
from tests.services_available import POSTGRES_URL, require_postgres

BIN = Path(sys.executable).parent
EXIT_DEADLINE_SECONDS = 60.0
# What the operator's shell must not decide for these tests: the `.env` of each test does.
DECIDED_BY_DOTENV = {
    "AUTH_ENABLED",
    "CACHE_ENABLED",
    "DATA_DIR",
    "DATABASE_URL",
    "HOST",
    "MIGRATE_ON_START",
    "PORT",
    "REDIS_URL",
}

runner = CliRunner(env={"COLUMNS": "200"})  # a wide table, whatever runs the tests


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DECIDED_BY_DOTENV}
    env.update({"LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), **extra})
    return env


def wait_for_exit(process: "subprocess.Popen[bytes]") -> int:
    """The exit status, polled until a generous deadline (the process is killed past it)."""
    deadline = time.monotonic() + EXIT_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        status = process.poll()
        if status is not None:
            return status
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=10)
    raise AssertionError(f"the server was still running after {EXIT_DEADLINE_SECONDS}s")


@pytest.fixture
def processes() -> Iterator[list["subprocess.Popen[bytes]"]]:
    """Every process a test starts goes here and is stopped at its end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            stop_process(process)


class TestSharedCacheCheck:
    """`--workers N` checks REDIS_URL and CACHE_ENABLED as the server reads them, `.env`
    included; it used to read only the environment and refuse a `.env` that turns the cache
    off."""

    @pytest.fixture(autouse=True)
    def _in_empty_directory(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        for name in DECIDED_BY_DOTENV:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.chdir(tmp_path)

    def test_a_dotenv_that_turns_the_cache_off_is_enough(self) -> None:
        Path(".env").write_text("CACHE_ENABLED=false\n")
        assert shared_cache_problem(server_settings(), workers=2) is None

    def test_a_dotenv_with_redis_is_enough(self) -> None:
        Path(".env").write_text("REDIS_URL=redis://127.0.0.1:6379/0\n")
        assert shared_cache_problem(server_settings(), workers=2) is None

    def test_without_either_it_names_both_ways_out(self) -> None:
        problem = shared_cache_problem(server_settings(), workers=2)
        assert problem is not None
        assert "REDIS_URL" in problem and "CACHE_ENABLED=false" in problem
        assert shared_cache_problem(server_settings(), workers=1) is None

    def test_a_bad_setting_in_dotenv_is_a_usage_error_naming_it(self) -> None:
        Path(".env").write_text("CACHE_ENABLED=maybe\n")
        result = runner.invoke(app, ["server", "--workers", "2"])
        assert result.exit_code == 2
        assert "CACHE_ENABLED" in result.stderr

    def test_two_workers_start_with_the_cache_off_in_dotenv(
        self, tmp_path: Path, processes: list["subprocess.Popen[bytes]"]
    ) -> None:
        database = tmp_path / "t.db"
        Path(".env").write_text(
            f"CACHE_ENABLED=false\nDATABASE_URL=sqlite:///{database}\nMIGRATE_ON_START=false\n"
        )
        upgraded = runner.invoke(app, ["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
        port = free_port()
        log = tmp_path / "server.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                [str(BIN / "mltrail"), "server", "--workers", "2", "--port", str(port)],
                cwd=tmp_path,
                env=environment(),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        wait_until_healthy(process, f"http://127.0.0.1:{port}", log)


class TestJsonOutput:
    def test_db_upgrade_prints_the_database_and_its_revision(self, tmp_path: Path) -> None:
        database = tmp_path / "fresh.db"
        result = runner.invoke(
            app, ["db", "upgrade", "--json", "--database-url", f"sqlite:///{database}"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {
            "database": f"sqlite:///{database}",
            "revision": head_revision(),
        }

    def test_server_prints_its_start_as_json_and_logs_json(
        self, tmp_path: Path, processes: list["subprocess.Popen[bytes]"]
    ) -> None:
        database = tmp_path / "t.db"
        port = free_port()
        out, err = tmp_path / "stdout", tmp_path / "stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [str(BIN / "mltrail"), "server", "--json", "--port", str(port)],
                cwd=tmp_path,
                env=environment(DATABASE_URL=f"sqlite:///{database}", LOG_LEVEL="INFO"),
                stdout=stdout,
                stderr=stderr,
            )
        processes.append(process)
        wait_until_healthy(process, f"http://127.0.0.1:{port}", err)
        process.terminate()
        wait_for_exit(process)
        first, *rest = out.read_text().splitlines()
        assert json.loads(first) == {
            "url": f"http://127.0.0.1:{port}",
            "workers": 1,
            "database": f"sqlite:///{database}",
            "cache": "memory",
        }
        assert rest == []
        logged = [line for line in err.read_text().splitlines() if line.startswith("{")]
        messages = [json.loads(line)["message"] for line in logged]
        assert any("Uvicorn running on" in message for message in messages)
        assert not any(line.startswith(("INFO:", "ERROR:")) for line in err.read_text().split("\n"))


class TestNoSchema:
    """MIGRATE_ON_START=false on an empty database: the server refuses to start with one line
    naming the database and the command, not a traceback from the first query."""

    def test_uvicorn_refuses_to_start_with_one_line(
        self, tmp_path: Path, processes: list["subprocess.Popen[bytes]"]
    ) -> None:
        database = tmp_path / "empty.db"
        log = tmp_path / "server.log"
        env = environment(DATABASE_URL=f"sqlite:///{database}", MIGRATE_ON_START="false")
        process = spawn_uvicorn(free_port(), env, log)
        processes.append(process)
        assert wait_for_exit(process) != 0
        output = log.read_text()
        assert "Traceback" not in output
        assert (
            f"the database at sqlite:///{database} has no schema: run `mltrail db upgrade`"
            in output
        )

    def test_mltrail_server_refuses_on_postgres_and_hides_the_password(
        self, tmp_path: Path, processes: list["subprocess.Popen[bytes]"]
    ) -> None:
        require_postgres()
        if "://postgres@" not in POSTGRES_URL:
            pytest.skip("TEST_POSTGRES_URL has a password already")
        name = f"mltrail_noschema_{uuid.uuid4().hex[:10]}"
        url = _create_postgres_database(name).replace("://postgres@", "://postgres:s3cret@")
        try:
            log = tmp_path / "server.log"
            with log.open("ab") as handle:
                process = subprocess.Popen(
                    [str(BIN / "mltrail"), "server", "--port", str(free_port())],
                    cwd=tmp_path,
                    env=environment(DATABASE_URL=url, MIGRATE_ON_START="false"),
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            processes.append(process)
            assert wait_for_exit(process) != 0
        finally:
            _drop_postgres_database(name)
        output = log.read_text()
        assert "Traceback" not in output and "s3cret" not in output
        shown = url.replace(":s3cret@", ":***@")
        assert f"the database at {shown} has no schema: run `mltrail db upgrade`" in output

    async def test_in_process_start_raises_the_same_message(self, tmp_path: Path) -> None:
        backend = Backend("sqlite", f"sqlite:///{tmp_path / 'empty.db'}", "")
        with pytest.raises(SchemaMissing, match="has no schema: run `mltrail db upgrade`"):
            await start_in_process(backend.settings(migrate_on_start=False), backend)

    async def test_a_migrated_database_starts(self, sqlite_backend: Backend) -> None:
        server = await start_in_process(
            sqlite_backend.settings(migrate_on_start=False), sqlite_backend
        )
        try:
            assert (await server.client.get("/api/v1/experiments")).status_code == 200
        finally:
            await server.client.aclose()
            await server.app.state.runtime.stop()  # type: ignore[attr-defined]
