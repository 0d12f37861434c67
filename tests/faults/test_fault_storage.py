"""The artifact disk under stress, against real uvicorn processes.

- A full disk: the server runs in a private mount namespace (`unshare --user --map-root-user
  --mount`) with its ARTIFACT_ROOT on a 2 MiB tmpfs, so the disk really fills up. Uploads past
  the space are a 507 in both APIs' error shapes and leave nothing behind: no temporary file,
  no half file, no empty directory, and a replaced file keeps its previous contents. The
  tmpfs is seen from outside the namespace through `/proc/<server pid>/root`.
- A client that hangs up mid-upload, over a raw socket: the server logs one line saying so
  (status 499), no traceback and no "unhandled error", and keeps no part of the file.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults.conftest import LiveServer, _end, missing
from tests.sdk.live_server import ROOT, free_port, wait_until_healthy

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
TMPFS_SIZE = "2m"
TOO_BIG = 3 * 1024 * 1024  # past the whole tmpfs
FIRST_VERSION = b"the first version, which must survive"
DEADLINE_SECONDS = 30.0
UPLOAD_MARKER = ".upload-"


def _can_unshare() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "true"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


class FullDiskServer:
    """uvicorn with ARTIFACT_ROOT on a small tmpfs. In a private mount namespace when
    `unshare` works (nothing is mounted for anyone else); otherwise, as root, on a tmpfs
    mounted on a temporary directory and unmounted at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.artifact_root = directory / "artifacts-tmpfs"
        self.artifact_root.mkdir()
        self.data_dir = directory / "data"
        self.data_dir.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.mounted_here = False

    def start(self) -> None:
        server = [sys.executable, "-m", "uvicorn", "mltrail_server.main:app", "--host", "127.0.0.1"]
        server += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        mount = ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs"]
        if _can_unshare():
            script = f'{" ".join(mount)} "$0" && exec "$@"'
            command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script]
            command += [str(self.artifact_root), *server]
        elif os.geteuid() == 0 and shutil.which("mount"):
            subprocess.run([*mount, str(self.artifact_root)], check=True, timeout=30)
            self.mounted_here = True
            command = server
        else:
            missing("a full disk needs `unshare --user --mount` or root to mount a tmpfs")
        env = {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            "ARTIFACT_ROOT": str(self.artifact_root),
            "DATABASE_URL": "",
            "REDIS_URL": "",
            "LOG_LEVEL": "WARNING",
            "AUTH_ENABLED": "false",
            "RATE_LIMIT_PER_SECOND": "0",
        }
        with self.log.open("ab") as handle:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT
            )
        wait_until_healthy(self.process, self.url, self.log)

    def files(self) -> dict[str, int]:
        """Every file and directory on the tmpfs as the server sees it (size, -1 for a dir)."""
        assert self.process is not None
        if self.mounted_here:
            root = self.artifact_root
        else:  # the server's mount namespace, seen through its /proc entry
            root = Path(f"/proc/{self.process.pid}/root") / self.artifact_root.relative_to("/")
        found = {}
        for path in sorted(root.rglob("*")):
            found[str(path.relative_to(root))] = -1 if path.is_dir() else path.stat().st_size
        return found

    def stop(self) -> None:
        _end(self.process)
        self.process = None
        if self.mounted_here:
            subprocess.run(["umount", str(self.artifact_root)], check=True, timeout=30)
            self.mounted_here = False


@pytest.fixture
def full_disk_server(tmp_path: Path) -> Iterator[FullDiskServer]:
    server = FullDiskServer(tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def new_run(http: httpx.Client) -> tuple[str, str]:
    """(run id, the run's artifact directory in the store) via MLflow's API."""
    created = http.post(f"{API}/experiments/create", json={"name": f"disk-{time.time_ns()}"})
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    run = http.post(f"{API}/runs/create", json={"experiment_id": experiment_id})
    assert run.status_code == 200, run.text
    info = run.json()["run"]["info"]
    prefix = info["artifact_uri"].removeprefix("mlflow-artifacts:/").strip("/")
    return info["run_id"], prefix


class TestFullArtifactDisk:
    def test_uploads_past_the_space_are_507_and_leave_nothing_half_written(
        self, full_disk_server: FullDiskServer
    ) -> None:
        server = full_disk_server
        with httpx.Client(base_url=server.url, timeout=60) as http:
            run_id, prefix = new_run(http)
            v1 = f"/api/v1/runs/{run_id}/artifacts"  # the same id, in v1's UUID
            kept = http.put(f"{v1}/keep.txt", content=FIRST_VERSION)
            assert kept.status_code == 201, kept.text

            # MLflow's wire: a new file larger than the disk.
            response = http.put(f"{ARTIFACTS}/{prefix}/big.bin", content=b"x" * TOO_BIG)
            assert response.status_code == 507, response.text
            body = response.json()
            assert set(body) == {"error_code", "message"}
            assert body["error_code"] == "RESOURCE_EXHAUSTED"
            assert "storage is full" in body["message"]

            # v1: replacing a file, and a new file in new directories.
            replaced = http.put(f"{v1}/keep.txt", content=b"y" * TOO_BIG)
            assert replaced.status_code == 507, replaced.text
            assert "storage is full" in replaced.json()["detail"]
            nested = http.put(f"{v1}/deep/er/new.bin", content=b"z" * TOO_BIG)
            assert nested.status_code == 507, nested.text
            assert set(nested.json()) == {"detail"}

            listing = http.get(v1).json()
            assert [(f["path"], f["size"]) for f in listing["files"]] == [
                ("keep.txt", len(FIRST_VERSION))
            ]
            mlflow_listing = http.get(ARTIFACTS, params={"path": prefix}).json()
            assert [f["path"] for f in mlflow_listing["files"]] == ["keep.txt"]
            assert http.get(f"{ARTIFACTS}/{prefix}/big.bin").status_code == 404
            assert http.get(f"{v1}/keep.txt").content == FIRST_VERSION

            # On the disk itself: no temporary file, no half file, no directory left over.
            on_disk = server.files()
            assert on_disk[f"{prefix}/keep.txt"] == len(FIRST_VERSION)
            assert not [path for path in on_disk if UPLOAD_MARKER in path], on_disk
            assert not [path for path in on_disk if "big.bin" in path or "deep" in path]

            # The failed uploads gave their space back: a file that fits is stored.
            fits = http.put(f"{v1}/fits.bin", content=b"f" * (512 * 1024))
            assert fits.status_code == 201, fits.text
        log = server.log.read_text(errors="replace")
        assert "Traceback" not in log
        assert "unhandled error" not in log
        # The operator learns of it: one line per refused upload.
        full = [r for r in _log_records(server.log) if "storage is full" in str(r.get("message"))]
        assert len(full) == 3
        assert {r["level"] for r in full} == {"ERROR"}


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what}")


def _log_records(log: Path) -> list[dict[str, object]]:
    records = []
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            records.append(json.loads(line))
    return records


def _uploads_in_progress(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if UPLOAD_MARKER in path.name]


class TestClientHangsUpMidUpload:
    @pytest.mark.parametrize("api", ["v1", "mlflow"])
    def test_logged_as_a_client_abort_and_no_partial_file(
        self, tmp_path: Path, servers: list[LiveServer], api: str
    ) -> None:
        server = LiveServer(tmp_path, {"LOG_LEVEL": "INFO"})
        servers.append(server)
        server.start()
        artifact_root = tmp_path / "artifacts"
        with httpx.Client(base_url=server.url, timeout=30) as http:
            run_id, prefix = new_run(http)
            if api == "v1":
                target = f"/api/v1/runs/{run_id}/artifacts/cut.bin"
            else:
                target = f"{ARTIFACTS}/{prefix}/cut.bin"

            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
                head = (
                    f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    "Content-Type: application/octet-stream\r\n"
                    f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
                )
                raw.sendall(head.encode() + b"p" * (256 * 1024))
                # The server is mid-upload: its temporary file is on disk.
                _wait_for(lambda: bool(_uploads_in_progress(artifact_root)), "upload started")

            def aborted() -> list[dict[str, object]]:
                return [r for r in _log_records(server.log) if r.get("status") == 499]

            _wait_for(lambda: bool(aborted()), "the client abort is logged")
            _wait_for(lambda: not _uploads_in_progress(artifact_root), "temporary file removed")

            if api == "v1":
                assert http.get(f"/api/v1/runs/{run_id}/artifacts/cut.bin").status_code == 404
            else:
                assert http.get(target).status_code == 404
            assert not list(artifact_root.rglob("cut.bin*"))

        (line,) = aborted()
        assert line["level"] == "INFO"
        assert line["path"] == target
        assert "client disconnected" in str(line["message"])
        log = server.log.read_text(errors="replace")
        assert "Traceback" not in log
        assert "unhandled error" not in log
        assert not [r for r in _log_records(server.log) if r.get("level") == "ERROR"]
