"""With auth on, the API answers the UI's calls with 401 and the page asks for an API key,
then carries on with it."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.sdk.live_server import LiveServer
from tests.ui.conftest import VIEWPORT, ConsoleErrors, screenshot

FIRST_KEY = re.compile(r"First admin API key \(shown once, keep it safe\): (\S+)")


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """A server with AUTH_ENABLED=true, and the admin key it printed at its first start."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AUTH_ENABLED", "true")
        live = LiveServer(tmp_path_factory.mktemp("guarded"))
        live.start()
    match = FIRST_KEY.search(live.log.read_text())
    assert match, "the server did not print its first admin key"
    yield live, match.group(1)
    live.stop()


@pytest.fixture
def guarded_page(
    browser: Browser, guarded_server: tuple[LiveServer, str], console_errors: ConsoleErrors
) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=guarded_server[0].url)
    tab = context.new_page()
    console_errors.watch(tab)
    yield tab
    context.close()
    console_errors.forget("status of 401")  # the API's answers before a key was given
    assert not console_errors, "the page logged errors:\n" + "\n".join(console_errors)


class TestApiKeyPrompt:
    def test_asks_for_a_key_and_uses_it(
        self, guarded_page: Page, guarded_server: tuple[LiveServer, str]
    ) -> None:
        page = guarded_page
        page.goto("/")
        dialog = page.locator("#api-key-dialog")
        expect(dialog).to_be_visible()
        screenshot(page, "api-key-prompt")

        dialog.get_by_label("API key").fill("not-a-key")
        dialog.get_by_role("button", name="Continue").click()
        expect(dialog).to_be_visible()
        expect(dialog.locator("[data-role=error]")).to_contain_text("Invalid")

        dialog.get_by_label("API key").fill(guarded_server[1])
        dialog.get_by_role("button", name="Continue").click()
        expect(dialog).to_be_hidden()
        expect(page.locator("#summary")).to_have_text(re.compile(r"\d+ experiments?"))
        # The key lives in an HTTP-only, SameSite=Strict cookie, out of the page's reach.
        cookie = next(c for c in page.context.cookies() if c["name"] == "mltrail_key")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""
        assert page.evaluate("JSON.stringify(sessionStorage)") == "{}"


class TestSignedIn:
    """The dialog says truly where the key is kept (a cookie every tab shares), the header
    names who is signed in, and signing out forgets the key for every tab."""

    def test_header_names_the_user_every_tab_shares_the_key_and_sign_out_forgets_it(
        self, guarded_page: Page, guarded_server: tuple[LiveServer, str]
    ) -> None:
        page = guarded_page
        page.goto("/")
        dialog = page.locator("#api-key-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).not_to_contain_text("tab only")
        expect(dialog).to_contain_text("every tab")
        dialog.get_by_label("API key").fill(guarded_server[1])
        dialog.get_by_role("button", name="Continue").click()
        expect(dialog).to_be_hidden()
        account = page.locator("#account")
        expect(account).to_be_visible()
        expect(page.locator("#account-name")).to_have_text("admin")  # the first admin's user
        expect(account).to_contain_text("(admin)")
        screenshot(page, "signed-in-header")

        other = page.context.new_page()  # another tab of the same browser
        other.goto("/models")
        expect(other.locator("#account-name")).to_have_text("admin")
        expect(other.locator("#api-key-dialog")).to_be_hidden()

        page.get_by_role("button", name="Sign out").click()
        expect(dialog).to_be_visible()  # the reloaded page has no key any more
        assert not [c for c in page.context.cookies() if c["name"] == "mltrail_key"]
        expect(account).to_be_hidden()
        screenshot(page, "signed-out")
        other.reload()
        expect(other.locator("#api-key-dialog")).to_be_visible()
        other.close()
