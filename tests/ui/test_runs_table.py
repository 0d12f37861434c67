"""An experiment's runs table: filter, sort, columns, pages, compare and delete, by clicking."""

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import ConsoleErrors, make_experiment, make_run, screenshot


@pytest.fixture
def sweep(api: httpx.Client) -> dict[str, Any]:
    """Five runs: lr 0.1 ... 0.00001; accuracy rises as lr falls; `adam` on even ones."""
    experiment = make_experiment(api, "sweep")
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


def names(page: Page) -> list[str]:
    return page.locator("#runs tbody td.name").all_inner_texts()


def open_table(page: Page, sweep: dict[str, Any]) -> None:
    page.goto(f"/experiments/{sweep['experiment']['id']}")
    expect(page.locator("#runs tbody tr")).to_have_count(5)


class TestFilter:
    def test_a_filter_narrows_the_runs(self, page: Page, sweep: dict[str, Any]) -> None:
        open_table(page, sweep)
        page.get_by_label("Filter runs").fill(
            "metrics.accuracy > 0.68 AND params.optimizer = 'adam'"
        )
        page.get_by_label("Filter runs").press("Enter")
        expect(page.locator("#runs tbody tr")).to_have_count(2)
        assert sorted(names(page)) == ["run-2", "run-4"]
        assert "filter=" in page.url  # the filter can be shared by its address

    def test_a_malformed_filter_shows_the_parsers_error_inline(
        self, page: Page, sweep: dict[str, Any], console_errors: ConsoleErrors
    ) -> None:
        open_table(page, sweep)
        page.get_by_label("Filter runs").fill("metrics.accuracy >> 0.7")
        page.get_by_role("button", name="Apply").click()
        error = page.locator("#filter-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("position 18")
        expect(error.locator(".caret")).to_have_count(1)
        expect(page.locator("#runs tbody tr")).to_have_count(5)  # the table stays as it was
        screenshot(page, "runs-table-filter-error")
        console_errors.forget("status of 422")
        page.get_by_label("Filter runs").fill("")
        page.get_by_role("button", name="Apply").click()
        expect(error).to_be_hidden()


class TestSort:
    def test_clicking_a_metric_header_sorts_on_the_server(
        self, page: Page, sweep: dict[str, Any]
    ) -> None:
        open_table(page, sweep)
        header = page.locator("#runs thead th[data-column='metric:accuracy:value']")
        with page.expect_request(lambda r: "/runs/search" in r.url) as request:
            header.click()
        assert request.value.post_data_json["order_by"] == ["metrics.accuracy ASC"]
        expect(header).to_have_attribute("aria-sort", "ascending")
        expect(page.locator("#runs tbody td.name").first).to_have_text("run-0")
        header.click()
        expect(header).to_have_attribute("aria-sort", "descending")
        expect(page.locator("#runs tbody td.name").first).to_have_text("run-4")
        assert names(page) == ["run-4", "run-3", "run-2", "run-1", "run-0"]

    def test_clicking_a_param_header_sorts_by_it(self, page: Page, sweep: dict[str, Any]) -> None:
        open_table(page, sweep)
        page.locator("#runs thead th[data-column='param:lr']").click()
        # Params are strings, ordered as such: "0.0001" < ... < "0.1" < "1e-05".
        expect(page.locator("#runs tbody td.name").first).to_have_text("run-3")
        assert names(page)[-1] == "run-4"


class TestColumns:
    def test_min_and_max_columns_can_be_added(self, page: Page, sweep: dict[str, Any]) -> None:
        open_table(page, sweep)
        page.get_by_role("button", name="Columns").click()
        page.locator("#columns-panel input[data-column='metric:loss:min']").check()
        header = page.locator("#runs thead th[data-column='metric:loss:min']")
        expect(header).to_contain_text("min")
        row = page.locator("#runs tbody tr", has_text="run-4")
        expect(row.locator("td[data-cell='metric:loss:min']")).to_have_text("0.3")
        screenshot(page, "runs-table-columns")
        header.click()  # min and max sort the loaded page
        expect(header).to_have_attribute("aria-sort", "ascending")
        expect(page.locator("#runs tbody td.name").first).to_have_text("run-4")
        assert names(page) == ["run-4", "run-3", "run-2", "run-1", "run-0"]


class TestPagination:
    def test_pages_follow_the_search_tokens(self, page: Page, api: httpx.Client) -> None:
        experiment = make_experiment(api, "many-runs")
        for index in range(30):
            make_run(api, experiment["id"], f"r{index:02d}", metrics={"m": [index]})
        page.goto(f"/experiments/{experiment['id']}")
        page.locator("#pager select").select_option("25")
        expect(page.locator("#runs tbody tr")).to_have_count(25)
        page.get_by_role("button", name="Next →").click()
        expect(page.locator("#runs tbody tr")).to_have_count(5)
        expect(page.locator("#pager [data-role=label]")).to_have_text("Runs 26–30 of 30")
        page.get_by_role("button", name="← Previous").click()
        expect(page.locator("#runs tbody tr")).to_have_count(25)


class TestSelection:
    def test_compare_two_selected_runs(self, page: Page, sweep: dict[str, Any]) -> None:
        open_table(page, sweep)
        compare = page.get_by_role("button", name="Compare")
        expect(compare).to_be_disabled()
        page.get_by_label("Select run-1").check()
        page.get_by_label("Select run-3").check()
        expect(page.locator("#selection-info")).to_have_text("2 selected")
        compare.click()
        expect(page).to_have_url(re.compile(r"/compare\?runs="))
        expect(page.locator("#title")).to_have_text("Compare 2 runs")
        expect(page.locator("#legend a")).to_have_count(2)
        expect(page.locator(".chart canvas")).to_have_count(2)

    def test_delete_selected_runs(
        self, page: Page, sweep: dict[str, Any], api: httpx.Client
    ) -> None:
        open_table(page, sweep)
        page.get_by_label("Select run-0").check()
        page.get_by_label("Select run-2").check()
        page.get_by_role("button", name="Delete").click()
        page.locator("dialog[open]").get_by_role("button", name="Delete").click()
        expect(page.locator("#runs tbody tr")).to_have_count(3)
        assert sorted(names(page)) == ["run-1", "run-3", "run-4"]
        deleted = sweep["runs"][0]["id"]
        assert api.get(f"/runs/{deleted}").status_code == 404


class TestLargePages:
    def test_a_large_page_draws_the_rows_in_view_and_the_rest_on_scroll(
        self, page: Page, api: httpx.Client
    ) -> None:
        experiment = make_experiment(api, "large")
        for index in range(200):
            make_run(api, experiment["id"], f"r{index:03d}", params={"i": str(index)})
        page.goto(f"/experiments/{experiment['id']}?size=250")  # newest first
        expect(page.locator("#pager [data-role=label]")).to_have_text("Runs 1–200 of 200")
        drawn = page.locator("#runs tbody tr[data-id]").count()
        assert 20 < drawn < 200  # only what is in view, and a margin
        expect(page.locator("#runs tbody td.name").first).to_have_text("r199")
        page.locator("#runs-scroller").evaluate("element => element.scrollTo(0, 1e6)")
        expect(page.locator("#runs tbody tr", has_text="r000")).to_be_visible()
        page.locator("#select-page").check()
        expect(page.locator("#selection-info")).to_have_text("200 selected")
