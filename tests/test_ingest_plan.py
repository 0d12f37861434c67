"""The ingest statement's plan on a fresh database (no statistics, as on a new installation
or in the first minute of a benchmark): the batch's points are read once, whatever the
planner believes about the tables."""

import json
import re
import uuid
from typing import Any

from sqlalchemy import text

from mltrail_server.db.engine import Database
from mltrail_server.db.repositories.tracking import _PG_ADD_POINTS
from tests.conftest import Backend


def cte_scans(plan: dict[str, Any], name: str) -> int:
    found = int(plan.get("Node Type") == "CTE Scan" and plan.get("CTE Name") == name)
    return found + sum(cte_scans(child, name) for child in plan.get("Plans", []))


def nested_loops_over(plan: dict[str, Any], name: str) -> int:
    """Nested loops with a scan of CTE `name` on their inner side (run once per outer row)."""
    children = plan.get("Plans", [])
    count = 0
    if plan.get("Node Type") == "Nested Loop" and len(children) == 2:
        count += cte_scans(children[1], name)
    return count + sum(nested_loops_over(child, name) for child in children)


async def test_the_points_of_a_batch_are_read_once(postgres_backend: Backend) -> None:
    database = Database(postgres_backend.settings().resolved_database_url, pooled=False)
    run = uuid.uuid4()
    n = 1000
    keys = [f"k{i}" for i in range(10)]
    values = {
        "run_ids": [run],
        "series_runs": [run] * 10,
        "keys": keys,
        "vals": [0.5] * 10,
        "nans": [False] * 10,
        "steps": [n] * 10,
        "stamps": [5] * 10,
        "mins": [0.1] * 10,
        "maxs": [0.9] * 10,
        "point_runs": [run] * n,
        "point_keys": [keys[i % 10] for i in range(n)],
        "point_steps": list(range(n)),
        "point_stamps": [5] * n,
        "point_vals": [i / n for i in range(n)],
        "point_nans": [False] * n,
    }
    assert set(values) == set(re.findall(r"(?<!:):([a-z_]+)", _PG_ADD_POINTS.text))
    try:
        async with database.engine.connect() as connection:
            result = await connection.execute(
                text("EXPLAIN (FORMAT JSON) " + _PG_ADD_POINTS.text), values
            )
            document = result.scalar_one()
    finally:
        await database.dispose()
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    assert nested_loops_over(plan, "points") == 0, json.dumps(plan, indent=1)
    assert cte_scans(plan, "points") == 1
