"""The suite covers the route table: a write route without a request builder fails here."""

from tests.security.builders import BUILDERS, EXEMPT, READ_ONLY_POSTS, route_table, write_routes


def test_every_write_route_has_a_request_builder() -> None:
    missing = [
        f"add a request builder for {m} {p}" for m, p in write_routes() if (m, p) not in BUILDERS
    ]
    assert missing == [], "\n".join(missing)


def test_the_route_table_has_the_routes_the_suite_knows() -> None:
    """A sanity check of the generator: it sees MLflow's, v1's and the UI's routes."""
    table = set(route_table())
    assert ("POST", "/api/2.0/mlflow/runs/update") in table
    assert ("PUT", "/api/v1/runs/{run_id}/tags/{key}") in table
    assert set(EXEMPT) <= table
    assert {r for r in table if r[0] == "POST" and r not in BUILDERS} <= READ_ONLY_POSTS | set(
        EXEMPT
    )
