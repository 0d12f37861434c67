"""Stored XSS through artifacts: a signed-in admin who opens an uploaded `.html` or `.svg`
file gets a download, not a page of our origin, so a script in it cannot act as the admin."""

import contextlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

from tests.sdk.live_server import LiveServer
from tests.ui.conftest import UI_WAIT_MS, VIEWPORT, ConsoleErrors

FIRST_KEY = re.compile(r"First admin API key \(shown once, keep it safe\): (\S+)")


def create_admin(user: str) -> str:
    """What a same-origin script would do with the admin's cookie: create an admin, with the
    header the API asks of cookie-authenticated writes. An expression: a Promise of the status."""
    return f"""fetch("/api/v1/users", {{
  method: "POST",
  keepalive: true,
  credentials: "include",
  headers: {{"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"}},
  body: JSON.stringify({{name: "{user}", role: "admin"}}),
}}).then((response) => response.status)"""


def attack(user: str, marker: str) -> str:
    """The artifact's script: the admin, and a marker in our origin's storage and the title."""
    return (
        f'localStorage.setItem("{marker}", "ran"); document.title = "{marker}"; '
        f"{create_admin(user)};"
    )


HTML = f"<!doctype html><html><body><script>{attack('xss-html', 'xss-html')}</script></body></html>"
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    f"<script>{attack('xss-svg', 'xss-svg')}</script></svg>"
)
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005050200"
    "5fc8f1d20000000049454e44ae426082"
)

FILES: dict[str, str | bytes] = {
    "evil.html": HTML,
    "evil.svg": SVG,
    "dot.png": PNG_1X1,
    "notes.txt": "<b>not markup</b>",
    "metrics.json": '{"accuracy": 0.93}',
}


@dataclass
class Guarded:
    server: LiveServer
    admin_key: str
    experiment_id: str
    run_id: str

    def users(self) -> list[str]:
        response = httpx.get(
            f"{self.server.url}/api/v1/users", headers={"X-API-Key": self.admin_key}
        )
        assert response.status_code == 200, response.text
        return [user["name"] for user in response.json()]

    def url(self, route: str, name: str) -> str:
        if route == "v1":
            return f"/api/v1/runs/{self.run_id}/artifacts/{name}"
        prefix = "/api/2.0/mlflow-artifacts/artifacts"
        return f"{prefix}/{self.experiment_id}/{self.run_id}/artifacts/{name}"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    """A server with AUTH_ENABLED=true, its first admin's key, and a run holding the
    attacker's files (uploaded by a member would be the same: the files are what matters)."""
    live = LiveServer(tmp_path_factory.mktemp("xss"), env={"AUTH_ENABLED": "true"})
    live.start()
    try:
        match = FIRST_KEY.search(live.log.read_text())
        assert match, "the server did not print its first admin key"
        key = match.group(1)
        with httpx.Client(base_url=live.url, headers={"X-API-Key": key}, timeout=30) as client:
            experiment = client.post(
                "/api/2.0/mlflow/experiments/create", json={"name": f"xss-{uuid.uuid4().hex[:8]}"}
            ).json()["experiment_id"]
            run = client.post("/api/2.0/mlflow/runs/create", json={"experiment_id": experiment})
            run_id = run.json()["run"]["info"]["run_id"]
            for name, body in FILES.items():
                data = body.encode() if isinstance(body, str) else body
                uploaded = client.put(f"/api/v1/runs/{run_id}/artifacts/{name}", content=data)
                assert uploaded.status_code == 201, uploaded.text
        yield Guarded(live, key, experiment, run_id)
    finally:
        live.stop()


@pytest.fixture
def admin_page(browser: Browser, guarded: Guarded, console_errors: ConsoleErrors) -> Iterator[Page]:
    """A tab whose admin signed in through the UI's key dialog (an HTTP-only cookie)."""
    context = browser.new_context(
        viewport=VIEWPORT, base_url=guarded.server.url, accept_downloads=True
    )
    context.set_default_timeout(UI_WAIT_MS)
    page = context.new_page()
    console_errors.watch(page)
    page.goto("/")
    dialog = page.locator("#api-key-dialog")
    dialog.get_by_label("API key").fill(guarded.admin_key)
    dialog.get_by_role("button", name="Continue").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#summary")).to_have_text(re.compile(r"\d+ experiments?"))
    assert any(cookie["httpOnly"] for cookie in context.cookies())
    yield page
    context.close()
    console_errors.forget("status of 401")  # the API's answers before the key was given
    assert not console_errors, "the page logged errors:\n" + "\n".join(console_errors)


class TestTheAttackWouldWorkAsTheApp:
    def test_the_payload_creates_an_admin_when_run_on_our_origin(
        self, admin_page: Page, guarded: Guarded
    ) -> None:
        """The control: the same script, run in a page of ours, does create the user. So the
        tests below fail if an artifact ever runs as the app."""
        user = f"control-{uuid.uuid4().hex[:6]}"
        assert admin_page.evaluate(f"() => {create_admin(user)}") == 201
        assert user in guarded.users()


class TestScriptedArtifactsDownload:
    @pytest.mark.parametrize("route", ["v1", "mlflow"])
    @pytest.mark.parametrize("name", ["evil.html", "evil.svg"])
    def test_opening_it_downloads_and_runs_nothing(
        self, admin_page: Page, guarded: Guarded, route: str, name: str
    ) -> None:
        marker = name.replace("evil.", "xss-")
        # The navigation ends in a download, which Playwright reports as a failed goto.
        with admin_page.expect_download() as download, contextlib.suppress(PlaywrightError):
            admin_page.goto(guarded.url(route, name))
        assert download.value.suggested_filename == name
        # Back on a page of ours, after the UI has made its own requests.
        admin_page.goto("/")
        expect(admin_page.locator("#summary")).to_have_text(re.compile(r"\d+ experiments?"))
        assert admin_page.evaluate(f"localStorage.getItem({marker!r})") is None
        assert admin_page.title() != marker
        assert not [user for user in guarded.users() if user.startswith("xss-")]


class TestSafeArtifactsStillShow:
    @pytest.mark.parametrize("route", ["v1", "mlflow"])
    def test_an_image_opens_in_the_tab(
        self, admin_page: Page, guarded: Guarded, route: str
    ) -> None:
        response = admin_page.goto(guarded.url(route, "dot.png"))
        assert response is not None and response.status == 200
        image = admin_page.locator("img")
        expect(image).to_have_count(1)
        assert image.evaluate("img => img.complete && img.naturalWidth") == 1

    @pytest.mark.parametrize("name", ["notes.txt", "metrics.json"])
    def test_text_opens_as_text(self, admin_page: Page, guarded: Guarded, name: str) -> None:
        response = admin_page.goto(guarded.url("v1", name))
        assert response is not None and response.status == 200
        expect(admin_page.locator("body")).to_contain_text(str(FILES[name]))
        expect(admin_page.locator("b")).to_have_count(0)
