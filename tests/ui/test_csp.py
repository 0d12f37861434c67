"""The UI's pages carry a strict Content-Security-Policy and still work under it: tables,
charts and colour swatches show, and the browser reports no violation."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.ui.conftest import ConsoleErrors, curve, make_experiment, make_run

# Chromium's own report of a refused script, style or connection.
VIOLATION = "Content Security Policy"
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
def runs(api: httpx.Client) -> list[dict[str, Any]]:
    experiment = make_experiment(api, "csp")
    return [
        make_run(
            api,
            experiment["id"],
            f"run-{index}",
            params={"lr": str(0.1 * (index + 1))},
            metrics={"loss": curve(50, 2.0, 0.3 + 0.1 * index, seed=index + 1)},
            status="completed",
        )
        for index in range(2)
    ]


@pytest.fixture
def violations(page: Page) -> Iterator[list[str]]:
    """What the browser refused on the page, from its console and from the DOM's
    securitypolicyviolation events; empty at the end of a test unless it forgets them."""
    seen: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if VIOLATION in message.text:
            seen.append(message.text)

    page.on("console", console)
    page.context.add_init_script(WATCH_VIOLATIONS)
    yield seen


def reported(page: Page, console: list[str]) -> list[str]:
    events: list[str] = page.evaluate("window.__violations")
    return console + events


class TestHeader:
    def test_a_page_forbids_what_it_does_not_use(self, page: Page) -> None:
        response = page.goto("/")
        assert response is not None and response.ok
        policy = dict(
            directive.strip().split(" ", 1)
            for directive in response.headers["content-security-policy"].split(";")
        )
        assert policy["default-src"] == "'none'"
        assert policy["script-src"].startswith("'self' 'sha256-")  # the import map only
        assert "unsafe-inline" not in policy["script-src"]
        assert policy["style-src"] == "'self'"
        assert policy["connect-src"] == "'self'"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'"
        assert policy["base-uri"] == "'none'"
        assert policy["form-action"] == "'self'"


class TestPagesWorkUnderThePolicy:
    def test_experiments_list(
        self, page: Page, violations: list[str], runs: list[dict[str, Any]]
    ) -> None:
        page.goto("/")
        expect(page.locator("#experiments tbody tr").first).to_be_visible()
        expect(page.locator("#experiments")).to_contain_text("csp-")
        assert reported(page, violations) == []

    def test_runs_table_keeps_its_column_widths(
        self, page: Page, violations: list[str], runs: list[dict[str, Any]]
    ) -> None:
        page.goto(f"/experiments/{runs[0]['experiment_id']}")
        expect(page.locator("#runs tbody tr")).to_have_count(2)
        # Widths come from data-width through the CSSOM, not from refused style attributes.
        for header in page.locator("#runs thead th").all():
            assert header.evaluate("th => th.style.width").endswith("px")
        assert reported(page, violations) == []

    def test_run_page_draws_its_chart(
        self, page: Page, violations: list[str], runs: list[dict[str, Any]]
    ) -> None:
        page.goto(f"/runs/{runs[0]['id']}")
        expect(page.locator(".chart[data-metric='loss'] canvas")).to_be_visible()
        assert reported(page, violations) == []

    def test_compare_page_colours_its_legend(
        self, page: Page, violations: list[str], runs: list[dict[str, Any]]
    ) -> None:
        page.goto(f"/compare?runs={','.join(run['id'] for run in runs)}")
        expect(page.locator(".chart canvas")).to_have_count(1)
        swatches = page.locator("#legend .swatch")
        expect(swatches).to_have_count(2)
        colours = [
            swatch.evaluate("el => getComputedStyle(el).backgroundColor")
            for swatch in swatches.all()
        ]
        assert "rgba(0, 0, 0, 0)" not in colours
        assert len(set(colours)) == 2
        assert reported(page, violations) == []

    def test_model_pages_show_their_aliases(
        self, page: Page, violations: list[str], api: httpx.Client, runs: list[dict[str, Any]]
    ) -> None:
        name = f"csp-model-{runs[0]['id'][:8]}"
        assert api.post("/models", json={"name": name}).status_code == 201
        source = {"source": f"runs:/{runs[0]['id']}/model"}
        assert api.post(f"/models/{name}/versions", json=source).status_code == 201
        assert api.put(f"/models/{name}/aliases/champion", json={"version": 1}).is_success
        page.goto("/models")
        expect(page.locator(f"#models tr[data-name='{name}'] .alias")).to_be_visible()
        page.goto(f"/models/{name}")
        expect(page.locator("#versions tbody tr .alias")).to_have_text("@champion")
        page.goto(f"/runs/{runs[0]['id']}")
        expect(page.locator("#registered-versions a")).to_have_text(name)
        assert reported(page, violations) == []


class TestThePolicyIsEnforced:
    """The control for the tests above: what the policy forbids is refused, and reported."""

    def test_an_inline_style_and_script_are_refused(
        self, page: Page, violations: list[str], console_errors: ConsoleErrors
    ) -> None:
        page.goto("/")
        expect(page.locator("#summary")).to_contain_text("experiment")
        page.evaluate(
            """() => {
              document.body.insertAdjacentHTML(
                "beforeend", '<p id="probe" style="color: rgb(255, 0, 0)">probe</p>');
              const script = document.createElement("script");
              script.textContent = "window.injected = true";
              document.body.append(script);
            }"""
        )
        color = page.locator("#probe").evaluate("el => getComputedStyle(el).color")
        assert color != "rgb(255, 0, 0)"
        assert page.evaluate("window.injected === undefined")
        page.wait_for_function("window.__violations.length >= 2")
        directives = sorted(entry.split(" ")[0] for entry in reported(page, [])[:2])
        assert directives == ["script-src-elem", "style-src-attr"]
        console_errors.forget(VIOLATION)
