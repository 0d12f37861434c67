"""The experiments page: create, rename and delete by clicking."""

import httpx
from playwright.sync_api import Page, expect

from tests.ui.conftest import ConsoleErrors, make_experiment, screenshot


class TestCreateExperiment:
    def test_create_from_the_form(self, page: Page, api: httpx.Client) -> None:
        page.goto("/")
        page.get_by_role("button", name="New experiment").click()
        form = page.locator("#create-form")
        form.get_by_label("Name").fill("Speech-Baseline")
        form.get_by_label("Owner").fill("grace")
        form.get_by_label("Description").fill("Conformer on LibriSpeech")
        screenshot(page, "experiments-create-form")
        form.get_by_role("button", name="Create").click()
        row = page.locator("#experiments tbody tr", has_text="speech-baseline")
        expect(row).to_be_visible()
        expect(row).to_contain_text("Conformer on LibriSpeech")
        expect(form).to_be_hidden()
        found = api.get("/experiments", params={"name": "speech-baseline"}).json()["items"]
        assert [item["owner"] for item in found] == ["grace"]

    def test_a_duplicate_name_shows_the_servers_reason(
        self, page: Page, api: httpx.Client, console_errors: ConsoleErrors
    ) -> None:
        taken = make_experiment(api, "taken")
        page.goto("/")
        page.get_by_role("button", name="New experiment").click()
        form = page.locator("#create-form")
        form.get_by_label("Name").fill(taken["name"])
        form.get_by_label("Owner").fill("grace")
        form.get_by_role("button", name="Create").click()
        expect(form.locator("[data-role=error]")).to_contain_text("already")
        console_errors.forget("status of 409")


class TestRenameExperiment:
    def test_rename_inline(self, page: Page, api: httpx.Client) -> None:
        experiment = make_experiment(api, "old-name")
        page.goto("/")
        row = page.locator(f"#experiments tr[data-id='{experiment['id']}']")
        row.hover()
        row.get_by_role("button", name="Rename").click()
        field = row.get_by_label("New name")
        field.fill("new-name-for-rename-test")
        row.get_by_role("button", name="Save").click()
        expect(row.locator("td.name a")).to_have_text("new-name-for-rename-test")
        stored = api.get(f"/experiments/{experiment['id']}").json()
        assert stored["name"] == "new-name-for-rename-test"


class TestDeleteExperiment:
    def test_delete_after_confirming(self, page: Page, api: httpx.Client) -> None:
        experiment = make_experiment(api, "doomed")
        page.goto("/")
        row = page.locator(f"#experiments tr[data-id='{experiment['id']}']")
        row.hover()
        row.get_by_role("button", name="Delete").click()
        dialog = page.locator("dialog[open]")
        expect(dialog).to_contain_text(f"Delete {experiment['name']}?")
        screenshot(page, "experiments-delete-confirm")
        dialog.get_by_role("button", name="Delete").click()
        expect(row).to_have_count(0)
        assert api.get(f"/experiments/{experiment['id']}").status_code == 404

    def test_cancel_keeps_it(self, page: Page, api: httpx.Client) -> None:
        experiment = make_experiment(api, "kept")
        page.goto("/")
        row = page.locator(f"#experiments tr[data-id='{experiment['id']}']")
        row.hover()
        row.get_by_role("button", name="Delete").click()
        page.locator("dialog[open]").get_by_role("button", name="Cancel").click()
        expect(page.locator("dialog[open]")).to_have_count(0)
        expect(row).to_be_visible()
        assert api.get(f"/experiments/{experiment['id']}").status_code == 200
