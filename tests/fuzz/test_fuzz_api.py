"""Fuzzing every /api/v1 operation from our own OpenAPI document (schemathesis).

For each operation schemathesis generates valid and invalid requests (bodies, query strings,
path parameters, malformed JSON); about half of them are aimed at a live experiment and run
so that they get past the 404. Each response must be:

- no server error (5xx): a client mistake is a 4xx (DESIGN §7);
- what the document promises: a documented status, content type, headers and body schema,
  so that a client generated from /openapi.json can read every answer;
- an error body without internals (no stack trace, no SQL driver names).

Runs in-process through the ASGI app, on SQLite and on PostgreSQL + Redis.
"""

import zlib
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.specs.openapi import checks as openapi

from mltrail_server.config import Settings
from mltrail_server.main import create_app
from tests.fuzz.conftest import OPEN_SETTINGS, Seeded

EXAMPLES_PER_OPERATION = 30
REQUEST_TIMEOUT_SECONDS = 10.0
# An event stream stays open while its run lives: what it sent by then is checked.
STREAM_TIMEOUT_SECONDS = 0.5
STREAM_EXAMPLES_PER_OPERATION = 10
INTERNALS = ("Traceback (most recent call last)", "sqlalchemy.", "asyncpg.", "sqlite3.")


def _json(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _is_error_body(body: Any) -> bool:
    """`{"detail": "message"}`, or FastAPI's `{"detail": [{"loc", "msg", "type"}, ...]}`."""
    if not isinstance(body, dict) or set(body) != {"detail"}:
        return False
    detail = body["detail"]
    if isinstance(detail, str):
        return True
    return isinstance(detail, list) and all(
        isinstance(item, dict)
        and isinstance(item.get("loc"), list)
        and isinstance(item.get("msg"), str)
        and isinstance(item.get("type"), str)
        for item in detail
    )


@schemathesis.check
def error_body_without_internals(ctx: Any, response: Response, case: Case) -> bool | None:
    """An error tells the client what was wrong, never how the server is built."""
    if response.status_code >= 400:
        text = response.text or ""
        for marker in INTERNALS:
            assert marker not in text, f"error body reveals {marker!r}: {text[:500]}"
        assert _is_error_body(_json(response)), f"not an error body: {text[:500]}"
    return None


CHECKS = [
    not_a_server_error,
    openapi.status_code_conformance,
    openapi.response_schema_conformance,
    openapi.content_type_conformance,
    openapi.response_headers_conformance,
    error_body_without_internals,
]

# The document does not depend on the database: read from an app that is never started.
schema = schemathesis.openapi.from_dict(create_app(Settings(**OPEN_SETTINGS)).openapi())


def _v1(context: Any) -> bool:
    return bool(context.operation.path.startswith("/api/v1/"))


def _streams(context: Any) -> bool:
    responses = context.operation.definition.raw.get("responses", {})
    return "text/event-stream" in responses.get("200", {}).get("content", {})


# An event stream is read until a timeout: fewer examples of those keep the module short.
answering = schema.include(lambda context: _v1(context) and not _streams(context))
streaming = schema.include(lambda context: _v1(context) and _streams(context))


def aimed(case: Case) -> bool:
    """Half of the requests, chosen from their content, so that a replay (when hypothesis
    shrinks a failure) aims the same request the same way."""
    return zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode()) % 2 == 0


def aim(case: Case, seeded: Seeded) -> None:
    """Point the generated request at the live experiment and run (and their keys)."""
    path = case.path_parameters
    if path:
        if "experiment_id" in path:
            path["experiment_id"] = seeded.experiment_id
        if "run_id" in path:
            path["run_id"] = seeded.run_id
        if "key" in path:
            path["key"] = seeded.tag_key
    if case.query and "key" in case.query:
        case.query["key"] = seeded.metric_key
    if isinstance(case.body, dict):
        if "experiment_ids" in case.body:
            case.body["experiment_ids"] = [seeded.experiment_id]
        if "run_ids" in case.body:
            case.body["run_ids"] = [seeded.run_id]


def check(case: Case, app: FastAPI, seeded: Seeded, timeout: float) -> None:
    if aimed(case):
        aim(case, seeded.ensure())
    case.call_and_validate(app=app, checks=CHECKS, timeout=timeout)


fuzzing = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@answering.parametrize()
@settings(fuzzing, max_examples=EXAMPLES_PER_OPERATION)
def test_operation(case: Case, fuzz_app: FastAPI, seeded: Seeded) -> None:
    check(case, fuzz_app, seeded, REQUEST_TIMEOUT_SECONDS)


@streaming.parametrize()
@settings(fuzzing, max_examples=STREAM_EXAMPLES_PER_OPERATION)
def test_event_stream(case: Case, fuzz_app: FastAPI, seeded: Seeded) -> None:
    check(case, fuzz_app, seeded, STREAM_TIMEOUT_SECONDS)
