"""Stored XSS through artifacts: a signed-in admin who opens an uploaded `.html` or `.svg`
file gets a download, not a page of our origin, so a script in it cannot act as the admin."""

import contextlib
import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
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


# Previewed on the run page: the same attack in every shape a preview renders. Raw HTML in
# markdown, a markdown link to `javascript:`, markup in a CSV cell and in JSON strings, a
# script in an HTML report (shown in the sandboxed frame).
def _handler(marker: str) -> str:
    return f"<img src=x onerror='{attack(marker, marker)}'>"


MARKDOWN = (
    f"# Results\n\n<script>{attack('xss-md', 'xss-md')}</script>\n\n{_handler('xss-md')}\n\n"
    f"[open](javascript:{attack('xss-md', 'xss-md')})\n"
)
_CSV = io.StringIO()
csv.writer(_CSV).writerows(
    [
        ["name", "note"],
        ["row-1", _handler("xss-csv")],
        ["row-2", f"<script>{attack('xss-csv', 'xss-csv')}</script>"],
    ]
)
REPORT = (
    f"<!doctype html><h1>Quarterly report</h1><script>{attack('xss-frame', 'xss-frame')}</script>"
)
JSON_PAYLOAD = json.dumps({"note": _handler("xss-json"), "</script><script>": "x"})

FILES: dict[str, str | bytes] = {
    "evil.html": HTML,
    "evil.svg": SVG,
    "dot.png": PNG_1X1,
    "notes.txt": "<b>not markup</b>",
    "metrics.json": '{"accuracy": 0.93}',
    "evil.md": MARKDOWN,
    "evil.csv": _CSV.getvalue(),
    "evil.json": JSON_PAYLOAD,
    "report.html": REPORT,
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


def preview(page: Page, guarded: Guarded, name: str) -> Locator:
    """The run page with the artifact `name` clicked: the preview's body."""
    page.goto(f"/runs/{guarded.run_id}")
    # Cards above the artifacts fill in as their requests return; a click before they have
    # can land on the wrong row (seen on a loaded machine).
    expect(page.locator("#run-page")).to_have_attribute("data-ready", "true")
    page.locator("#artifacts a[data-file]", has_text=re.compile(f"^{re.escape(name)}$")).click()
    body = page.locator("#artifact-preview [data-role=preview-body]")
    expect(page.locator("#artifact-preview [data-role=preview-name]")).to_have_text(name)
    return body


def nothing_ran(page: Page, guarded: Guarded, marker: str) -> None:
    assert page.evaluate(f"localStorage.getItem({marker!r})") is None
    assert page.title() != marker
    assert not [user for user in guarded.users() if user.startswith("xss-")]


class TestPreviewsRunNothing:
    """The run page's previews show a hostile file's markup as text (or inert, in a sandbox
    or as an image), so the admin who opens it runs none of its scripts."""

    def test_markdown_shows_its_html_as_text(self, admin_page: Page, guarded: Guarded) -> None:
        body = preview(admin_page, guarded, "evil.md")
        view = body.locator("[data-role=preview-markdown]")
        expect(view.locator("h1")).to_have_text("Results")
        expect(view).to_contain_text("<script>localStorage.setItem")
        expect(view).to_contain_text("<img src=x onerror=")
        expect(view.locator("script, img, iframe")).to_have_count(0)
        expect(view.locator("a[href^='javascript']")).to_have_count(0)
        nothing_ran(admin_page, guarded, "xss-md")

    def test_csv_cells_are_text(self, admin_page: Page, guarded: Guarded) -> None:
        body = preview(admin_page, guarded, "evil.csv")
        cells = body.locator("tbody td")
        expect(cells.nth(1)).to_have_text(_handler("xss-csv"))
        expect(cells.nth(3)).to_contain_text("<script>")
        expect(body.locator("tbody img, tbody script")).to_have_count(0)
        nothing_ran(admin_page, guarded, "xss-csv")

    def test_json_strings_are_text(self, admin_page: Page, guarded: Guarded) -> None:
        body = preview(admin_page, guarded, "evil.json")
        shown = body.locator("[data-role=preview-json]")
        expect(shown).to_have_text(json.dumps(json.loads(JSON_PAYLOAD), indent=2))
        expect(body.locator("img, script")).to_have_count(0)
        nothing_ran(admin_page, guarded, "xss-json")

    def test_an_html_report_shows_in_a_sandbox_that_runs_no_script(
        self, admin_page: Page, guarded: Guarded, console_errors: ConsoleErrors
    ) -> None:
        body = preview(admin_page, guarded, "report.html")
        frame = body.locator("iframe[data-role=preview-frame]")
        # No sandbox tokens: neither scripts nor our origin (together they would undo it).
        assert frame.get_attribute("sandbox", timeout=0) == ""
        inner = admin_page.frame_locator("#artifact-preview iframe")
        expect(inner.locator("h1")).to_have_text("Quarterly report")
        nothing_ran(admin_page, guarded, "xss-frame")
        # Chromium's own report that it refused the frame's script.
        console_errors.forget("Blocked script execution in 'about:srcdoc'")

    def test_an_svg_shows_as_an_image_that_runs_no_script(
        self, admin_page: Page, guarded: Guarded
    ) -> None:
        body = preview(admin_page, guarded, "evil.svg")
        image = body.locator("img[data-role=preview-image]")
        admin_page.wait_for_function(
            "img => img.complete && img.naturalWidth === 10", arg=image.element_handle()
        )
        expect(body.locator("svg, script")).to_have_count(0)
        nothing_ran(admin_page, guarded, "xss-svg")
