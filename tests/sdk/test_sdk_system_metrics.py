"""System metrics and run context against the live server: `system/` points arrive while a
run trains (and none when switched off), the context lands as searchable tags, the installed
packages as `context/requirements.txt`, and a failing sampler leaves the run's own logging
untouched."""

import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import psutil
import pytest

import mltrail
import mltrail.wandb as wandb
from mltrail.config import Settings
from mltrail.encoding import metrics_payload, now_ms
from mltrail.spool import SpoolWriter, batch_record
from tests.sdk.live_server import LiveServer

WAIT_SECONDS = 60.0  # generous: the machine may be very busy


def _wait_for(condition, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {WAIT_SECONDS}s")


def _system_keys(client: mltrail.Client, run_id: str) -> set[str]:
    return {key for key in client.runs.get(run_id).metrics if key.startswith("system/")}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, check=True, text=True)
    return done.stdout.strip()


@pytest.fixture
def sampling(server: LiveServer, spool_dir: Path) -> Settings:
    """The SDK pointed at the shared server, sampling system metrics every 0.1 s."""
    return mltrail.init(
        url=server.url,
        spool_dir=spool_dir,
        flush_interval=0.2,
        give_up_after=5.0,
        system_metrics_interval=0.1,
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with one commit on branch `trial`, as the working directory."""
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "trial")
    (repo / "train.py").write_text("print('train')\n")
    _git(repo, "add", "train.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    monkeypatch.chdir(repo)
    return repo


class TestSystemMetrics:
    def test_samples_arrive_while_the_run_trains(
        self, sampling: Settings, client: mltrail.Client
    ) -> None:
        with mltrail.start_run(experiment="sdk-system") as run:
            run.log({"loss": 1.0}, step=0)
            keys = _wait_for(
                lambda: _system_keys(client, run.id) >= {"system/cpu_percent"}, "system metrics"
            )
        assert keys
        stored = client.runs.get(run.id)
        for key in (
            "system/cpu_percent",
            "system/memory_used_mb",
            "system/process_rss_mb",
            "system/disk_read_mb",
            "system/net_sent_mb",
        ):
            assert key in stored.metrics, key
        assert stored.metrics["system/process_rss_mb"].value > 0
        assert stored.metrics["loss"].value == 1.0

    def test_switched_off_no_system_metrics_arrive(
        self, sampling: Settings, client: mltrail.Client
    ) -> None:
        with mltrail.start_run(experiment="sdk-system", system_metrics=False) as off:
            # A run beside it that samples shows how long is long enough to have sampled.
            with mltrail.start_run(experiment="sdk-system") as on:
                _wait_for(lambda: _system_keys(client, on.id), "system metrics of the other run")
            off.log({"loss": 0.5})
        assert _system_keys(client, off.id) == set()
        assert client.runs.get(off.id).metrics["loss"].value == 0.5

    def test_the_environment_switches_it_off(
        self, server: LiveServer, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("MLTRAIL_SYSTEM_METRICS", "false")
        monkeypatch.setenv("MLTRAIL_SYSTEM_METRICS_INTERVAL", "2.5")
        settings = mltrail.init(url=server.url, spool_dir=spool_dir)
        assert (settings.system_metrics, settings.system_metrics_interval) == (False, 2.5)
        monkeypatch.setenv("MLTRAIL_SYSTEM_METRICS", "perhaps")
        with pytest.raises(mltrail.ConfigError, match="MLTRAIL_SYSTEM_METRICS must be true"):
            mltrail.init(url=server.url, spool_dir=spool_dir)

    def test_a_failing_sampler_does_not_break_logging(
        self, sampling: Settings, client: mltrail.Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*args: object, **kwargs: object) -> object:
            raise OSError("simulated: /proc is not readable")

        calls = 0

        def counting(*args: object, **kwargs: object) -> object:
            nonlocal calls
            calls += 1
            return broken()

        monkeypatch.setattr(psutil, "virtual_memory", counting)
        with mltrail.start_run(experiment="sdk-system") as run:
            step = 0
            deadline = time.monotonic() + WAIT_SECONDS
            while calls < 3 and time.monotonic() < deadline:  # the sampler failed 3 times
                run.log({"loss": 1.0 / (step + 1)}, step=step)
                step += 1
                time.sleep(0.005)
        assert calls >= 3
        stored = client.runs.get(run.id)
        assert stored.status == "completed"
        assert len(client.metric_history(run.id, "loss")) == step
        assert _system_keys(client, run.id) == set()


def _system_steps(client: mltrail.Client, run_id: str) -> list[int]:
    return [p.step for p in client.metric_history(run_id, "system/cpu_percent").points]


def _sample_until(client: mltrail.Client, run_id: str, count: int) -> list[int]:
    """Wait until the run's `system/cpu_percent` history holds at least `count` points."""
    return _wait_for(
        lambda: (steps := _system_steps(client, run_id)) and len(steps) >= count and steps,
        f"{count} system metrics samples",
    )


def _strictly_increasing(steps: list[int]) -> bool:
    return all(a < b for a, b in zip(steps, steps[1:], strict=False))


class TestResumedSystemMetrics:
    def test_a_resumed_run_goes_on_after_the_first_sessions_samples(
        self, sampling: Settings, client: mltrail.Client
    ) -> None:
        with mltrail.start_run(experiment="sdk-system-resume") as run:
            _sample_until(client, run.id, 3)
        first = _system_steps(client, run.id)  # all of them, now the run is finished
        assert first == list(range(len(first)))
        with mltrail.start_run(run_id=run.id):
            _sample_until(client, run.id, len(first) + 3)
        steps = _system_steps(client, run.id)
        assert len(steps) >= len(first) + 3
        assert _strictly_increasing(steps), steps
        assert steps[: len(first)] == first
        assert steps[len(first)] == first[-1] + 1  # no gap, no overlap

    def test_a_wandb_resume_goes_on_too_and_keeps_its_own_steps(
        self, sampling: Settings, client: mltrail.Client
    ) -> None:
        run = wandb.init(project="sdk-system-resume")
        run.log({"loss": 1.0})
        run.log({"loss": 0.5})
        _sample_until(client, run.id, 5)  # more samples than W&B steps
        wandb.finish()
        first = _system_steps(client, run.id)
        resumed = wandb.init(id=run.id, resume="must")
        assert resumed.step == 2  # W&B's step goes on from its own, not the sampler's
        resumed.log({"loss": 0.25})
        _sample_until(client, run.id, len(first) + 2)
        wandb.finish()
        steps = _system_steps(client, run.id)
        assert _strictly_increasing(steps), steps
        assert steps[: len(first)] == first
        assert [p.step for p in client.metric_history(run.id, "loss").points] == [0, 1, 2]

    def test_samples_still_in_the_spool_are_not_overlapped(
        self, sampling: Settings, client: mltrail.Client
    ) -> None:
        # The first session sampled while the server was away: its points are in the spool.
        with mltrail.start_run(experiment="sdk-system-resume", system_metrics=False) as run:
            pass
        stamp = now_ms()
        spooled = [("system/cpu_percent", 10.0 + step, step, stamp) for step in range(7)]
        writer = SpoolWriter(sampling.spool_dir, run.id)
        writer.append([batch_record(run.id, {"metrics": metrics_payload(spooled)}, 7)])
        writer.close()
        assert _system_steps(client, run.id) == []
        with mltrail.start_run(run_id=run.id):
            # The spooled points arrive (the resumed run uploads them) and new samples too.
            _sample_until(client, run.id, 7 + 2)
        steps = _system_steps(client, run.id)
        assert steps[:7] == list(range(7))
        assert _strictly_increasing(steps), steps


class TestRunContext:
    def test_git_and_host_tags_arrive_and_are_searchable(
        self, sdk: Settings, client: mltrail.Client, repo: Path
    ) -> None:
        commit = _git(repo, "rev-parse", "HEAD")
        (repo / "train.py").write_text("print('changed')\n")  # dirty
        with mltrail.start_run(experiment="sdk-context", system_metrics=False) as run:
            run.log({"loss": 1.0})
        tags = client.runs.get(run.id).tags
        assert tags["mlflow.source.git.commit"] == commit
        assert tags["mlflow.source.git.branch"] == "trial"
        assert tags["mltrail.context.git.dirty"] == "true"
        assert int(tags["mltrail.context.git.diff_bytes"]) > 0
        assert tags["mlflow.user"] == "sdk-tester"
        assert tags["mltrail.context.python"].count(".") == 2
        assert tags["mltrail.context.hostname"]
        assert tags["mltrail.context.command"]

        found = client.search(f"tags.\"mlflow.source.git.commit\" = '{commit}'")
        assert [r.id for r in found] == [run.id]

    def test_the_command_line_is_recorded_without_its_secrets(
        self, sdk: Settings, client: mltrail.Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        argv = ["train.py", "--lr", "0.1", "--api-key", "sk-1", "--hf_token=hf-2", "-password", "p"]
        monkeypatch.setattr(sys, "argv", argv)
        with mltrail.start_run(experiment="sdk-context", system_metrics=False) as run:
            run.log({"loss": 1.0})
        command = client.runs.get(run.id).tags["mltrail.context.command"]
        assert command == "train.py --lr 0.1 --api-key '***' '--hf_token=***' -password '***'"
        assert not any(secret in command for secret in ("sk-1", "hf-2", " p"))

    def test_the_diff_is_uploaded_when_asked(
        self, sdk: Settings, client: mltrail.Client, repo: Path, tmp_path: Path
    ) -> None:
        (repo / "train.py").write_text("print('tuned')\n")
        with mltrail.start_run(experiment="sdk-context", capture_diff=True) as run:
            pass
        diff = client.download_artifact(run.id, "context/git.diff", tmp_path / "got.diff")
        assert "+print('tuned')" in diff.read_text()

    def test_outside_git_there_are_no_git_tags(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
        with mltrail.start_run(experiment="sdk-context") as run:
            pass
        tags = client.runs.get(run.id).tags
        assert not [key for key in tags if ".git." in key]
        assert tags["mltrail.context.cwd"] == str(tmp_path)

    def test_slurm_and_kubernetes_ids(
        self, sdk: Settings, client: mltrail.Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SLURM_JOB_ID", "4242")
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
        monkeypatch.setenv("POD_NAME", "trainer-0")
        with mltrail.start_run(experiment="sdk-context") as run:
            pass
        tags = client.runs.get(run.id).tags
        assert tags["mltrail.context.slurm.job_id"] == "4242"
        assert tags["mltrail.context.k8s.pod"] == "trainer-0"
        found = client.search("tags.\"mltrail.context.slurm.job_id\" = '4242'")
        assert run.id in [r.id for r in found]

    def test_the_installed_packages_are_an_artifact(
        self, sdk: Settings, client: mltrail.Client, tmp_path: Path
    ) -> None:
        with mltrail.start_run(experiment="sdk-context") as run:
            pass
        path = client.download_artifact(run.id, "context/requirements.txt", tmp_path / "req.txt")
        assert f"httpx=={metadata.version('httpx')}" in path.read_text().splitlines()

    def test_switched_off_records_nothing(
        self, sdk: Settings, client: mltrail.Client, repo: Path
    ) -> None:
        with mltrail.start_run(experiment="sdk-context", run_context=False) as run:
            pass
        assert client.runs.get(run.id).tags == {}
        assert client.list_artifacts(run.id) == []
