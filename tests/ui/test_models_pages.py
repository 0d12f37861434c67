"""The model registry in the browser: the Models page (list, search, the server's message for
a filter that does not parse), a model's page (versions with their source runs, aliases,
tags), the run page's registered versions, and names made of markup shown as text.

Data is seeded over real HTTP: runs and models through /api/v1, a logged model through the
MLflow wire (v1 does not create logged models)."""

import re
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.sdk.live_server import LiveServer
from tests.ui.conftest import ConsoleErrors, make_experiment, make_run, screenshot

# MLflow's names cannot hold '/' (so no closing tag); descriptions and tags can.
HOSTILE = "<img src=x onerror=alert(1)> & <b>bold model"
MARKUP = "<script>alert(2)</script><img src=x onerror=alert(3)>"
BAD_FILTER = "name LIKE"
PER_PAGE = 50  # models.js


def _ok(response: httpx.Response) -> Any:
    assert response.is_success, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def make_model(api: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    return _ok(api.post("/models", json={"name": name, **fields}))  # type: ignore[no-any-return]


def register(api: httpx.Client, name: str, source: str, **fields: Any) -> dict[str, Any]:
    body = {"source": source, **fields}
    return _ok(api.post(f"/models/{quote(name, safe='')}/versions", json=body))  # type: ignore[no-any-return]


def logged_model(server: LiveServer, experiment_id: str, run_id: str) -> str:
    """A logged model of MLflow 3 from `run_id`, made as the mlflow client makes one."""
    created = _ok(
        httpx.post(
            f"{server.url}/api/2.0/mlflow/logged-models",
            json={"experiment_id": experiment_id, "name": "model", "source_run_id": run_id},
        )
    )
    return created["model"]["info"]["model_id"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def registry(api: httpx.Client, ui_server: LiveServer) -> dict[str, Any]:
    """Two runs; `fraud-…` with v1 from run 1's files (in Staging) and v2 from run 2's logged
    model, @champion on v2; `churn-…` with one version of run 1; a model named with markup."""
    suffix = time.monotonic_ns() % 10**9
    experiment = make_experiment(api, "registry-ui")
    runs = [make_run(api, experiment["id"], f"train-{i}", status="completed") for i in (1, 2)]
    fraud = f"fraud-detector-{suffix}"
    churn = f"churn-model-{suffix}"
    hostile = f"{HOSTILE} {suffix}"
    make_model(api, fraud, description="Flags card payments", tags={"team": "risk"})
    register(api, fraud, f"runs:/{runs[0]['id']}/model", description="Gradient boosting baseline")
    model_id = logged_model(ui_server, experiment["id"], runs[1]["id"])
    register(api, fraud, f"models:/{model_id}")
    _ok(api.put(f"/models/{fraud}/aliases/champion", json={"version": 2}))
    _ok(api.patch(f"/models/{fraud}/versions/1", json={"stage": "Staging"}))
    make_model(api, churn)
    register(api, churn, f"runs:/{runs[0]['id']}/model")
    make_model(api, hostile, description=MARKUP, tags={"note": MARKUP})
    register(api, hostile, f"runs:/{runs[0]['id']}/model")
    _ok(api.put(f"/models/{quote(hostile, safe='')}/aliases/prod", json={"version": 1}))
    return {
        "runs": runs,
        "fraud": fraud,
        "churn": churn,
        "hostile": hostile,
        "logged_model_id": model_id,
    }


class TestModelsPage:
    def test_lists_a_model_with_its_latest_version_and_alias(
        self, page: Page, registry: dict[str, Any]
    ) -> None:
        page.goto("/models")
        expect(page).to_have_title("Models · mltrail")
        expect(page.locator(".topnav a[aria-current=page]")).to_have_text("Models")
        row = page.locator(f"#models tbody tr[data-name='{registry['fraud']}']")
        expect(row.locator("td.name a")).to_have_text(registry["fraud"])
        expect(row.locator("td.latest")).to_have_text("v2")
        expect(row.locator(".alias")).to_have_text("@champion→ v2")
        expect(row).to_contain_text("Flags card payments")
        screenshot(page, "models")
        row.locator("td.name a").click()
        expect(page.locator("#title")).to_have_text(registry["fraud"])

    def test_the_filter_narrows_the_list(self, page: Page, registry: dict[str, Any]) -> None:
        page.goto("/models")
        expect(page.locator(f"#models tr[data-name='{registry['fraud']}']")).to_be_visible()
        expect(page.locator(f"#models tr[data-name='{registry['churn']}']")).to_be_visible()
        page.locator("#filter").fill("name LIKE '%churn%'")
        page.locator("#filter-form button").click()
        expect(page.locator("#models tbody tr")).to_have_count(1)
        expect(page.locator("#models tbody td.name")).to_have_text(registry["churn"])
        expect(page.locator("#summary")).to_have_text("1 matching model")

    def test_a_bad_filter_shows_the_servers_message(
        self,
        page: Page,
        api: httpx.Client,
        registry: dict[str, Any],
        console_errors: ConsoleErrors,
    ) -> None:
        answer = api.get("/models", params={"filter": BAD_FILTER})
        assert answer.status_code == 422
        message = answer.json()["detail"].removeprefix("filter: ")
        page.goto("/models")
        expect(page.locator("#models tbody tr").first).to_be_visible()
        page.locator("#filter").fill(BAD_FILTER)
        page.locator("#filter").press("Enter")
        error = page.locator("#filter-error")
        expect(error).to_be_visible()
        expect(error.locator("[data-role=message]")).to_have_text(message)
        expect(page.locator("#filter")).to_have_class("invalid")
        expect(page.locator("#models tbody tr")).to_have_count(0)
        screenshot(page, "models-bad-filter")
        console_errors.forget("status of 422")


class TestModelPage:
    def test_shows_versions_with_their_runs_aliases_and_logged_model(
        self, page: Page, registry: dict[str, Any]
    ) -> None:
        page.goto(f"/models/{registry['fraud']}")
        expect(page.locator("#title")).to_have_text(registry["fraud"])
        expect(page.locator("#description")).to_have_text("Flags card payments")
        expect(page.locator("#tags tr[data-key=team] td").last).to_have_text("risk")
        expect(page.locator("#aliases tbody tr td")).to_have_text(["@champion", "v2"])
        versions = page.locator("#versions tbody tr")
        expect(versions).to_have_count(2)
        newest, first = versions.nth(0), versions.nth(1)
        expect(newest.locator("td.name")).to_have_text("v2")
        expect(newest.locator(".alias")).to_have_text("@champion")
        expect(newest.locator(".badge")).to_have_text("ready")
        expect(newest.locator("td.logged-model")).to_have_text(registry["logged_model_id"])
        expect(first.locator(".alias")).to_have_count(0)
        expect(first.locator("td.desc")).to_have_text("Gradient boosting baseline")
        expect(first.locator(".stage")).to_have_text("Staging")
        expect(newest.locator(".stage")).to_have_count(0)
        run_link = first.locator("td.run a")
        expect(run_link).to_have_text(registry["runs"][0]["id"][:8])
        screenshot(page, "model")
        run_link.click()
        expect(page.locator("#title")).to_have_text("train-1")

    def test_an_unknown_model_says_so(self, page: Page, console_errors: ConsoleErrors) -> None:
        page.goto("/models/no-such-model")
        expect(page.locator("#title")).to_have_text("Model not found")
        expect(page.locator("#versions")).to_be_hidden()
        console_errors.forget("status of 404")

    def test_a_name_no_model_can_have_is_a_404_page(
        self, page: Page, console_errors: ConsoleErrors
    ) -> None:
        response = page.goto("/models/a:b")
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("No such model")
        expect(page.get_by_role("link", name="Back to models")).to_have_attribute("href", "/models")
        console_errors.forget("status of 404")


class TestRunPage:
    def test_lists_the_versions_registered_from_the_run(
        self, page: Page, registry: dict[str, Any]
    ) -> None:
        page.goto(f"/runs/{registry['runs'][0]['id']}")
        rows = page.locator("#registered-versions tbody tr")
        expect(rows).to_have_count(3)
        fraud = page.locator(f"#registered-versions tr[data-model='{registry['fraud']}']")
        expect(fraud.locator("td.name")).to_have_text(f"{registry['fraud']} v1")
        expect(fraud.locator(".stage")).to_have_text("Staging")
        screenshot(page, "run-registered-versions")
        fraud.get_by_role("link", name=registry["fraud"]).click()
        expect(page).to_have_url(re.compile(f"/models/{re.escape(registry['fraud'])}$"))
        expect(page.locator("#versions tbody tr")).to_have_count(2)

    def test_a_run_with_a_logged_model_version_shows_its_alias(
        self, page: Page, registry: dict[str, Any]
    ) -> None:
        page.goto(f"/runs/{registry['runs'][1]['id']}")
        row = page.locator("#registered-versions tbody tr")
        expect(row).to_have_count(1)
        expect(row.locator(".alias")).to_have_text("@champion")

    def test_shows_the_logged_models_of_the_run(self, page: Page, registry: dict[str, Any]) -> None:
        page.goto(f"/runs/{registry['runs'][1]['id']}")
        model_id = registry["logged_model_id"]
        row = page.locator(f"#logged-models tr[data-logged-model='{model_id}']")
        expect(row.locator("td.name > span").first).to_have_text("model")
        expect(row.locator("td.name")).to_contain_text(model_id)
        expect(row).to_contain_text("PENDING")
        expect(page.locator("#logged-models-count")).to_have_text("1")
        # Registered as v2 of the fraud model: the link leads to the model's page.
        registered = row.locator("[data-role=registered-as] a")
        expect(registered).to_have_text(f"{registry['fraud']} v2")
        registered.click()
        expect(page.locator("#title")).to_have_text(registry["fraud"])
        page.goto(f"/runs/{registry['runs'][0]['id']}")
        expect(page.locator("#logged-models tbody")).to_have_text(re.compile("^None\\."))


class TestNamesAreText:
    """A name, description, tag or alias made of markup is shown as the text it is."""

    def test_markup_in_a_name_renders_as_text_everywhere(
        self, page: Page, registry: dict[str, Any]
    ) -> None:
        dialogs: list[str] = []

        def record(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", record)
        hostile = registry["hostile"]
        page.goto("/models")
        link = page.locator("#models td.name a", has_text="onerror")
        expect(link).to_have_text(hostile)
        expect(page.locator("#models img, #models b")).to_have_count(0)
        link.click()
        expect(page.locator("#title")).to_have_text(hostile)
        expect(page.locator("#description")).to_have_text(MARKUP)
        expect(page.locator("#tags tbody td")).to_have_text(["note", MARKUP])
        expect(page.locator("#versions tbody tr")).to_have_count(1)
        expect(page.locator("main img, main script")).to_have_count(0)
        expect(page.locator("main b", has_text="bold")).to_have_count(0)
        page.goto(f"/runs/{registry['runs'][0]['id']}")
        expect(page.locator("#registered-versions a", has_text="onerror")).to_have_text(hostile)
        expect(page.locator("#registered-versions img")).to_have_count(0)
        assert dialogs == []


class TestPaging:
    def test_pages_through_the_models_a_filter_keeps(
        self, page: Page, api: httpx.Client, registry: dict[str, Any]
    ) -> None:
        # Named to sort after every other model here, so the other tests' models stay on page 1.
        prefix = f"zz-bulk-{registry['fraud'].rsplit('-', 1)[1]}"
        for index in range(PER_PAGE + 1):
            make_model(api, f"{prefix}-{index:03d}")
        text = f"name LIKE '{prefix}-%'"
        page.goto(f"/models?filter={quote(text)}")
        rows = page.locator("#models tbody tr")
        expect(rows).to_have_count(PER_PAGE)
        expect(page.locator("#summary")).to_have_text(f"{PER_PAGE + 1} matching models")
        pager = page.locator("#pager")
        expect(pager.locator("[data-role=label]")).to_have_text("Page 1 of 2")
        pager.get_by_role("button", name="Next →").click()
        expect(rows).to_have_count(1)
        expect(rows.locator("td.name")).to_have_text(f"{prefix}-{PER_PAGE:03d}")
        expect(pager.get_by_role("button", name="Next →")).to_be_disabled()
        page.reload()  # the address keeps the filter and the page
        expect(page.locator("#filter")).to_have_value(text)
        expect(rows).to_have_count(1)
