"""Fixtures of the web UI tests: a live server (uvicorn in a subprocess over a fresh SQLite
database), headless Chromium (Debian's `chromium`, driven by Playwright for Python; no browser
download), pages that fail their test on any console error, and screenshots of what was seen
under tests/artifacts/screenshots/.

Without Chromium or Playwright the tests are skipped with the reason; under CI=true they fail.
"""

import logging
import math
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.sdk.live_server import LiveServer
from tests.services_available import IN_CI

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - reported by the `browser` fixture
    sync_playwright = None

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# One line per seeding request would bury what a failing test says.
logging.getLogger("httpx").setLevel(logging.WARNING)
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true requires it)", pytrace=False)
    pytest.skip(reason)


# How long an action or an expectation waits for the page: generous, because a loaded 2-core
# machine took more than 10 s to render Swagger UI's operations; a passing test waits only as
# long as the page needs.
UI_WAIT_MS = 60_000
if sync_playwright is not None:
    expect.set_options(timeout=UI_WAIT_MS)  # `expect` has a default of its own (5 s)


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("ui-server"))
    live.start()
    yield live
    live.stop()


# Per module, not per session: Playwright's sync API keeps an event loop running on the
# thread while it is open, and the async tests and fixtures of other modules need it not to.
@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    if sync_playwright is None:
        _unavailable("the playwright package is not installed")
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class ConsoleErrors(list[str]):
    """What the page reported as errors: console.error, uncaught exceptions, failed loads."""

    def watch(self, page: "Page") -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.append(f"uncaught: {error}"))

    def forget(self, text: str) -> None:
        """Drop the errors a test caused on purpose (they contain `text`)."""
        self[:] = [error for error in self if text not in error]

    def _console(self, message: "ConsoleMessage") -> None:
        if message.type == "error":
            self.append(f"console.error: {message.text} ({message.location.get('url')})")


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
def page(
    browser: "Browser", ui_server: LiveServer, console_errors: ConsoleErrors
) -> Iterator["Page"]:
    """A fresh browser tab on the live server; the test fails if the page logged an error."""
    context = browser.new_context(viewport=VIEWPORT, base_url=ui_server.url)
    context.set_default_timeout(UI_WAIT_MS)
    tab = context.new_page()
    console_errors.watch(tab)
    yield tab
    context.close()
    assert not console_errors, "the page logged errors:\n" + "\n".join(console_errors)


def screenshot(page: "Page", name: str) -> Path:
    """Save what the page shows (the whole page) as tests/artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def api(ui_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{ui_server.url}/api/v1", timeout=30) as client:
        yield client


def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def make_experiment(api: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    body = {"name": f"{name}-{time.monotonic_ns() % 10**9}", "owner": "ada", **fields}
    return _ok(api.post("/experiments", json=body))  # type: ignore[no-any-return]


def make_run(
    api: httpx.Client,
    experiment_id: str,
    name: str,
    *,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, list[float]] | None = None,
    status: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A run with the given params and tags and, per metric key, one point per step."""
    body: dict[str, Any] = {"name": name, "user": "ada", "params": params or {}, "tags": tags or {}}
    if description:
        body["description"] = description
    run = _ok(api.post(f"/experiments/{experiment_id}/runs", json=body))
    points = [
        {"key": key, "value": value, "step": step}
        for key, values in (metrics or {}).items()
        for step, value in enumerate(values)
    ]
    for start in range(0, len(points), 10_000):
        _ok(api.post(f"/runs/{run['id']}/batch", json={"metrics": points[start : start + 10_000]}))
    if status:
        _ok(api.patch(f"/runs/{run['id']}", json={"status": status}))
    return run  # type: ignore[no-any-return]


def make_sweep(api: httpx.Client, name: str) -> dict[str, Any]:
    """Five runs: lr 0.1 ... 0.00001; accuracy rises as lr falls; `adam` on even ones."""
    experiment = make_experiment(api, name)
    runs = [
        make_run(
            api,
            experiment["id"],
            f"run-{index}",
            params={
                "lr": f"{10 ** -(index + 1):g}",
                "optimizer": "adam" if index % 2 == 0 else "sgd",
            },
            metrics={"accuracy": [0.5, 0.6 + index / 20], "loss": [1.0, 0.5 - index / 20]},
            status="completed",
        )
        for index in range(5)
    ]
    return {"experiment": experiment, "runs": runs}


def curve(length: int, start: float, end: float, noise: float = 0.03, seed: int = 1) -> list[float]:
    """A smooth, slightly noisy training curve from `start` to `end`."""
    values = []
    for step in range(length):
        progress = 1 - math.exp(-5 * step / max(length - 1, 1))
        wiggle = noise * math.sin(step * 0.7 + seed) * math.cos(step * 0.13 * seed)
        values.append(round(start + (end - start) * progress + wiggle, 6))
    return values
