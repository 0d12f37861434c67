"""What happens to logged points when the server or the training process goes away: every
logged point ends up stored exactly once (after `mltrail sync` where needed)."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from typer.testing import CliRunner, Result

import mltrail
from mltrail.cli import app
from mltrail.sync import pending
from tests.sdk.live_server import LiveServer

runner = CliRunner(env={"COLUMNS": "200"})  # a wide table, whatever runs the tests


def wait_for(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout}s: {condition}")
        time.sleep(0.02)


def stored_steps(url: str, run_id: str, key: str) -> list[int]:
    with mltrail.Client(url) as client:
        return [p.step for p in client.metric_history(run_id, key).points]


def run_sync(server: LiveServer, spool_dir: Path, *options: str, retry_for: float = 3) -> Result:
    """`mltrail sync` of the test's spool to this server."""
    arguments = ["--url", server.url, "--retry-for", str(retry_for), "sync"]
    return runner.invoke(app, [*arguments, "--spool-dir", str(spool_dir), *options])


def sync(server: LiveServer, spool_dir: Path) -> str:
    result = run_sync(server, spool_dir)
    assert result.exit_code == 0, result.output
    return result.output


def quick(server: LiveServer, spool_dir: Path, **options: object) -> None:
    values: dict[str, object] = {
        "flush_interval": 0.05,
        "give_up_after": 0.5,
        "probe_interval": 0.3,
    }
    values.update(options)
    mltrail.init(url=server.url, spool_dir=spool_dir, **values)


class TestServerGoesAway:
    def test_killed_mid_run_then_synced_stores_every_point_once(
        self, server: LiveServer, spool_dir: Path
    ) -> None:
        quick(server, spool_dir)
        run = mltrail.start_run(experiment="sdk-crash")
        for step in range(3000):
            run.log({"loss": step / 3000}, step=step)
            if step == 1000:
                server.kill()  # maybe in the middle of a batch: it is sent again later
            if step >= 1000 and step % 100 == 0:
                time.sleep(0.05)
        wait_for(lambda: run.offline)
        run.finish()  # the server is still down: the rest and the final status are spooled
        files, points = pending(spool_dir)
        assert files >= 1 and points >= 1000

        server.start()
        assert "Uploaded" in sync(server, spool_dir)

        assert stored_steps(server.url, run.id, "loss") == list(range(3000))
        with mltrail.Client(server.url) as client:
            stored = client.runs.get(run.id)
        assert stored.status == "completed"
        assert stored.metrics["loss"].value == 2999 / 3000
        assert pending(spool_dir) == (0, 0)

    def test_down_during_the_run_memory_stays_bounded_and_nothing_is_lost(
        self, server: LiveServer, spool_dir: Path
    ) -> None:
        quick(server, spool_dir, batch_size=100, max_batch=500, max_queue=1000)
        run = mltrail.start_run(experiment="sdk-blip")
        longest = 0
        for step in range(20_000):
            run.log({"x": float(step)}, step=step)
            longest = max(longest, run.backlog)
            if step == 500:
                server.kill()
            if step == 10_000:
                wait_for(lambda: run.offline)
                # What memory could not hold went to disk, not away.
                assert pending(spool_dir)[1] >= 8_000
                server.start()
        run.finish()  # the sender found the server again and uploaded the spool itself
        assert longest <= 1000 + 500  # never more than max_queue, plus the batch being sent
        assert not run.offline
        assert stored_steps(server.url, run.id, "x") == list(range(20_000))
        assert pending(spool_dir) == (0, 0)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import mltrail

    mltrail.init(url=sys.argv[1], spool_dir=sys.argv[2], flush_interval=0.05,
                  give_up_after=0.3, probe_interval=60)
    run = mltrail.start_run(experiment="sdk-killed")
    print(run.id, flush=True)
    sys.stdin.readline()  # the parent has stopped the server
    for step in range(5000):
        run.log({"loss": step * 0.5, "acc": 1 / (step + 1)}, step=step)
    assert run.flush(timeout=30) and run.offline
    print("spooled", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no finish, no atexit
    """
)


class Child:
    """A training process: it starts a run, logs 5,000 steps (10,000 points) once told that
    the server is down, waits until they are spooled, and is then killed (SIGKILL)."""

    def __init__(self, server: LiveServer, spool_dir: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, server.url, str(spool_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "MLTRAIL_USER": "sdk-tester"},
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.run_id = self.process.stdout.readline().strip()
        assert self.run_id, self.process.stderr.read() if self.process.stderr else ""

    def log_and_die(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "spooled"
        assert self.process.wait(timeout=30) == -9


class TestProcessKilled:
    def test_the_spool_survives_sigkill_then_sync_or_the_next_run_uploads_it(
        self, server: LiveServer, spool_dir: Path
    ) -> None:
        first, second = Child(server, spool_dir), Child(server, spool_dir)
        server.kill()
        first.log_and_die()
        second.log_and_die()
        assert pending(spool_dir) == (2, 20_000)

        # The server still down: sync fails with one line and keeps everything.
        down = run_sync(server, spool_dir, retry_for=0.5)
        assert down.exit_code == 1
        assert "cannot reach the server" in down.stderr
        assert "10,000 points stay in the spool" in down.stderr
        assert pending(spool_dir) == (2, 20_000)

        server.start()
        result = run_sync(server, spool_dir, "--run", first.run_id, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["points"] == 10_000
        assert stored_steps(server.url, first.run_id, "loss") == list(range(5000))
        assert stored_steps(server.url, first.run_id, "acc") == list(range(5000))
        assert pending(spool_dir) == (1, 10_000)  # --run left the other run's file

        # The next run started on this machine uploads what is left, in the background.
        quick(server, spool_dir)
        with mltrail.start_run(experiment="sdk-next") as run:
            run.log({"loss": 1.0})
        assert stored_steps(server.url, second.run_id, "loss") == list(range(5000))
        assert pending(spool_dir) == (0, 0)

        again = run_sync(server, spool_dir)
        assert (again.exit_code, "Nothing to sync" in again.stdout) == (0, True)
