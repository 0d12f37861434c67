"""Reading metric series back in /api/v1: pages, downsamples, and many runs at once."""

import base64
import math
import random
import uuid
from typing import Any

import httpx
import pytest

from tests.factories import create_experiment, create_run

MISSING = "00000000-0000-0000-0000-000000000000"
T0 = 1_764_000_000_000


async def new_run(client: httpx.AsyncClient) -> str:
    experiment = await create_experiment(client)
    run = await create_run(client, experiment["id"])
    run_id: str = run["id"]
    return run_id


async def log(client: httpx.AsyncClient, run_id: str, points: list[dict[str, Any]]) -> None:
    for start in range(0, len(points), 10_000):
        response = await client.post(
            f"/api/v1/runs/{run_id}/batch", json={"metrics": points[start : start + 10_000]}
        )
        assert response.status_code == 200, response.text


def series(values: list[Any], key: str = "loss") -> list[dict[str, Any]]:
    """One point per step from 0, timestamps a second apart."""
    return [
        {"key": key, "step": step, "timestamp": T0 + 1000 * step, "value": value}
        for step, value in enumerate(values)
    ]


async def history(client: httpx.AsyncClient, run_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/{run_id}/metrics/history", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def every_page(client: httpx.AsyncClient, run_id: str, **params: Any) -> list[dict[str, Any]]:
    pages = []
    cursor = None
    while True:
        page = await history(client, run_id, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def downsampled(client: httpx.AsyncClient, run_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/{run_id}/metrics/downsampled", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


class TestHistory:
    async def test_returns_exactly_what_was_logged(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        logged = [
            {"key": "loss", "step": 3, "timestamp": T0 + 5, "value": 0.1},
            {"key": "loss", "step": -2, "timestamp": T0, "value": "NaN"},
            {"key": "loss", "step": 3, "timestamp": T0 + 1, "value": "Infinity"},
            {"key": "loss", "step": 0, "timestamp": T0 + 2, "value": "-Infinity"},
            {"key": "loss", "step": 7, "timestamp": T0 + 3, "value": 1.7976931348623157e308},
            {"key": "loss", "step": 9, "timestamp": T0 + 4, "value": -2.5e-300},
            {"key": "acc", "step": 1, "timestamp": T0, "value": 0.9},
        ]
        await log(client, run_id, logged)

        body = await history(client, run_id, key="loss")

        expected = sorted(
            ({k: p[k] for k in ("step", "timestamp", "value")} for p in logged[:6]),
            key=lambda p: (p["step"], p["timestamp"]),
        )
        assert body == {"key": "loss", "points": expected, "next_cursor": None}

    @pytest.mark.parametrize("limit", [1, 10, 19, 56, 57, 58])
    async def test_pages_walk_every_point_once_in_order(
        self, client: httpx.AsyncClient, limit: int
    ) -> None:
        run_id = await new_run(client)
        # Several timestamps at some steps: the cursor must not skip or repeat any of them.
        logged = series([float(i) for i in range(50)]) + [
            {"key": "loss", "step": step, "timestamp": T0 + 7 + i, "value": -1.0}
            for i, step in enumerate([0, 0, 10, 10, 10, 49, 49])
        ]
        random.Random(1).shuffle(logged)
        await log(client, run_id, logged)

        pages = await every_page(client, run_id, key="loss", limit=limit)

        walked = [(p["step"], p["timestamp"]) for page in pages for p in page["points"]]
        assert walked == sorted((p["step"], p["timestamp"]) for p in logged)
        assert len(pages) == -(-57 // limit)
        assert all(len(page["points"]) == limit for page in pages[:-1])

    async def test_resent_batch_stores_nothing_twice(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        logged = series([0.5, "NaN", 0.25])
        await log(client, run_id, logged)
        await log(client, run_id, logged)

        body = await history(client, run_id, key="loss")

        assert [p["value"] for p in body["points"]] == [0.5, "NaN", 0.25]

    async def test_step_range_is_inclusive(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        await log(client, run_id, series(list(range(100))))

        pages = await every_page(client, run_id, key="loss", start_step=20, end_step=44, limit=10)

        steps = [p["step"] for page in pages for p in page["points"]]
        assert steps == list(range(20, 45))

    async def test_key_never_logged_reads_as_empty(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        await log(client, run_id, series([1.0]))

        body = await history(client, run_id, key="accuracy")

        assert body == {"key": "accuracy", "points": [], "next_cursor": None}

    async def test_missing_or_deleted_run_is_404(self, client: httpx.AsyncClient) -> None:
        missing = await client.get(f"/api/v1/runs/{MISSING}/metrics/history?key=loss")
        assert missing.status_code == 404
        run_id = await new_run(client)
        await log(client, run_id, series([1.0]))
        assert (await client.delete(f"/api/v1/runs/{run_id}")).status_code == 204
        deleted = await client.get(f"/api/v1/runs/{run_id}/metrics/history?key=loss")
        assert deleted.status_code == 404

    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor!",
            cursor_of(b"{}"),
            cursor_of(b"[1]"),
            cursor_of(b'["1", 2]'),
            cursor_of(b"[true, 2]"),
            cursor_of(b"[1.5, 2]"),
            cursor_of(b"[1, 99999999999999999999]"),
            cursor_of(b"\xff\xfe"),
        ],
    )
    async def test_bad_cursor_is_422_naming_it(
        self, client: httpx.AsyncClient, cursor: str
    ) -> None:
        run_id = await new_run(client)
        await log(client, run_id, series([1.0, 2.0]))

        response = await client.get(
            f"/api/v1/runs/{run_id}/metrics/history", params={"key": "loss", "cursor": cursor}
        )

        assert response.status_code == 422
        assert response.json()["detail"].startswith("cursor:")

    @pytest.mark.parametrize("limit", [0, 25_001])
    async def test_limit_outside_1_to_25000_is_422(
        self, client: httpx.AsyncClient, limit: int
    ) -> None:
        run_id = await new_run(client)
        response = await client.get(
            f"/api/v1/runs/{run_id}/metrics/history", params={"key": "loss", "limit": limit}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]

    async def test_reversed_step_range_is_422(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        response = await client.get(
            f"/api/v1/runs/{run_id}/metrics/history",
            params={"key": "loss", "start_step": 5, "end_step": 4},
        )
        assert response.status_code == 422
        assert "start_step" in response.json()["detail"]


class TestDownsampled:
    async def test_few_points_come_back_raw(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        await log(client, run_id, series([0.5, "NaN", "Infinity", 0.25]))

        body = await downsampled(client, run_id, key="loss", points=4)

        assert body["sampled"] is False and body["total"] == 4
        assert body["points"] == [
            {"step": 0, "timestamp": T0, "value": 0.5, "min": 0.5, "max": 0.5},
            {"step": 1, "timestamp": T0 + 1000, "value": "NaN", "min": None, "max": None},
            {"step": 2, "timestamp": T0 + 2000, "value": "Infinity"}
            | {"min": "Infinity", "max": "Infinity"},
            {"step": 3, "timestamp": T0 + 3000, "value": 0.25, "min": 0.25, "max": 0.25},
        ]

    async def test_a_spike_and_a_dip_survive(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        values: list[Any] = [1.0] * 5000
        values[1234], values[3210] = 1000.0, -1000.0
        await log(client, run_id, series(values))

        body = await downsampled(client, run_id, key="loss", points=100)

        assert body["sampled"] is True and body["total"] == 5000
        assert len(body["points"]) == 100
        spike = next(p for p in body["points"] if p["step"] >= 1234)
        dip = next(p for p in body["points"] if p["step"] >= 3210)
        assert (spike["max"], spike["min"], spike["value"]) == (1000.0, 1.0, 1.0)
        assert (dip["min"], dip["max"], dip["value"]) == (-1000.0, 1.0, 1.0)
        assert sum(p["max"] == 1000.0 for p in body["points"]) == 1

    @pytest.mark.parametrize("points", [1, 7, 100, 999])
    async def test_never_more_buckets_than_points(
        self, client: httpx.AsyncClient, points: int
    ) -> None:
        run_id = await new_run(client)
        steps = sorted(random.Random(points).sample(range(-500, 100_000), 1000))
        await log(
            client,
            run_id,
            [{"key": "loss", "step": s, "timestamp": T0, "value": float(s)} for s in steps],
        )

        body = await downsampled(client, run_id, key="loss", points=points)

        assert body["sampled"] is True and body["total"] == 1000
        assert 1 <= len(body["points"]) <= points
        assert [p["step"] for p in body["points"]] == sorted({p["step"] for p in body["points"]})
        assert body["points"][-1]["step"] == steps[-1]
        assert min(p["min"] for p in body["points"]) == float(steps[0])

    async def test_each_bucket_gives_its_last_point(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        await log(client, run_id, series([float(i % 7) for i in range(100)]))

        body = await downsampled(client, run_id, key="loss", points=10)

        assert [(p["step"], p["value"]) for p in body["points"]] == [
            (s, float(s % 7)) for s in range(9, 100, 10)
        ]
        assert [p["timestamp"] for p in body["points"]] == [
            T0 + 1000 * s for s in range(9, 100, 10)
        ]
        assert [(p["min"], p["max"]) for p in body["points"][:2]] == [(0.0, 6.0), (0.0, 6.0)]

    async def test_last_point_is_the_latest_timestamp_of_the_last_step(
        self, client: httpx.AsyncClient
    ) -> None:
        run_id = await new_run(client)
        logged = series([float(i) for i in range(20)]) + [
            {"key": "loss", "step": 9, "timestamp": T0 - 5, "value": 90.0},
            {"key": "loss", "step": 9, "timestamp": T0 + 99_000, "value": -9.0},
            {"key": "loss", "step": 9, "timestamp": T0 + 50_000, "value": 9.5},
        ]
        await log(client, run_id, logged)

        body = await downsampled(client, run_id, key="loss", points=2)

        assert body["total"] == 23
        first = body["points"][0]
        assert (first["step"], first["timestamp"], first["value"]) == (9, T0 + 99_000, -9.0)
        assert (first["min"], first["max"]) == (-9.0, 90.0)

    async def test_nan_is_left_out_of_min_and_max(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        # Buckets of 2 steps: [5, NaN], [NaN, NaN], [-Infinity, Infinity]
        await log(client, run_id, series([5.0, "NaN", "NaN", "NaN", "-Infinity", "Infinity"]))

        body = await downsampled(client, run_id, key="loss", points=3)

        assert body["sampled"] is True
        assert [(p["value"], p["min"], p["max"]) for p in body["points"]] == [
            ("NaN", 5.0, 5.0),
            ("NaN", None, None),
            ("Infinity", "-Infinity", "Infinity"),
        ]

    async def test_step_range(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        await log(client, run_id, series([float(i) for i in range(1000)]))

        body = await downsampled(
            client, run_id, key="loss", points=10, start_step=100, end_step=299
        )
        assert body["total"] == 200 and body["sampled"] is True
        assert [p["step"] for p in body["points"]] == list(range(119, 300, 20))
        assert body["points"][0]["min"] == 100.0

        raw = await downsampled(client, run_id, key="loss", points=10, start_step=500, end_step=504)
        assert raw["sampled"] is False
        assert [p["step"] for p in raw["points"]] == [500, 501, 502, 503, 504]

    async def test_unknown_key_empty_and_missing_run_404(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        body = await downsampled(client, run_id, key="loss")
        assert body == {"key": "loss", "points": [], "sampled": False, "total": 0}
        missing = await client.get(f"/api/v1/runs/{MISSING}/metrics/downsampled?key=loss")
        assert missing.status_code == 404

    @pytest.mark.parametrize("points", [0, 10_001])
    async def test_points_outside_1_to_10000_is_422(
        self, client: httpx.AsyncClient, points: int
    ) -> None:
        run_id = await new_run(client)
        response = await client.get(
            f"/api/v1/runs/{run_id}/metrics/downsampled", params={"key": "loss", "points": points}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "points"]


class TestManyRuns:
    async def test_each_live_run_in_the_order_asked(self, client: httpx.AsyncClient) -> None:
        long, short, other_key = await new_run(client), await new_run(client), await new_run(client)
        await log(client, long, series([float(i) for i in range(2000)]))
        await log(client, short, series([float(-i) for i in range(1000)]))
        await log(client, other_key, series([1.0], key="acc"))
        small = await new_run(client)
        await log(client, small, series([3.0, 4.0]))

        response = await client.post(
            "/api/v1/metrics/history",
            json={"run_ids": [short, MISSING, other_key, long, small, short], "key": "loss"}
            | {"points": 50},
        )

        assert response.status_code == 200, response.text
        result = response.json()["series"]
        assert [(s["run_id"], s["key"]) for s in result] == [
            (short, "loss"),
            (other_key, "loss"),
            (long, "loss"),
            (small, "loss"),
        ]
        by_run = {s["run_id"]: s for s in result}
        assert by_run[other_key]["points"] == [] and by_run[other_key]["total"] == 0
        assert by_run[small]["sampled"] is False
        assert [p["value"] for p in by_run[small]["points"]] == [3.0, 4.0]
        # One grid of 40-step buckets for all: the shorter run's buckets line up with the longer's.
        assert [p["step"] for p in by_run[long]["points"]] == list(range(39, 2000, 40))
        assert [p["step"] for p in by_run[short]["points"]] == list(range(39, 1000, 40))
        assert by_run[short]["points"][0]["min"] == -39.0
        assert by_run[short]["total"] == 1000

    async def test_step_range(self, client: httpx.AsyncClient) -> None:
        one, two = await new_run(client), await new_run(client)
        await log(client, one, series([float(i) for i in range(300)]))
        await log(client, two, series([float(i) for i in range(300)]))

        response = await client.post(
            "/api/v1/metrics/history",
            json={"run_ids": [one, two], "key": "loss", "points": 5}
            | {"start_step": 100, "end_step": 199},
        )

        for entry in response.json()["series"]:
            assert entry["total"] == 100
            assert [p["step"] for p in entry["points"]] == [119, 139, 159, 179, 199]

    async def test_100_runs_are_fine_101_are_422(self, client: httpx.AsyncClient) -> None:
        ids = [str(uuid.uuid4()) for _ in range(101)]
        ok = await client.post("/api/v1/metrics/history", json={"run_ids": ids[:100], "key": "a"})
        assert ok.status_code == 200 and ok.json() == {"series": []}

        too_many = await client.post("/api/v1/metrics/history", json={"run_ids": ids, "key": "a"})

        assert too_many.status_code == 422
        error = too_many.json()["detail"][0]
        assert error["loc"] == ["body", "run_ids"] and "100" in error["msg"]


class TestOpenAPI:
    async def test_endpoints_are_documented(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]
        for path, method in [
            ("/api/v1/runs/{run_id}/metrics/history", "get"),
            ("/api/v1/runs/{run_id}/metrics/downsampled", "get"),
        ]:
            operation = paths[path][method]
            assert operation["description"] and "404" in operation["responses"]
            assert {p["name"] for p in operation["parameters"]} >= {"run_id", "key", "start_step"}
        assert "200" in paths["/api/v1/metrics/history"]["post"]["responses"]


def wire(value: float) -> Any:
    """A float as the API writes it: NaN and the infinities as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def block_buckets(
    logged: list[dict[str, Any]],
    *,
    points: int,
    start: int | None = None,
    end: int | None = None,
    grid: tuple[int, int] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """What a downsample into buckets of whole blocks (256 steps: `step >> 8`) must give,
    computed from the logged points: (sampled points, total). A re-sent (step, timestamp)
    keeps its first value. The grid is (first block, blocks per bucket); by default the one
    the API documents: from the block of the first step, as few blocks a bucket as give at
    most `points` buckets."""
    stored: dict[tuple[int, int], float] = {}
    for point in logged:
        stored.setdefault((point["step"], point["timestamp"]), float(point["value"]))
    kept = sorted(
        (step, stamp, value)
        for (step, stamp), value in stored.items()
        if (start is None or step >= start) and (end is None or step <= end)
    )
    if grid is None:
        first, last = kept[0][0] >> 8, kept[-1][0] >> 8
        grid = (first, -(-(last - first + 1) // points))
    first_block, per_bucket = grid
    buckets: dict[int, list[tuple[int, int, float]]] = {}
    for point in kept:
        buckets.setdefault(((point[0] >> 8) - first_block) // per_bucket, []).append(point)
    sampled = []
    for _, members in sorted(buckets.items()):
        finite = [value for _, _, value in members if not math.isnan(value)]
        step, stamp, value = members[-1]
        sampled.append(
            {
                "step": step,
                "timestamp": stamp,
                "value": wire(value),
                "min": wire(min(finite)) if finite else None,
                "max": wire(max(finite)) if finite else None,
            }
        )
    return sampled, len(kept)


def varied_series(seed: int, steps: range, key: str = "loss") -> list[dict[str, Any]]:
    """Random values at `steps` (some NaN, some infinite, a few steps logged twice at other
    timestamps), and every step of block 160 (40,960-41,215) NaN; shuffled."""
    rng = random.Random(seed)
    logged = []
    for step in steps:
        draw = rng.random()
        value: Any = rng.uniform(-100, 100)
        if draw < 0.02 or 40_960 <= step <= 41_215:
            value = "NaN"
        elif draw < 0.025:
            value = rng.choice(["Infinity", "-Infinity"])
        logged.append({"key": key, "step": step, "timestamp": T0 + step, "value": value})
        if draw > 0.99:
            logged.append({"key": key, "step": step, "timestamp": T0 - step, "value": draw})
    rng.shuffle(logged)
    return logged


class TestBlockDownsample:
    """Buckets of 128 steps or more are whole blocks of 256 steps, read from the rollups."""

    async def test_min_max_and_last_of_every_bucket_are_exact(
        self, client: httpx.AsyncClient
    ) -> None:
        run_id = await new_run(client)
        logged = varied_series(7, range(-3000, 150_000, 5))
        await log(client, run_id, logged)

        for points, start, end in [
            (1000, None, None),  # 154 steps wide: rounded up to one block
            (100, None, None),
            (7, None, None),
            (1, None, None),
            (50, 1500, 120_000),  # both ends cut a block in part
            (13, -2000, 77_777),
            (10, 1024, 256 * 97 - 1),  # whole blocks only
            (1, 5000, 5200),  # no whole block at all: two cut ones
            (2, 5000, 5500),  # a whole block between two cut ones
            (3, 40_000, 45_000),  # the all-NaN block
        ]:
            bounds = {"start_step": start, "end_step": end}
            body = await downsampled(
                client,
                run_id,
                key="loss",
                points=points,
                **{name: step for name, step in bounds.items() if step is not None},
            )
            expected, total = block_buckets(logged, points=points, start=start, end=end)
            label = (points, start, end)
            assert body["sampled"] is True, label
            assert body["total"] == total, label
            assert len(body["points"]) <= points, label
            assert body["points"] == expected, label

    async def test_a_resent_batch_changes_no_bucket(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        logged = varied_series(3, range(0, 40_000, 2))
        await log(client, run_id, logged)
        before = await downsampled(client, run_id, key="loss", points=10)

        # The same points again, and some of them with other values (the first value stays).
        await log(client, run_id, logged)
        await log(client, run_id, [p | {"value": 1e9} for p in logged[::3]])
        after = await downsampled(client, run_id, key="loss", points=10)

        assert after == before
        expected, total = block_buckets(logged, points=10)
        assert after["total"] == total == 20_000 + sum(p["timestamp"] < T0 for p in logged)
        assert after["points"] == expected
        assert 1e9 not in [p[field] for p in after["points"] for field in ("value", "max")]

    async def test_nan_in_blocks(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        values: list[Any] = ["NaN"] * 256  # block 0: NaN only
        values += [float(i) for i in range(255)] + ["NaN"]  # block 1: ends with NaN
        values += ["-Infinity", "Infinity"] + [0.5] * 254  # block 2: infinities
        await log(client, run_id, series(values))

        body = await downsampled(client, run_id, key="loss", points=3)

        assert body["sampled"] is True and body["total"] == 768
        assert [(p["step"], p["value"], p["min"], p["max"]) for p in body["points"]] == [
            (255, "NaN", None, None),
            (511, "NaN", 0.0, 254.0),
            (767, 0.5, "-Infinity", "Infinity"),
        ]

    async def test_buckets_are_whole_blocks_from_the_first_ones(
        self, client: httpx.AsyncClient
    ) -> None:
        run_id = await new_run(client)
        await log(client, run_id, series([float(i) for i in range(10_000)]))

        # 10,000 steps (blocks 0-39) in 4 buckets: 2,500 wide, rounded up to 10 blocks.
        body = await downsampled(client, run_id, key="loss", points=4)

        assert [p["step"] for p in body["points"]] == [2559, 5119, 7679, 9999]
        assert [p["min"] for p in body["points"]] == [0.0, 2560.0, 5120.0, 7680.0]

        # 10,000 steps in 60 buckets: 167 wide, rounded up to 1 block; 40 buckets.
        body = await downsampled(client, run_id, key="loss", points=60)

        assert [p["step"] for p in body["points"]] == [*range(255, 9984, 256), 9999]

        # 10,000 steps in 80 buckets: 125 wide, less than half a block: from the points.
        body = await downsampled(client, run_id, key="loss", points=80)

        assert [p["step"] for p in body["points"]] == list(range(124, 10_000, 125))

    async def test_steps_at_the_ends_of_int64(self, client: httpx.AsyncClient) -> None:
        run_id = await new_run(client)
        low, high = -(2**63), 2**63 - 1
        steps = [low, low + 1, low + 300, -1, 0, 5, high - 300, high - 1, high]
        logged = [
            {"key": "loss", "step": step, "timestamp": T0, "value": float(i)}
            for i, step in enumerate(steps)
        ]
        await log(client, run_id, logged)

        for points, start, end in [(2, None, None), (3, low + 1, high - 1), (4, low, high)]:
            bounds = {"start_step": start, "end_step": end}
            body = await downsampled(
                client,
                run_id,
                key="loss",
                points=points,
                **{name: step for name, step in bounds.items() if step is not None},
            )
            expected, total = block_buckets(logged, points=points, start=start, end=end)
            assert (body["total"], body["points"]) == (total, expected), (points, start, end)

    async def test_runs_share_one_grid_of_blocks(self, client: httpx.AsyncClient) -> None:
        early, late = await new_run(client), await new_run(client)
        early_points = varied_series(1, range(0, 100_000, 10))
        late_points = varied_series(2, range(50_000, 150_000, 10))
        await log(client, early, early_points)
        await log(client, late, late_points)

        response = await client.post(
            "/api/v1/metrics/history", json={"run_ids": [early, late], "key": "loss", "points": 20}
        )

        assert response.status_code == 200, response.text
        by_run = {s["run_id"]: s for s in response.json()["series"]}
        # Blocks 0-585 of both runs: 30 blocks (7,680 steps) a bucket, from block 0.
        for run_id, logged in [(early, early_points), (late, late_points)]:
            expected, total = block_buckets(logged, points=20, grid=(0, 30))
            assert by_run[run_id]["points"] == expected
            assert by_run[run_id]["total"] == total
        assert by_run[late]["points"][0]["step"] == 53_750  # in its first bucket, 46,080-53,759
