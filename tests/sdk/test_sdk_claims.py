"""What the README promises SDK and CLI users, each checked against a live server over real
HTTP: keys reach a server whatever its `API_KEY_HEADER`, `download_artifact(..., "dir/")`
writes into the directory, 403 is `Forbidden` (not `Unauthorized`), every command takes
`--json`, and a refused resume leaves the run as it was."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

import mltrail
from mltrail.cli import app
from mltrail.config import Settings
from tests.sdk.live_server import LiveServer

runner = CliRunner(env={"COLUMNS": "200"})  # a wide table, whatever runs the tests


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class CustomHeaderServer:
    server: LiveServer
    admin_key: str


@pytest.fixture(scope="module")
def custom_header(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CustomHeaderServer]:
    """A server with authentication on that reads keys from `X-Token` instead of the
    default `X-API-Key`, and an admin key made straight in its database."""
    directory: Path = tmp_path_factory.mktemp("x-token")
    database_url = f"sqlite:///{directory / 't.db'}"
    made = runner.invoke(
        app, ["keys", "create", "--admin", "--json"], env={"DATABASE_URL": database_url}
    )
    assert made.exit_code == 0, made.output
    server = LiveServer(directory, env={"AUTH_ENABLED": "true", "API_KEY_HEADER": "X-Token"})
    server.start()
    yield CustomHeaderServer(server, json.loads(made.stdout)["key"])
    server.stop()


class TestAKeyReachesAServerWithAnotherKeyHeader:
    def test_the_server_reads_only_its_own_header(self, custom_header: CustomHeaderServer) -> None:
        url = f"{custom_header.server.url}/api/v1/me"
        key = custom_header.admin_key
        assert httpx.get(url, headers={"X-Token": key}, timeout=5).status_code == 200
        assert httpx.get(url, headers={"X-API-Key": key}, timeout=5).status_code == 401

    def test_the_sdk_reads_and_logs(
        self, custom_header: CustomHeaderServer, spool_dir: Path
    ) -> None:
        url, key = custom_header.server.url, custom_header.admin_key
        with mltrail.Client(url, key, give_up_after=0) as client:
            assert client.me() == {"name": "admin", "role": "admin", "authenticated": True}
        mltrail.init(url=url, api_key=key, spool_dir=spool_dir, flush_interval=0.1)
        with mltrail.start_run(experiment=unique("x-token"), params={"lr": 0.1}) as run:
            run.log({"loss": 0.5}, step=1)
        with mltrail.Client(url, key) as client:
            stored = client.runs.get(run.id)
        # The background sender authenticated too: nothing went to the spool.
        assert (stored.status, stored.params, stored.metrics["loss"].value) == (
            "completed",
            {"lr": "0.1"},
            0.5,
        )
        assert not list(spool_dir.glob("**/*.jsonl"))

    def test_the_cli_works_with_a_key(self, custom_header: CustomHeaderServer) -> None:
        name = unique("cli-x-token")
        options = ["--url", custom_header.server.url, "--retry-for", "0"]
        created = runner.invoke(
            app, [*options, "--api-key", custom_header.admin_key, "experiments", "create", name]
        )
        assert created.exit_code == 0, created.output
        listed = runner.invoke(
            app,
            [*options, "experiments", "ls", "--json"],
            env={"MLTRAIL_API_KEY": custom_header.admin_key},
        )
        assert listed.exit_code == 0, listed.output
        assert name in [e["name"] for e in json.loads(listed.stdout)]


class TestForbiddenIsNotUnauthorized:
    def test_a_viewer_writing_raises_forbidden(self, custom_header: CustomHeaderServer) -> None:
        url = custom_header.server.url
        with mltrail.Client(url, custom_header.admin_key) as admin:
            viewer = admin.users.create(unique("viewer"), role="viewer")
            key = admin.keys.create(viewer.name, name="t").key
        assert key is not None
        with mltrail.Client(url, key, give_up_after=0) as client:
            assert client.me()["role"] == "viewer"
            with pytest.raises(mltrail.Forbidden) as refused:
                client.experiments.create(unique("nope"))
        assert refused.value.status_code == 403
        assert not isinstance(refused.value, mltrail.Unauthorized)
        assert isinstance(refused.value, mltrail.ApiError)
        assert "Forbidden" in mltrail.__all__

    def test_a_bad_key_is_still_unauthorized(self, custom_header: CustomHeaderServer) -> None:
        client = mltrail.Client(custom_header.server.url, "et_not-a-key", give_up_after=0)
        with client, pytest.raises(mltrail.Unauthorized) as refused:
            client.experiments.list()
        assert refused.value.status_code == 401
        assert not isinstance(refused.value, mltrail.Forbidden)


class TestDownloadIntoADirectory:
    @pytest.fixture
    def run_with_model(self, sdk: Settings, tmp_path: Path) -> tuple[str, bytes]:
        model = tmp_path / "upload" / "model.pt"
        model.parent.mkdir()
        content = b"\x00weights" * 1000
        model.write_bytes(content)
        with mltrail.start_run(experiment=unique("download")) as run:
            run.log_artifact(model, artifact_path="checkpoints")
        return run.id, content

    def test_a_trailing_slash_means_into_a_new_directory(
        self,
        client: mltrail.Client,
        run_with_model: tuple[str, bytes],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        run_id, content = run_with_model
        monkeypatch.chdir(tmp_path)  # the README's call, in a fresh working directory
        written = client.download_artifact(run_id, "checkpoints/model.pt", "restored/")
        assert (tmp_path / "restored").is_dir()
        assert (tmp_path / "restored" / "model.pt").read_bytes() == content
        assert written == Path("restored", "model.pt")

    def test_a_new_file_path_is_the_file(
        self, client: mltrail.Client, run_with_model: tuple[str, bytes], tmp_path: Path
    ) -> None:
        run_id, content = run_with_model
        target = tmp_path / "new" / "copy.pt"
        assert client.download_artifact(run_id, "checkpoints/model.pt", target) == target
        assert target.read_bytes() == content
        plain = str(tmp_path / "restored")
        assert client.download_artifact(run_id, "checkpoints/model.pt", plain) == Path(plain)
        assert Path(plain).read_bytes() == content

    def test_a_directory_artifact_into_a_trailing_slash(
        self, client: mltrail.Client, run_with_model: tuple[str, bytes], tmp_path: Path
    ) -> None:
        run_id, content = run_with_model
        written = client.download_artifact(run_id, "checkpoints", f"{tmp_path / 'all'}/")
        assert written == tmp_path / "all" / "checkpoints"
        assert (tmp_path / "all" / "checkpoints" / "model.pt").read_bytes() == content


def _commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf command under a (typer-vendored) click group, by its full name."""
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


#: Commands of other modules, not part of this check (they run the server or its database).
OTHERS = {"server", "db upgrade", "doctor"}


class TestEveryCommandTakesJson:
    def test_every_command_has_the_option(self) -> None:
        commands = dict(_commands(typer.main.get_command(app)))
        assert {"experiments rm", "runs rm", "grants add", "keys rm"} <= set(commands)
        without = [
            name
            for name, command in commands.items()
            if name not in OTHERS and not any("--json" in p.opts for p in command.params)
        ]
        assert without == []

    def test_experiments_rm_prints_what_it_deleted(
        self, client: mltrail.Client, server: LiveServer
    ) -> None:
        name = unique("rm-json")
        experiment = client.experiments.create(name)
        result = runner.invoke(app, ["--url", server.url, "experiments", "rm", name, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"id": experiment.id, "name": name, "purged": False}
        assert client.experiments.find(name) is None

    def test_runs_rm_prints_the_deleted_ids(
        self, client: mltrail.Client, server: LiveServer
    ) -> None:
        experiment = client.experiments.create(unique("rm-runs"))
        ids = [client.runs.create(experiment.id).id for _ in range(2)]
        result = runner.invoke(
            app, ["--url", server.url, "runs", "rm", *ids, "--purge", "--yes", "--json"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"deleted": ids, "purged": True}
        for run_id in ids:
            with pytest.raises(mltrail.NotFound):
                client.runs.get(run_id)


class TestARefusedStartLeavesNoRunRunning:
    def test_resuming_with_a_changed_param_keeps_the_status(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        with mltrail.start_run(experiment=unique("resume"), params={"lr": 0.1}) as run:
            run.log({"loss": 1.0})
        before = client.runs.get(run.id)
        assert before.status == "completed"
        with pytest.raises(mltrail.Conflict, match="lr"):
            mltrail.start_run(run_id=run.id, params={"lr": 0.2})
        after = client.runs.get(run.id)
        assert (after.status, after.ended_at, after.params) == (
            "completed",
            before.ended_at,
            {"lr": "0.1"},
        )

    def test_resuming_with_the_same_param_runs_again(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        with mltrail.start_run(experiment=unique("resume"), params={"lr": 0.1}) as run:
            pass
        resumed = mltrail.start_run(run_id=run.id, params={"lr": 0.1}, tags={"again": "yes"})
        assert client.runs.get(run.id).status == "running"
        resumed.finish()
        stored = client.runs.get(run.id)
        assert (stored.status, stored.tags.get("again")) == ("completed", "yes")

    def test_a_new_run_whose_params_are_refused_ends_failed(
        self, sdk: Settings, client: mltrail.Client
    ) -> None:
        name = unique("refused")
        with pytest.raises(mltrail.InvalidRequest):
            mltrail.start_run(experiment=name, params={"notes": "x" * 6001})
        [run] = client.runs.list(name)
        assert run.status == "failed" and run.ended_at is not None


class TestErrorMessagesKeepTheirText:
    def test_brackets_in_an_error_are_printed(self) -> None:
        import subprocess
        import sys

        code = (
            "import typer; from mltrail.cli.output import fail\n"
            "try:\n    raise fail(\"install it: pip install 'mltrail[server]'\", code=2)\n"
            "except typer.Exit as e:\n    raise SystemExit(e.exit_code)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 2
        assert "pip install 'mltrail[server]'" in done.stderr
