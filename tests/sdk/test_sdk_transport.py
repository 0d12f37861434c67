"""Retries, backoff and `Retry-After`, with httpx's mock transport standing in for the
network (no server needed)."""

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from mltrail.config import Settings
from mltrail.errors import (
    InvalidRequest,
    MltrailError,
    NotFound,
    ServerUnreachable,
    Unauthorized,
)
from mltrail.retry import Backoff, parse_retry_after
from mltrail.transport import Transport

Handler = Callable[[httpx.Request], httpx.Response]


def transport(handler: Handler, **settings: object) -> Transport:
    values: dict[str, object] = {"url": "http://tracker.test", "give_up_after": 60.0}
    values.update(settings)
    return Transport(Settings(**values), transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def answers(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


class TestRetries:
    def test_retry_after_is_honoured_on_503(self) -> None:
        handler, seen = answers(
            httpx.Response(503, headers={"Retry-After": "2"}, json={"detail": "busy"}),
            httpx.Response(200, json={"metrics": 1}),
        )
        slept: list[float] = []
        response = transport(handler).request("POST", "/x", json={}, sleep=slept.append)
        assert response.status_code == 200
        assert len(seen) == 2
        assert slept[0] >= 2.0

    def test_429_and_connection_errors_are_retried_with_growing_delays(self) -> None:
        handler, seen = answers(
            httpx.ConnectError("refused"),
            httpx.Response(429, json={"detail": "slow down"}),
            httpx.ReadTimeout("slow"),
            httpx.Response(502),
            httpx.Response(200, json={}),
        )
        slept: list[float] = []
        transport(handler).request("GET", "/x", sleep=slept.append)
        assert len(seen) == 5
        assert len(slept) == 4
        backoff = Backoff()
        for attempt, delay in enumerate(slept):
            ceiling = backoff.base * 2**attempt
            assert ceiling / 2 <= delay <= ceiling

    def test_a_refusal_is_not_retried(self) -> None:
        handler, seen = answers(httpx.Response(404, json={"detail": "Run x not found"}))
        with pytest.raises(NotFound, match="Run x not found") as caught:
            transport(handler).request("GET", "/api/v1/runs/x", sleep=pytest.fail)
        assert caught.value.status_code == 404
        assert len(seen) == 1

    def test_gives_up_when_the_budget_is_spent(self) -> None:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused")

        with pytest.raises(ServerUnreachable, match="cannot reach the server at http://tracker"):
            transport(refuse, give_up_after=0.3).request("GET", "/x")

    def test_a_retry_after_beyond_the_budget_gives_up_at_once(self) -> None:
        handler, seen = answers(httpx.Response(429, headers={"Retry-After": "600"}))
        with pytest.raises(ServerUnreachable, match="429"):
            transport(handler).request("GET", "/x", sleep=pytest.fail)
        assert len(seen) == 1


class TestRefusals:
    def test_401_says_which_setting_to_fix(self) -> None:
        handler, _ = answers(httpx.Response(401, json={"detail": "Missing API key"}))
        with pytest.raises(Unauthorized, match="Missing API key; set MLTRAIL_API_KEY"):
            transport(handler).request("GET", "/api/v1/experiments")

    def test_an_answer_that_is_not_json_is_named(self) -> None:
        handler, _ = answers(httpx.Response(200, text="<html>hello</html>"))
        with pytest.raises(MltrailError, match="not JSON: is it an Experiment Tracker"):
            transport(handler).json("GET", "/api/v1/experiments")

    def test_validation_errors_name_the_field(self) -> None:
        detail = [{"loc": ["body", "metrics", 0, "key"], "msg": "bad key", "type": "x"}]
        handler, _ = answers(httpx.Response(422, json={"detail": detail}))
        with pytest.raises(InvalidRequest, match="metrics.0.key: bad key"):
            transport(handler).request("POST", "/x", json={})


class TestHeaders:
    def test_the_api_key_is_sent_as_a_bearer_token(self) -> None:
        # Bearer, which the server accepts whatever header its API_KEY_HEADER names.
        handler, seen = answers(httpx.Response(200, json={}))
        transport(handler, api_key="s3cret").request("GET", "/health")
        assert seen[0].headers["Authorization"] == "Bearer s3cret"
        assert "X-API-Key" not in seen[0].headers

    def test_no_key_no_header(self) -> None:
        handler, seen = answers(httpx.Response(200, json={}))
        transport(handler).request("GET", "/health")
        assert "Authorization" not in seen[0].headers and "X-API-Key" not in seen[0].headers


class TestBackoff:
    def test_delays_are_capped(self) -> None:
        backoff = Backoff(base=0.5, cap=4.0)
        assert all(2.0 <= backoff.delay(attempt) <= 4.0 for attempt in range(3, 40))

    def test_retry_after_in_seconds_or_as_a_date(self) -> None:
        assert parse_retry_after("3") == 3.0
        in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
        parsed = parse_retry_after(in_a_minute)
        assert parsed is not None and 55 <= parsed <= 60
        assert parse_retry_after("soon") is None


class TestDeprecatedEnvironment:
    def test_the_old_names_still_work_with_a_warning(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from mltrail.config import load_settings

        monkeypatch.delenv("MLTRAIL_URL", raising=False)
        monkeypatch.delenv("MLTRAIL_API_KEY", raising=False)
        monkeypatch.setenv("EXPTRACK_URL", "http://old.example:9000")
        monkeypatch.setenv("EXPTRACK_API_KEY", "et_old")
        with pytest.warns(FutureWarning, match="EXPTRACK_URL is deprecated.*MLTRAIL_URL"):
            settings = load_settings()
        assert (settings.url, settings.api_key) == ("http://old.example:9000", "et_old")

    def test_the_new_name_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from mltrail.config import load_settings

        monkeypatch.setenv("EXPTRACK_URL", "http://old.example:9000")
        monkeypatch.setenv("MLTRAIL_URL", "http://new.example:9000")
        assert load_settings().url == "http://new.example:9000"

    def test_the_cli_reads_the_old_names(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import subprocess
        import sys

        env = {k: v for k, v in os.environ.items() if not k.startswith("MLTRAIL_")}
        env["EXPTRACK_URL"] = "http://127.0.0.1:9"  # nothing listens: the error names it
        done = subprocess.run(
            [sys.executable, "-c", "from mltrail.cli import main; main()", "experiments", "ls"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert "EXPTRACK_URL is deprecated" in done.stderr
        assert "127.0.0.1:9" in done.stderr + done.stdout
