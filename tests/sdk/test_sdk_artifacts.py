"""Artifacts against a live server: files and directories uploaded from a run come back
byte for byte, listings show them, and the CLI lists them; plus, with httpx's mock transport,
that an upload streams its file and is re-sent whole when retried."""

import json
import os
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import mltrail
from mltrail.artifacts import UPLOAD_CHUNK_BYTES, artifact_dir, upload_file
from mltrail.cli import app
from mltrail.config import Settings
from mltrail.transport import Transport
from tests.sdk.live_server import LiveServer

runner = CliRunner(env={"COLUMNS": "200"})  # a wide table, whatever runs the tests


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A directory to upload: a nested file, an empty directory, a name with a space."""
    root = tmp_path / "outputs"
    (root / "plots" / "deep").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "config.json").write_text('{"lr": 0.01}')
    (root / "plots" / "loss curve.png").write_bytes(os.urandom(70_000))
    (root / "plots" / "deep" / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return root


class TestRoundTrip:
    def test_log_artifact_then_download_is_byte_identical(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        model = tmp_path / "model.pt"
        model.write_bytes(os.urandom(2 * 1024 * 1024 + 3))  # several upload chunks
        with mltrail.start_run(experiment="sdk-artifacts") as run:
            stored = run.log_artifact(model, artifact_path="checkpoints/")
            at_root = run.log_artifact(str(model))
        assert stored == mltrail.ArtifactFile("checkpoints/model.pt", False, model.stat().st_size)
        assert at_root.path == "model.pt"

        into_directory = client.download_artifact(run.id, "checkpoints/model.pt", tmp_path)
        assert into_directory == tmp_path / "model.pt"
        as_file = client.download_artifact(run.id, "model.pt", tmp_path / "new" / "copy.pt")
        for path in (into_directory, as_file):
            assert path.read_bytes() == model.read_bytes()
        assert [p.name for p in (tmp_path / "new").iterdir()] == ["copy.pt"]  # no temp file

    def test_log_artifacts_keeps_the_tree(
        self, sdk: Settings, client: mltrail.Client, tree: Path, tmp_path: Path
    ) -> None:
        # No run context: its files would sit beside `out` at the root.
        with mltrail.start_run(experiment="sdk-artifacts", run_context=False) as run:
            uploaded = run.log_artifacts(tree, artifact_path="out")
        assert [a.path for a in uploaded] == [
            "out/config.json",
            "out/plots/loss curve.png",
            "out/plots/deep/weights.bin",
        ]

        assert client.list_artifacts(run.id) == [mltrail.ArtifactFile("out", True, None)]
        listed = {a.path: a for a in client.list_artifacts(run.id, "out/plots")}
        assert set(listed) == {"out/plots/deep", "out/plots/loss curve.png"}
        assert listed["out/plots/loss curve.png"].size == 70_000

        restored = client.download_artifact(run.id, "out", tmp_path / "restored")
        for path in (
            Path("config.json"),
            Path("plots/loss curve.png"),
            Path("plots/deep/weights.bin"),
        ):
            assert (restored / path).read_bytes() == (tree / path).read_bytes()

    def test_client_uploads_to_a_run_by_id(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        run = client.runs.create("sdk-artifacts")
        note = tmp_path / "notes.txt"
        note.write_text("hello")
        client.log_artifact(run.id, note, "docs")
        client.download_artifact(run.id, "docs/notes.txt", tmp_path / "back.txt")
        assert (tmp_path / "back.txt").read_text() == "hello"

    def test_missing_things_raise(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        run = client.runs.create("sdk-artifacts")
        with pytest.raises(FileNotFoundError):
            client.log_artifact(run.id, tmp_path / "nope.bin")
        with pytest.raises(IsADirectoryError):
            client.log_artifact(run.id, tmp_path)
        with pytest.raises(mltrail.NotFound):
            client.download_artifact(run.id, "nope.bin", tmp_path)
        with pytest.raises(mltrail.NotFound):
            client.list_artifacts(run.id, "nope")
        with pytest.raises(ValueError, match=r"\.\."):
            client.log_artifact(run.id, __file__, "../escape")


class TestCli:
    def test_artifacts_lists_a_runs_files(
        self, sdk: Settings, server: LiveServer, tree: Path
    ) -> None:
        # No run context: its files would be listed too.
        with mltrail.start_run(experiment="sdk-artifacts", run_context=False) as run:
            run.log_artifacts(tree)

        result = runner.invoke(app, ["--url", server.url, "runs", "artifacts", run.id])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert any("config.json" in line and "file" in line and "12 B" in line for line in lines)
        assert any("plots/" in line and "dir" in line for line in lines)
        assert "weights.bin" not in result.stdout  # one level unless --recursive

        result = runner.invoke(
            app, ["--url", server.url, "runs", "artifacts", run.id, "-r", "--json"]
        )
        assert result.exit_code == 0, result.output
        entries = {e["path"]: e for e in json.loads(result.stdout)}
        assert set(entries) == {
            "config.json",
            "plots",
            "plots/deep",
            "plots/deep/weights.bin",
            "plots/loss curve.png",
        }
        assert entries["plots/deep/weights.bin"]["size"] == 3 * 1024 * 1024 + 17
        assert entries["plots"]["is_dir"] is True

        only = runner.invoke(
            app, ["--url", server.url, "runs", "artifacts", run.id, "-p", "plots/deep", "--json"]
        )
        assert [e["path"] for e in json.loads(only.stdout)] == ["plots/deep/weights.bin"]

    def test_a_run_without_artifacts(self, sdk: Settings, server: LiveServer) -> None:
        with mltrail.start_run(experiment="sdk-artifacts", run_context=False) as run:
            pass
        result = runner.invoke(app, ["--url", server.url, "runs", "artifacts", run.id])
        assert (result.exit_code, result.stdout) == (0, "No artifacts.\n")


class _Recording(httpx.BaseTransport):
    """Answers 503 once, then 201, recording each request body as the chunks it came in
    (httpx's MockTransport reads the body whole first, hiding how it was sent)."""

    def __init__(self) -> None:
        self.bodies: list[list[bytes]] = []
        self.headers: list[httpx.Headers] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        self.bodies.append(list(request.stream))
        self.headers.append(request.headers)
        if len(self.bodies) == 1:
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "busy"})
        return httpx.Response(201, json={"path": "a/b/big.bin", "is_dir": False, "size": 1})


class TestStreaming:
    def test_the_file_is_streamed_and_sent_whole_again_on_retry(self, tmp_path: Path) -> None:
        data = os.urandom(3 * UPLOAD_CHUNK_BYTES + 5)
        local = tmp_path / "big.bin"
        local.write_bytes(data)
        recording = _Recording()
        settings = Settings(url="http://tracker.test", give_up_after=10.0)
        with Transport(settings, transport=recording) as transport:
            upload_file(transport, "r1", local, "a//b/")
        assert len(recording.bodies) == 2
        for chunks, headers in zip(recording.bodies, recording.headers, strict=True):
            assert max(len(chunk) for chunk in chunks) <= UPLOAD_CHUNK_BYTES
            assert b"".join(chunks) == data
            assert headers["Content-Length"] == str(len(data))
            assert "Transfer-Encoding" not in headers

    def test_a_download_is_retried_and_never_leaves_a_partial_file(self, tmp_path: Path) -> None:
        answers = [
            httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "busy"}),
            httpx.Response(200, content=b"x" * 100_000),
            httpx.Response(404, json={"detail": "No artifact file at 'gone'"}),
        ]
        settings = Settings(url="http://tracker.test", give_up_after=10.0)
        mock = httpx.MockTransport(lambda request: answers.pop(0))
        with Transport(settings, transport=mock) as transport:
            assert transport.download("/f", tmp_path / "f") == 100_000
            with pytest.raises(mltrail.NotFound, match="No artifact file"):
                transport.download("/gone", tmp_path / "gone")
        assert [p.name for p in tmp_path.iterdir()] == ["f"]
        assert (tmp_path / "f").read_bytes() == b"x" * 100_000

    def test_artifact_paths_are_checked_before_sending(self) -> None:
        assert artifact_dir(None) == artifact_dir("") == artifact_dir("./") == ""
        assert artifact_dir("a//b/./c/") == "a/b/c"
        for bad in ("/abs", "a/../b", "a\\b", "C:/x"):
            with pytest.raises(ValueError):
                artifact_dir(bad)
