"""Load for the fault tests: clients that loop over a mix of reads and writes against a live
server and record every answer, and what each acknowledged write was, so that a test can
check afterwards that nothing acknowledged was lost."""

import asyncio
import contextlib
import itertools
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

# How long a phase may be stretched to carry the load a test asks of it.
PHASE_DEADLINE_SECONDS = 180.0


@dataclass
class Answer:
    operation: str
    phase: str
    status: int  # 0: no HTTP answer at all (connection refused, reset, timeout)
    seconds: float
    retry_after: str | None = None
    body: str = ""


@dataclass
class Written:
    """What the server acknowledged (2xx), to be found in the database afterwards."""

    experiments: set[str] = field(default_factory=set)
    # run id -> step -> (timestamp, value) of every point acknowledged for key "loss"
    points: dict[str, dict[int, tuple[int, float]]] = field(default_factory=dict)
    # run id -> key -> value of every param acknowledged
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    # experiment id -> (updated_at, description) of every acknowledged description change
    descriptions: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class World:
    """What the traffic works on: experiments, each with one run."""

    experiments: list[str]
    runs: list[str]


async def seed(client: httpx.AsyncClient, count: int = 6) -> World:
    world = World([], [])
    tag = random.randrange(10**9)
    for index in range(count):
        response = await client.post(
            "/api/v1/experiments", json={"name": f"fault-{tag}-{index}", "owner": "faults"}
        )
        assert response.status_code == 201, response.text
        experiment = response.json()["id"]
        response = await client.post(f"/api/v1/experiments/{experiment}/runs", json={})
        assert response.status_code == 201, response.text
        world.experiments.append(experiment)
        world.runs.append(response.json()["id"])
    return world


class Traffic:
    """Clients looping over `operations` until stopped; `phase` names what the answers
    that follow are recorded under."""

    def __init__(self, clients: list[httpx.AsyncClient], world: World, seed_value: int = 7) -> None:
        self.clients = clients
        self.world = world
        self.answers: list[Answer] = []
        self.written = Written()
        self.phase = "start"
        self._random = random.Random(seed_value)
        self._steps = itertools.count()
        self._names = itertools.count()
        self._stopping = asyncio.Event()
        # Batches that got no 2xx: sent again, as the MLflow client and our SDK do.
        self._unacknowledged: list[tuple[str, list[tuple[int, int, float]]]] = []

    # --- operations: each returns the HTTP response -----------------------------------

    async def read_experiment(self, client: httpx.AsyncClient) -> httpx.Response:
        experiment = self._random.choice(self.world.experiments)
        return await client.get(f"/api/v1/experiments/{experiment}")

    async def list_experiments(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/v1/experiments", params={"per_page": 10})

    async def read_run(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(f"/api/v1/runs/{self._random.choice(self.world.runs)}")

    async def describe_experiment(self, client: httpx.AsyncClient) -> httpx.Response:
        experiment = self._random.choice(self.world.experiments)
        description = f"d{next(self._names)}"
        response = await client.patch(
            f"/api/v1/experiments/{experiment}", json={"description": description}
        )
        if response.status_code == 200:
            stamp = response.json()["updated_at"]
            self.written.descriptions.setdefault(experiment, []).append((stamp, description))
        return response

    async def log_points(self, client: httpx.AsyncClient) -> httpx.Response:
        """Ten points with unique steps; a batch that got no 2xx is sent again first."""
        if self._unacknowledged:
            run, points = self._unacknowledged.pop(0)
        else:
            run = self._random.choice(self.world.runs)
            first = next(self._steps) * 10
            points = [(first + i, 1_700_000_000_000 + first + i, first / 7 + i) for i in range(10)]
        body = {
            "metrics": [
                {"key": "loss", "value": value, "step": step, "timestamp": stamp}
                for step, stamp, value in points
            ]
        }
        try:
            response = await client.post(f"/api/v1/runs/{run}/batch", json=body)
        except httpx.TransportError:
            self._unacknowledged.append((run, points))
            raise
        if response.status_code == 200:
            acknowledged = self.written.points.setdefault(run, {})
            acknowledged.update({step: (stamp, value) for step, stamp, value in points})
        else:
            self._unacknowledged.append((run, points))
        return response

    async def log_param(self, client: httpx.AsyncClient) -> httpx.Response:
        run = self._random.choice(self.world.runs)
        key, value = f"p{next(self._names)}", str(self._random.random())
        response = await client.post(
            f"/api/v1/runs/{run}/params", json={"key": key, "value": value}
        )
        if response.status_code == 200:
            self.written.params.setdefault(run, {})[key] = value
        return response

    async def create_experiment(self, client: httpx.AsyncClient) -> httpx.Response:
        name = f"made-{random.randrange(10**9)}-{next(self._names)}"
        response = await client.post("/api/v1/experiments", json={"name": name, "owner": "f"})
        if response.status_code == 201:
            self.written.experiments.add(response.json()["id"])
        return response

    # --- running -----------------------------------------------------------------------

    async def _call(
        self,
        name: str,
        operation: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]],
        client: httpx.AsyncClient,
    ) -> None:
        phase, started = self.phase, time.monotonic()
        try:
            response = await operation(client)
        except httpx.TransportError as exc:
            self.answers.append(Answer(name, phase, 0, time.monotonic() - started, body=repr(exc)))
            await asyncio.sleep(0.05)
            return
        seconds = time.monotonic() - started
        answer = Answer(
            name, phase, response.status_code, seconds, response.headers.get("Retry-After")
        )
        if response.status_code >= 300:
            answer.body = response.text[:300]
        self.answers.append(answer)
        if response.status_code == 503:
            await asyncio.sleep(0.05)  # what a polite client does; not the whole Retry-After

    async def _loop(self, client: httpx.AsyncClient, mix: list[tuple[str, Any]]) -> None:
        names, weights = zip(*[(name, weight) for name, weight in mix], strict=True)
        while not self._stopping.is_set():
            name = self._random.choices(names, weights)[0]
            await self._call(name, getattr(self, name), client)

    @contextlib.asynccontextmanager
    async def running(
        self, mix: list[tuple[str, int]], per_client: int = 1
    ) -> AsyncIterator["Traffic"]:
        tasks = [
            asyncio.create_task(self._loop(client, mix))
            for client in self.clients
            for _ in range(per_client)
        ]
        try:
            yield self
        finally:
            self._stopping.set()
            await asyncio.gather(*tasks)

    async def hold(self, phase: str, seconds: float, at_least: int = 0) -> None:
        """The traffic is in `phase` for `seconds`, and longer until `at_least` answers were
        recorded in it (within PHASE_DEADLINE_SECONDS): on a busy machine a phase lasts
        longer rather than carrying less load. (Polled: answers come from many tasks.)"""
        self.phase = phase
        await asyncio.sleep(seconds)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PHASE_DEADLINE_SECONDS
        while len(self.in_phase(phase)) < at_least and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)

    # --- reading the record ------------------------------------------------------------

    def in_phase(self, phase: str) -> list[Answer]:
        return [answer for answer in self.answers if answer.phase == phase]

    def report(self) -> str:
        """Answers per phase and status, printed by the tests (pytest shows it on failure)."""
        lines = []
        for phase in dict.fromkeys(answer.phase for answer in self.answers):
            answers = self.in_phase(phase)
            statuses: dict[int, int] = {}
            for answer in answers:
                statuses[answer.status] = statuses.get(answer.status, 0) + 1
            slowest = max(answer.seconds for answer in answers)
            lines.append(f"{phase}: {len(answers)} answers {statuses}, slowest {slowest:.2f}s")
        return "\n".join(lines)

    def failures(self, allowed: frozenset[int] = frozenset()) -> list[Answer]:
        """Answers that are neither 2xx nor allowed. A hang is one too: the client's timeout
        makes it status 0 (how slow an answer may be is the benchmarks' business, not a
        test's, on a machine that may be busy)."""
        return [
            answer
            for answer in self.answers
            if not (200 <= answer.status < 300 or answer.status in allowed)
        ]


def summary(answers: list[Answer], limit: int = 8) -> str:
    lines = [
        f"{a.phase}: {a.operation} -> {a.status} in {a.seconds:.2f}s {a.body[:160]}"
        for a in answers[:limit]
    ]
    return f"{len(answers)} bad answers, first ones:\n" + "\n".join(lines)


async def stored_points(
    client: httpx.AsyncClient, run: str, key: str = "loss"
) -> list[tuple[int, int, float]]:
    """Every stored point of a run's series, following the history pages."""
    points: list[tuple[int, int, float]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"key": key, "limit": 25_000}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(f"/api/v1/runs/{run}/metrics/history", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        points += [(p["step"], p["timestamp"], p["value"]) for p in page["points"]]
        cursor = page["next_cursor"]
        if not cursor:
            return points


async def lost_writes(client: httpx.AsyncClient, written: Written) -> list[str]:
    """Acknowledged writes that are not in the database, and points stored twice."""
    problems: list[str] = []
    for experiment in sorted(written.experiments):
        response = await client.get(f"/api/v1/experiments/{experiment}")
        if response.status_code != 200:
            problems.append(f"experiment {experiment} acknowledged, now {response.status_code}")
    for run, acknowledged in written.points.items():
        stored = await stored_points(client, run)
        by_step: dict[int, list[tuple[int, float]]] = {}
        for step, stamp, value in stored:
            by_step.setdefault(step, []).append((stamp, value))
        twice = sorted(step for step, found in by_step.items() if len(found) > 1)
        if twice:
            problems.append(f"run {run}: steps stored more than once: {twice[:10]}")
        lost = sorted(step for step in acknowledged if step not in by_step)
        if lost:
            problems.append(f"run {run}: {len(lost)} acknowledged points lost: {lost[:10]}")
        changed = sorted(
            step for step, point in acknowledged.items() if by_step.get(step, [point])[0] != point
        )
        if changed:
            problems.append(f"run {run}: points stored with other values: {changed[:10]}")
    for run, params in written.params.items():
        stored_params = (await client.get(f"/api/v1/runs/{run}")).json()["params"]
        lost_params = sorted(k for k, v in params.items() if stored_params.get(k) != v)
        if lost_params:
            problems.append(f"run {run}: acknowledged params lost: {lost_params[:10]}")
    return problems
