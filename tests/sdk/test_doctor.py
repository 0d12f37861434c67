"""`mltrail doctor`, run as a subprocess in a temporary folder (no .env there) with none of the
server's variables but the ones a test sets: real SQLite files, the real PostgreSQL, a
redis-server of the test's own, real folders."""

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import mltrail_server
from mltrail_server.config import Settings
from mltrail_server.db.engine import Database
from mltrail_server.db.unit_of_work import transaction
from mltrail_server.services.auth import AuthService, Role
from tests.conftest import Backend
from tests.sdk.live_server import free_port

CHECKS = [
    "configuration",
    "database",
    "migrations",
    "admins",
    "replica",
    "redis",
    "artifacts",
    "auth",
]
DEADLINE_SECONDS = 30.0


def run_mltrail(directory: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """`python -m mltrail ...` in `directory`, with only `variables` of the server's."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields
        and not name.startswith(("MLTRAIL_", "EXPTRACK_"))
    }
    environment.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "mltrail", *args],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def newest_migration() -> str:
    """The number of the newest migration shipped (the one a migrated database is at)."""
    versions = Path(mltrail_server.__file__).parent / "migrations" / "versions"
    return max(path.name[:4] for path in versions.glob("[0-9][0-9][0-9][0-9]_*.py"))


def run_doctor(directory: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    return run_mltrail(directory, "doctor", *args, **variables)


def findings(directory: Path, **variables: str) -> tuple[int, list[dict[str, Any]]]:
    done = run_doctor(directory, "--json", **variables)
    return done.returncode, json.loads(done.stdout)


def finding(found: list[dict[str, Any]], check: str) -> dict[str, Any]:
    (only,) = [item for item in found if item["check"] == check]
    return only


def migrate(url: str, revision: str = "head") -> None:
    async def run() -> None:
        database = Database(url, pooled=False, statement_timeout=0)
        try:
            await database.migrate(revision)
        finally:
            await database.dispose()

    asyncio.run(run())


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder that `mltrail db upgrade` brought to the newest schema, once a module."""
    directory = tmp_path_factory.mktemp("migrated")
    done = run_mltrail(directory, "db", "upgrade")
    assert done.returncode == 0, done.stderr
    return directory / "data"


@pytest.fixture
def folder(tmp_path: Path, migrated: Path) -> Path:
    """A folder of the test's own, holding a copy of that migrated database."""
    shutil.copytree(migrated, tmp_path / "data")
    return tmp_path


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own on a free port; its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    command += ["no", "--dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


class TestHealthy:
    def test_a_migrated_sqlite_setup_is_all_ok_and_exit_0(self, folder: Path) -> None:
        code, found = findings(folder)
        assert code == 0
        assert [item["check"] for item in found] == CHECKS
        assert {item["status"] for item in found} == {"ok"}
        assert all(item["fix"] == "" for item in found)
        assert newest_migration() in finding(found, "migrations")["detail"]
        assert "fine for one worker" in finding(found, "redis")["detail"]

    def test_the_screen_has_one_mark_per_check_and_says_all_is_well(self, folder: Path) -> None:
        done = run_doctor(folder)
        assert done.returncode == 0, done.stdout
        lines = done.stdout.splitlines()
        for check in CHECKS:
            assert any(line.startswith(f"✓ {check}") for line in lines), done.stdout
        assert "Everything is in order." in done.stdout
        assert "✗" not in done.stdout

    def test_migrated_postgresql_and_redis_are_ok(
        self, tmp_path: Path, postgres_backend: Backend
    ) -> None:
        code, found = findings(
            tmp_path,
            DATABASE_URL=postgres_backend.database_url,
            REDIS_URL=postgres_backend.redis_url,
        )
        assert code == 0, found
        assert finding(found, "database")["detail"].startswith("postgresql://")
        assert finding(found, "redis")["status"] == "ok"


class TestMigrations:
    def test_a_database_without_tables_names_db_upgrade(self, tmp_path: Path) -> None:
        sqlite3.connect(tmp_path / "empty.db").close()
        code, found = findings(tmp_path, DATABASE_URL="sqlite:///empty.db")
        assert code == 1
        migrations = finding(found, "migrations")
        assert migrations["status"] == "error"
        assert "mltrail db upgrade" in migrations["fix"]

    def test_a_database_behind_says_how_far_and_names_db_upgrade(self, tmp_path: Path) -> None:
        migrate(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", "0004_metric_blocks")
        done = run_doctor(tmp_path, DATABASE_URL="sqlite:///old.db")
        assert done.returncode == 1
        behind = int(newest_migration()) - 4
        assert f"behind: at 0004_metric_blocks, {behind} migration(s)" in done.stdout
        assert "run `mltrail db upgrade`" in done.stdout

    def test_a_revision_newer_than_the_code_is_named(self, folder: Path) -> None:
        with sqlite3.connect(folder / "data" / "tracker.db") as connection:
            connection.execute("UPDATE alembic_version SET version_num = '0099_future'")
        code, found = findings(folder)
        assert code == 1
        migrations = finding(found, "migrations")
        assert "0099_future" in migrations["detail"] and "newer mltrail" in migrations["detail"]


class TestDatabase:
    def test_postgresql_where_nothing_listens_is_an_error_with_the_password_masked(
        self, tmp_path: Path
    ) -> None:
        url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/mltrail"
        done = run_doctor(tmp_path, "--json", DATABASE_URL=url)
        assert done.returncode == 1
        database = finding(json.loads(done.stdout), "database")
        assert database["status"] == "error"
        assert "postgresql://postgres:***@127.0.0.1" in database["detail"]
        assert "PostgreSQL" in database["fix"]
        assert "hunter2" not in done.stdout + done.stderr

    def test_a_missing_sqlite_file_is_not_created(self, tmp_path: Path) -> None:
        code, found = findings(tmp_path)
        assert code == 1
        assert "mltrail db upgrade" in finding(found, "database")["fix"]
        assert finding(found, "migrations")["detail"] == "not checked: no database"
        assert not (tmp_path / "data").exists()


class TestRedis:
    def test_nothing_listening_is_an_error_naming_redis(self, folder: Path) -> None:
        code, found = findings(folder, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
        assert code == 1
        redis = finding(found, "redis")
        assert redis["status"] == "error" and "Redis" in redis["detail"]
        assert "REDIS_URL" in redis["fix"]

    def test_a_running_redis_is_ok(self, folder: Path, redis_server: str) -> None:
        code, found = findings(folder, REDIS_URL=redis_server)
        assert code == 0
        assert finding(found, "redis") == {
            "check": "redis",
            "status": "ok",
            "detail": f"{redis_server} answers PING",
            "fix": "",
        }


class TestArtifacts:
    def test_a_root_under_a_regular_file_is_an_error(self, folder: Path) -> None:
        (folder / "blocker").write_text("a file, not a folder")
        code, found = findings(folder, ARTIFACT_ROOT=str(folder / "blocker" / "artifacts"))
        assert code == 1
        artifacts = finding(found, "artifacts")
        assert artifacts["status"] == "error"
        assert f"{folder / 'blocker'} is not a folder" in artifacts["detail"]

    def test_a_bucket_that_does_not_answer_is_an_error_naming_the_variable(
        self, folder: Path
    ) -> None:
        endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        code, found = findings(
            folder,
            ARTIFACT_ROOT="s3://bucket/x",
            ARTIFACT_S3_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
        )
        assert code == 1
        artifacts = finding(found, "artifacts")
        assert artifacts["status"] == "error"
        assert artifacts["detail"].startswith("ARTIFACT_ROOT=s3://bucket/x: the store cannot be")
        assert f"ARTIFACT_S3_ENDPOINT_URL={endpoint}" in artifacts["fix"]
        assert not (folder / "s3:").exists()

    def test_a_scheme_we_do_not_serve_is_a_configuration_error(self, folder: Path) -> None:
        code, found = findings(folder, ARTIFACT_ROOT="ftp://host/x")
        assert code == 1
        assert "ARTIFACT_ROOT: Value error, ftp:// is not served" in json.dumps(found)

    def test_an_existing_root_shows_free_space_and_leaves_nothing_behind(
        self, folder: Path
    ) -> None:
        root = folder / "store"
        root.mkdir()
        code, found = findings(folder, ARTIFACT_ROOT=str(root))
        assert code == 0
        assert " free" in finding(found, "artifacts")["detail"]
        assert list(root.iterdir()) == []


class TestConfiguration:
    def test_a_bad_port_is_named_and_the_other_checks_still_run(self, folder: Path) -> None:
        code, found = findings(folder, PORT="abc")
        assert code == 1
        configuration = finding(found, "configuration")
        assert configuration["status"] == "error"
        assert configuration["detail"].startswith("PORT: ")
        assert "'abc'" in configuration["detail"] and "8000" in configuration["fix"]
        assert finding(found, "database")["status"] == "ok"

    def test_every_bad_variable_is_reported(self, folder: Path) -> None:
        code, found = findings(folder, PORT="abc", DATABASE_URL="mysql://x", LOG_LEVEL="LOUD")
        assert code == 1
        reported = [item["detail"].split(":")[0] for item in found if item["status"] == "error"]
        assert sorted(reported) == ["DATABASE_URL", "LOG_LEVEL", "PORT"]
        assert finding(found, "database")["detail"] == "not checked: DATABASE_URL invalid"


class TestAuth:
    def test_auth_off_on_a_network_address_is_a_warning_with_exit_0(self, folder: Path) -> None:
        code, found = findings(folder, HOST="0.0.0.0", AUTH_ENABLED="false")
        assert code == 0
        auth = finding(found, "auth")
        assert auth["status"] == "warning" and "AUTH_ENABLED" in auth["fix"]

    def test_a_network_address_turns_auth_on(self, folder: Path) -> None:
        code, found = findings(folder, HOST="0.0.0.0")
        assert code == 0
        assert finding(found, "auth")["detail"].startswith("on: HOST=0.0.0.0")

    def test_users_without_an_active_admin_is_an_error_when_auth_is_on(self, folder: Path) -> None:
        async def add_member() -> None:
            url = f"sqlite+aiosqlite:///{folder / 'data' / 'tracker.db'}"
            database = Database(url, pooled=False, statement_timeout=0)
            try:
                async with transaction(database.session()) as session:
                    await AuthService(session).create_user("bob", Role.MEMBER)
            finally:
                await database.dispose()

        asyncio.run(add_member())
        code, found = findings(folder, AUTH_ENABLED="true")
        assert code == 1
        admins = finding(found, "admins")
        assert admins["status"] == "error"
        assert "mltrail keys create --admin" in admins["fix"]


class TestWithoutTheServer:
    def test_exit_2_and_how_to_install_it(self, tmp_path: Path) -> None:
        # None in sys.modules is Python's own way to make a package unimportable.
        code = (
            "import sys; sys.modules['mltrail_server'] = None; from mltrail.cli import main; main()"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, "doctor"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2
        assert "pip install 'mltrail[server]'" in done.stderr
