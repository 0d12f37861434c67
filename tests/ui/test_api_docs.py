"""/docs (Swagger UI) and /redoc (ReDoc) work without internet access: their scripts and
styles come from this server, nothing is asked of any other host, and their policy allows
no other host either."""

from urllib.parse import urlsplit

from playwright.sync_api import Page, Route, expect

from tests.ui.conftest import SCREENSHOTS, ConsoleErrors, screenshot

LOOPBACK = {"127.0.0.1"}
REDOC_BADGE = "Loading the image 'https://cdn.redoc.ly/redoc/logo-mini.svg' violates"


def cut_off_from_the_internet(page: Page) -> list[str]:
    """Abort every request to a host other than the loopback one; the list fills with them."""
    outside: list[str] = []

    def handle(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    page.route("**/*", handle)
    return outside


def policy_of(page: Page, path: str) -> dict[str, str]:
    response = page.goto(path)
    assert response is not None and response.ok
    return dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )


class TestWithoutInternet:
    def test_swagger_ui_lists_the_operations(self, page: Page) -> None:
        outside = cut_off_from_the_internet(page)
        page.goto("/docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=60_000)
        paths = page.locator(".opblock-summary-path")
        expect(paths.filter(has_text="/api/v1/experiments").first).to_be_visible()
        expect(page.locator(".opblock-summary-path[data-path='/api/v1/me']")).to_have_count(1)
        screenshot(page, "api-docs-offline")
        assert outside == []

    def test_an_operation_opens_and_can_be_tried(self, page: Page) -> None:
        outside = cut_off_from_the_internet(page)
        page.goto("/docs")
        operation = page.locator("#operations-access-who_am_i_api_v1_me_get")
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        operation.get_by_role("button", name="Execute").click()
        status = operation.locator(".live-responses-table tbody .response-col_status")
        expect(status).to_have_text("200")
        expect(operation.locator(".live-responses-table")).to_contain_text('"authenticated"')
        assert outside == []

    def test_redoc_lists_the_operations(self, page: Page, console_errors: ConsoleErrors) -> None:
        outside = cut_off_from_the_internet(page)
        page.goto("/redoc")
        expect(page.get_by_role("heading", name="Create Experiment").first).to_be_visible(
            timeout=60_000
        )
        # The visible part only: ReDoc's whole page is far too tall to capture.
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "api-redoc-offline.png"))
        assert outside == []
        # ReDoc's "API docs by Redocly" badge points at its CDN; the policy refuses it, so the
        # browser does not even ask (and says so): the only thing refused.
        console_errors.forget(REDOC_BADGE)


class TestPolicy:
    def test_the_docs_pages_allow_no_other_host(self, page: Page) -> None:
        for path in ("/docs", "/redoc"):
            policy = policy_of(page, path)
            assert "https:" not in " ".join(policy.values()), path
            assert policy["default-src"] == "'none'"
            assert policy["connect-src"] == "'self'"
            assert "unsafe-inline" not in policy["script-src"], path
            assert policy["frame-ancestors"] == "'none'"
