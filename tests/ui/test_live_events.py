"""The live event streams behind the UI: over real HTTP against the live server, and the hub
that feeds them (one poller per watched run or experiment, gone when its last client is)."""

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from mltrail_server.main import create_app
from mltrail_server.services.live import LiveHub, Topic, TopicKind, changes
from tests.conftest import Backend, Server
from tests.sdk.live_server import LiveServer, free_port
from tests.ui.conftest import make_experiment, make_run


class EventStream:
    """The events of one open SSE response, read one at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def next(self) -> tuple[str, dict[str, Any]]:
        event, data = "message", ""
        for line in self._lines:
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data += line.removeprefix("data: ")
            elif not line and data:
                return event, json.loads(data)
        raise EOFError("the stream ended")


@pytest.fixture
def stream(ui_server: LiveServer) -> Iterator[Any]:
    client = httpx.Client(base_url=f"{ui_server.url}/api/v1", timeout=httpx.Timeout(10, read=5))

    def open_stream(path: str) -> EventStream:
        response = client.send(client.build_request("GET", path), stream=True)
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return EventStream(response)

    yield open_stream
    client.close()


class TestRunEvents:
    def test_state_first_then_what_changes(self, api: httpx.Client, stream: Any) -> None:
        experiment = make_experiment(api, "events")
        run = make_run(api, experiment["id"], "r", metrics={"loss": [2.0, 1.0]})
        events = stream(f"/runs/{run['id']}/events")
        name, state = events.next()
        assert name == "state"
        assert [r["status"] for r in state["runs"]] == ["running"]
        assert [
            (m["key"], m["value"], m["step"], m["min"], m["max"]) for m in state["metrics"]
        ] == [("loss", 1.0, 1, 1.0, 2.0)]
        api.post(f"/runs/{run['id']}/metrics", json={"key": "loss", "value": "NaN", "step": 2})
        name, changed = events.next()
        assert name == "metrics"
        assert [(m["key"], m["value"], m["step"]) for m in changed["metrics"]] == [
            ("loss", "NaN", 2)
        ]
        api.patch(f"/runs/{run['id']}", json={"status": "completed"})
        name, runs = events.next()
        assert name == "runs"
        assert [r["status"] for r in runs["changed"]] == ["completed"]
        assert runs["changed"][0]["ended_at"] is not None

    def test_a_deleted_run_ends_the_stream(self, api: httpx.Client, stream: Any) -> None:
        experiment = make_experiment(api, "events")
        run = make_run(api, experiment["id"], "r")
        events = stream(f"/runs/{run['id']}/events")
        assert events.next()[0] == "state"
        api.delete(f"/runs/{run['id']}")
        assert events.next() == ("gone", {})
        with pytest.raises(EOFError):
            events.next()

    def test_an_unknown_run_is_a_404(self, api: httpx.Client) -> None:
        response = api.get("/runs/00000000-0000-4000-8000-000000000000/events")
        assert response.status_code == 404
        assert "not found" in response.json()["detail"]


class TestExperimentEvents:
    def test_new_runs_status_changes_and_running_runs_metrics(
        self, api: httpx.Client, stream: Any
    ) -> None:
        experiment = make_experiment(api, "events")
        done = make_run(api, experiment["id"], "done", metrics={"acc": [0.5]}, status="completed")
        events = stream(f"/experiments/{experiment['id']}/events")
        name, state = events.next()
        assert name == "state"
        assert [r["name"] for r in state["runs"]] == ["done"]
        assert state["metrics"] == []  # only running runs' series are watched

        fresh = make_run(api, experiment["id"], "fresh")
        name, runs = events.next()
        assert (name, [r["name"] for r in runs["changed"]]) == ("runs", ["fresh"])
        api.post(f"/runs/{fresh['id']}/metrics", json={"key": "acc", "value": 0.75, "step": 1})
        name, metrics = events.next()
        assert name == "metrics"
        assert [(m["run_id"], m["value"]) for m in metrics["metrics"]] == [(fresh["id"], 0.75)]
        api.delete(f"/runs/{done['id']}")
        name, runs = events.next()
        assert (name, runs["removed"]) == ("runs", [done["id"]])

    def test_an_unknown_experiment_is_a_404(self, api: httpx.Client) -> None:
        response = api.get("/experiments/00000000-0000-4000-8000-000000000000/events")
        assert response.status_code == 404


class TestLiveHub:
    async def test_one_poller_per_topic_and_none_after_the_last_client(
        self, server: Server
    ) -> None:
        client = server.client
        experiment = (
            await client.post("/api/v1/experiments", json={"name": "hub", "owner": "ada"})
        ).json()
        run = (await client.post(f"/api/v1/experiments/{experiment['id']}/runs", json={})).json()
        hub = LiveHub(server.app.state.runtime, interval=0.05)  # type: ignore[attr-defined]
        topic = Topic(TopicKind.RUN, uuid.UUID(run["id"]))
        first, second = hub.follow(topic), hub.follow(topic)
        assert (await anext(first)).event == "state"
        assert (await anext(second)).event == "state"
        assert hub.watched == 1

        await client.post(
            f"/api/v1/runs/{run['id']}/metrics", json={"key": "loss", "value": 1.5, "step": 0}
        )
        event = await asyncio.wait_for(anext(first), 5)
        assert event.event == "metrics"

        await first.aclose()
        assert hub.watched == 1
        await second.aclose()
        assert hub.watched == 0

    async def test_a_client_that_falls_behind_gets_one_combined_change(
        self, server: Server
    ) -> None:
        client = server.client
        experiment = (
            await client.post("/api/v1/experiments", json={"name": "hub2", "owner": "ada"})
        ).json()
        run = (await client.post(f"/api/v1/experiments/{experiment['id']}/runs", json={})).json()
        hub = LiveHub(server.app.state.runtime, interval=0.05)  # type: ignore[attr-defined]
        topic = Topic(TopicKind.RUN, uuid.UUID(run["id"]))
        events = hub.follow(topic)
        assert (await anext(events)).event == "state"
        watched = hub._watched[topic]
        first = watched.snapshot
        for step in range(3):
            await client.post(
                f"/api/v1/runs/{run['id']}/metrics",
                json={"key": "loss", "value": float(step), "step": step},
            )
            await asyncio.sleep(0.15)

        def polled_steps() -> list[int]:
            return [
                metric.step
                for change in changes(first, watched.snapshot)
                if change.event == "metrics" and change.data is not None
                for metric in change.data.metrics  # type: ignore[attr-defined]
            ]

        # However slow the machine, wait until the poller has seen the last point (it may
        # have seen the first two, or not, meanwhile): the client, which read nothing yet,
        # then gets one change with the latest value, not one change per poll.
        deadline = asyncio.get_running_loop().time() + 60
        while polled_steps() != [2]:
            assert asyncio.get_running_loop().time() < deadline, polled_steps()
            await asyncio.sleep(0.05)
        event = await asyncio.wait_for(anext(events), 5)
        assert event.event == "metrics"
        assert event.data is not None
        assert [m.step for m in event.data.metrics] == [2]  # type: ignore[attr-defined]
        await events.aclose()

    async def test_a_stream_ends_after_its_lifetime(self, server: Server) -> None:
        client = server.client
        experiment = (
            await client.post("/api/v1/experiments", json={"name": "hub3", "owner": "ada"})
        ).json()
        hub = LiveHub(server.app.state.runtime, interval=0.05)  # type: ignore[attr-defined]
        topic = Topic(TopicKind.EXPERIMENT, uuid.UUID(experiment["id"]))
        events = [event async for event in hub.follow(topic, keepalive=0.1, lifetime=0.35)]
        assert events[0] is not None and events[0].event == "state"
        # Keepalives, then the end: how many fit in the lifetime depends on how busy the
        # machine is (none, if the first read took it all), but the stream ends by itself
        # and sends nothing else.
        assert all(event is None for event in events[1:])
        assert hub.watched == 0

    async def test_a_quiet_stream_sends_keepalives(self, server: Server) -> None:
        client = server.client
        experiment = (
            await client.post("/api/v1/experiments", json={"name": "hub5", "owner": "ada"})
        ).json()
        hub = LiveHub(server.app.state.runtime, interval=0.05)  # type: ignore[attr-defined]
        topic = Topic(TopicKind.EXPERIMENT, uuid.UUID(experiment["id"]))
        events = hub.follow(topic, keepalive=0.05, lifetime=600)
        try:
            first = await anext(events)
            # Nothing changes the experiment, so what comes next can only be a keepalive.
            assert first is not None and first.event == "state"
            assert await anext(events) is None
        finally:
            await events.aclose()
        assert hub.watched == 0

    async def test_a_client_gone_during_a_read_leaves_the_database_free(
        self, server: Server
    ) -> None:
        """A read cancelled halfway used to leave its connection, and SQLite's write lock,
        behind: the next write then waited 10 s and failed with 503."""
        client = server.client
        experiment = (
            await client.post("/api/v1/experiments", json={"name": "hub4", "owner": "ada"})
        ).json()
        run = (await client.post(f"/api/v1/experiments/{experiment['id']}/runs", json={})).json()
        hub = LiveHub(server.app.state.runtime, interval=0.05)  # type: ignore[attr-defined]
        topic = Topic(TopicKind.EXPERIMENT, uuid.UUID(experiment["id"]))
        for delay in [step / 10_000 for step in range(30)]:  # 0 to 3 ms: some land mid-read
            events = hub.follow(topic)
            reading = asyncio.create_task(anext(events))
            await asyncio.sleep(delay)
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            await events.aclose()
            write = client.post(
                f"/api/v1/runs/{run['id']}/metrics", json={"key": "x", "value": 1.0, "step": 0}
            )
            response = await asyncio.wait_for(write, 3)
            assert response.status_code == 200, response.text
        await asyncio.sleep(0.2)
        assert hub.watched == 0


class TestDisconnect:
    def test_the_server_stops_watching_when_the_client_goes(self, sqlite_backend: Backend) -> None:
        app = create_app(sqlite_backend.settings())
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            while not server.started:
                time.sleep(0.02)
            base = f"http://127.0.0.1:{server.config.port}/api/v1"
            with httpx.Client(base_url=base, timeout=10) as client:
                experiment = make_experiment(client, "disconnect")
                with client.stream("GET", f"/experiments/{experiment['id']}/events") as response:
                    events = EventStream(response)  # held: dropping it closes the connection
                    assert events.next()[0] == "state"
                    time.sleep(0.2)
                    assert app.state.live_hub.watched == 1
            deadline = time.monotonic() + 3
            while app.state.live_hub.watched and time.monotonic() < deadline:
                time.sleep(0.05)
            assert app.state.live_hub.watched == 0
        finally:
            server.should_exit = True
            thread.join(timeout=10)
