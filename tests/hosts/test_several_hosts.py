"""Three API hosts, each in a network namespace of its own, behind HAProxy, sharing one
PostgreSQL database, one Redis and one S3 bucket (team.py). A mixed load (the mlflow
client and the SDK writing, the UI's reads, a live stream open) runs while one host is
stopped and started again: no acknowledged write is lost or doubled, no client sees an
error beyond 502/503 answers it retries, the live stream reconnects and goes on, and what
one host writes every other host reads at once.

Nothing here is timed: each phase waits for the load to make progress, bounded by count and
by a generous deadline."""

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from mlflow.tracking import MlflowClient

import mltrail
from tests.hosts.team import Host, Team
from tests.polling import DEADLINE_SECONDS, wait_for

# Points each phase waits for the mlflow writer to have acknowledged; the most each writer
# sends, one a training step's pause (STEP_SECONDS) apart: it bounds the load, in count and in
# time (over 200 s), and outlasts the phases on a quiet machine, where writing flat out ran
# out of points before the host was stopped.
PROGRESS = 15
MOST_POINTS = 20_000
STEP_SECONDS = 0.01
RETRIED = {502, 503}
CLIENTS = ("mlflow", "sdk", "reader", "follower")


@dataclass
class Load:
    """The clients' threads and what each saw."""

    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    acknowledged: list[int] = field(default_factory=list)  # mlflow steps answered 200
    sdk_points: int = 0
    reads: int = 0
    retried: Counter[int] = field(default_factory=Counter)  # status -> reads retried
    # (seconds on the monotonic clock, connection number, step of the mlflow run's `loss`)
    live: list[tuple[float, int, int]] = field(default_factory=list)
    connections: int = 0
    stream_host: str = ""  # the host serving the live stream's current connection (h0...)
    threads: list[threading.Thread] = field(default_factory=list)

    def spawn(self, name: str, work: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(f"{name}: {exc!r}")

        thread = threading.Thread(target=guarded, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=DEADLINE_SECONDS)
            assert not thread.is_alive(), f"{thread.name} did not end"


def headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@pytest.fixture
def api(team: Team) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=team.url, headers=headers(team.key), timeout=60) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, object]:
    assert response.status_code < 300, f"{response.status_code}: {response.text}"
    body: dict[str, object] = response.json()
    return body


def mlflow_writer(team: Team, load: Load, experiment_id: str) -> str:
    """Starts the mlflow client's run logging; returns the run's id."""
    client = MlflowClient(tracking_uri=team.url)
    run_id = client.create_run(experiment_id).info.run_id

    def work() -> None:
        for step in range(MOST_POINTS):
            if load.stop.is_set():
                break
            client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
            load.acknowledged.append(step)
            time.sleep(STEP_SECONDS)

    load.spawn("mlflow", work)
    return run_id


def sdk_writer(team: Team, load: Load, experiment: str, spool: Path, key: str) -> str:
    mltrail.init(url=team.url, api_key=key, spool_dir=str(spool))
    run = mltrail.start_run(experiment=experiment, system_metrics=False, run_context=False)

    def work() -> None:
        step = 0
        while not load.stop.is_set() and step < MOST_POINTS:
            run.log({"acc": step / MOST_POINTS}, step=step)
            step += 1
            load.sdk_points = step
            time.sleep(STEP_SECONDS)
        run.finish()

    load.spawn("sdk", work)
    return str(run.info.id)


def reader(team: Team, load: Load, experiment_id: str, key: str) -> None:
    """The UI's reads: its page, the experiment, its runs table, about 20 rounds a second."""

    def work() -> None:
        with httpx.Client(base_url=team.url, headers=headers(key), timeout=60) as client:
            while not load.stop.is_set():
                for method, path, body in (
                    ("GET", "/", None),
                    ("GET", f"/api/v1/experiments/{experiment_id}", None),
                    ("POST", "/api/v1/runs/search", {"experiment_ids": [experiment_id]}),
                ):
                    for _ in range(20):
                        response = client.request(method, path, json=body)
                        if response.status_code not in RETRIED:
                            break
                        load.retried[response.status_code] += 1
                        time.sleep(0.2)
                    if response.status_code >= 300:
                        load.errors.append(f"{method} {path}: {response.status_code}")
                    load.reads += 1
                # A browser's pace (its tables refresh every few seconds), well within the
                # per-key rate limit: flat out, one client's reads reached it on a quiet machine.
                time.sleep(0.05)

    load.spawn("reader", work)


def follower(team: Team, load: Load, experiment_id: str, run_id: str, key: str) -> None:
    """A browser's EventSource on the experiment's live stream: it reconnects whenever the
    stream ends or its connection breaks."""
    path = f"/api/v1/experiments/{experiment_id}/events"

    def work() -> None:
        timeout = httpx.Timeout(60, read=30)
        with httpx.Client(base_url=team.url, headers=headers(key), timeout=timeout) as client:
            while not load.stop.is_set():
                load.connections += 1
                number = load.connections
                try:
                    with client.stream("GET", path) as response:
                        if response.status_code in RETRIED:
                            time.sleep(0.5)
                            continue
                        assert response.status_code == 200, response.status_code
                        load.stream_host = response.headers["x-served-by"]
                        for line in response.iter_lines():
                            if load.stop.is_set():
                                return
                            if line.startswith("data:"):
                                _seen(load, number, json.loads(line[5:]), run_id)
                except httpx.TransportError:
                    time.sleep(0.5)  # what EventSource does: reconnect a moment later

    load.spawn("follower", work)


def _seen(load: Load, number: int, payload: dict[str, object], run_id: str) -> None:
    metrics = payload.get("metrics")
    if not isinstance(metrics, list):
        return
    for metric in metrics:
        if uuid.UUID(metric["run_id"]).hex == run_id and metric["key"] == "loss":
            load.live.append((time.monotonic(), number, int(metric["step"])))


def history(host: Host, team: Team, run_id: str, key: str) -> list[int]:
    response = httpx.get(
        f"{host.url}/api/2.0/mlflow/metrics/get-history",
        params={"run_id": run_id, "metric_key": key, "max_results": 25000},
        headers=headers(team.key),
        timeout=60,
    )
    body = ok(response)
    points = body.get("metrics", [])
    assert isinstance(points, list)
    return sorted(int(point["step"]) for point in points)


def test_a_mixed_load_survives_a_host_stopped_and_started_again(
    team: Team, api: httpx.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each client its own key, as each job and person of a team: the rate limit is per key.
    keys = {name: team.new_key(f"{name}-{uuid.uuid4().hex[:6]}") for name in CLIENTS}
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", keys["mlflow"])
    # The mlflow client retries 502/503 with backoff (2 s first, by default; 1 s here).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    name = f"team-{uuid.uuid4().hex[:8]}"
    experiment = ok(api.post("/api/v1/experiments", json={"name": name}))
    experiment_id = str(experiment["id"])
    load = Load()
    mlflow_run = mlflow_writer(team, load, uuid.UUID(experiment_id).hex)
    sdk_run = sdk_writer(team, load, name, tmp_path / "spool", keys["sdk"])
    reader(team, load, experiment_id, keys["reader"])
    follower(team, load, experiment_id, mlflow_run, keys["follower"])
    try:
        wait_for(lambda: len(load.acknowledged) >= PROGRESS, "the mlflow client writes")
        wait_for(lambda: bool(load.live), "the live stream shows the run's points")
        # The host serving the live stream now (unless the stream just moved on).
        stopped = team.members[int(load.stream_host.removeprefix("h"))]
        stream_before = load.connections
        stopped.stop()
        mark = len(load.acknowledged)
        wait_for(lambda: len(load.acknowledged) >= mark + PROGRESS, "writes with a host down")
        stopped.start()
        restarted = time.monotonic()
        mark = len(load.acknowledged)
        wait_for(lambda: len(load.acknowledged) >= mark + PROGRESS, "writes after the restart")
        after = load.acknowledged[-1]
        wait_for(
            lambda: any(
                at > restarted and number > stream_before and step >= after
                for at, number, step in load.live
            ),
            "the live stream, reconnected, shows points written after the restart",
        )
    finally:
        load.join()
    assert not load.errors, load.errors
    assert load.reads > 0
    # Every acknowledged point is stored once, and every host reads the same.
    acknowledged = sorted(load.acknowledged)
    for host in team.members:
        assert history(host, team, mlflow_run, "loss") == acknowledged, f"host {host.index}"
    sdk_steps = list(range(load.sdk_points))
    for host in team.members:
        assert history(host, team, uuid.UUID(sdk_run).hex, "acc") == sdk_steps
    assert not any((tmp_path / "spool").rglob("*.json*")), "the SDK spooled what it sent"


def test_a_write_through_one_host_is_read_through_every_other_at_once(team: Team) -> None:
    """Each host caches reads in the shared Redis; a write through one host is seen by the
    next read through any other, with no wait (the cache entry is invalidated for all)."""
    clients = [
        httpx.Client(base_url=host.url, headers=headers(team.key), timeout=60)
        for host in team.members
    ]
    try:
        name = f"shared-{uuid.uuid4().hex[:8]}"
        created = ok(clients[0].post("/api/v1/experiments", json={"name": name}))
        path = f"/api/v1/experiments/{created['id']}"
        for index, writer in enumerate(clients):
            # Every host has read (and cached) the experiment before this host writes.
            for client in clients:
                ok(client.get(path))
            description = f"written through host {index}"
            ok(writer.patch(path, json={"description": description}))
            for reader_index, client in enumerate(clients):
                seen = ok(client.get(path))["description"]
                assert seen == description, f"host {reader_index} after a write via {index}"
    finally:
        for client in clients:
            client.close()


def test_an_artifact_sent_through_one_host_is_served_by_every_host(
    team: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", team.key)
    balanced = MlflowClient(tracking_uri=team.url)
    experiment_id = balanced.create_experiment(f"artifacts-{uuid.uuid4().hex[:8]}")
    run_id = balanced.create_run(experiment_id).info.run_id
    balanced.log_text(run_id, "shared by every host\n", "notes/readme.txt")
    for host in team.members:
        target = tmp_path / f"host{host.index}"
        target.mkdir()
        local = MlflowClient(tracking_uri=host.url).download_artifacts(
            run_id, "notes/readme.txt", str(target)
        )
        assert Path(local).read_text() == "shared by every host\n"
