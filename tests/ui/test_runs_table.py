"""An experiment's runs table: filter, sort, columns, pages, compare and delete, by clicking."""

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import ConsoleErrors, make_experiment, make_run, make_sweep, screenshot


@pytest.fixture
def sweep(api: httpx.Client) -> dict[str, Any]:
    return make_sweep(api, "sweep")


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


def body_names(page: Page) -> list[str]:
    return page.locator("#runs tbody td.name a").all_inner_texts()


class TestPinnedRuns:
    def test_a_pinned_run_stays_on_top_across_pages_sorts_and_visits(
        self, page: Page, api: httpx.Client
    ) -> None:
        experiment = make_experiment(api, "pins")
        for index in range(30):
            make_run(api, experiment["id"], f"r{index:02d}", metrics={"m": [index]})
        page.goto(f"/experiments/{experiment['id']}?size=25")  # newest first: r29 ... r05
        expect(page.locator("#runs tbody tr")).to_have_count(25)
        page.get_by_role("button", name="Pin r10", exact=True).click()
        expect(page.locator("#runs tbody td.name a").first).to_have_text("r10")
        expect(page.locator("#runs tbody tr").first).to_have_class(re.compile(r"\bpinned\b"))
        expect(page.get_by_role("button", name="Unpin r10", exact=True)).to_have_attribute(
            "aria-pressed", "true"
        )
        assert body_names(page).count("r10") == 1  # moved to the top, not drawn twice
        screenshot(page, "runs-table-pinned")

        page.get_by_role("button", name="Next →").click()  # r04 ... r00, and the pinned r10
        expect(page.locator("#runs tbody td.name a")).to_have_text(
            ["r10", "r04", "r03", "r02", "r01", "r00"]
        )
        expect(page.locator("#pager [data-role=label]")).to_have_text("Runs 26–30 of 30")

        page.locator("#runs thead th[data-column='metric:m:value']").click()  # ascending
        expect(page.locator("#runs tbody td.name a").nth(1)).to_have_text("r00")
        expect(page.locator("#runs tbody td.name a").first).to_have_text("r10")

        page.reload()  # kept for this experiment in the browser
        expect(page.locator("#runs tbody td.name a").nth(1)).to_have_text("r00")
        expect(page.locator("#runs tbody td.name a").first).to_have_text("r10")
        page.get_by_role("button", name="Unpin r10", exact=True).click()
        expect(page.locator("#runs tbody td.name a").first).to_have_text("r00")
        expect(page.locator("#runs tbody tr.pinned")).to_have_count(0)
        page.reload()
        expect(page.locator("#runs tbody td.name a").first).to_have_text("r00")
        assert "r10" in body_names(page)  # back in its place, at step 10 of the sort
        assert body_names(page).index("r10") == 10

    def test_pins_are_per_experiment_and_forget_deleted_runs(
        self, page: Page, sweep: dict[str, Any], api: httpx.Client
    ) -> None:
        open_table(page, sweep)
        page.get_by_role("button", name="Pin run-1", exact=True).click()
        expect(page.locator("#runs tbody tr.pinned")).to_have_count(1)
        other = make_experiment(api, "other")
        make_run(api, other["id"], "elsewhere")
        page.goto(f"/experiments/{other['id']}")
        expect(page.locator("#runs tbody tr")).to_have_count(1)
        expect(page.locator("#runs tbody tr.pinned")).to_have_count(0)

        assert api.delete(f"/runs/{sweep['runs'][1]['id']}").is_success
        page.goto(f"/experiments/{sweep['experiment']['id']}")
        expect(page.locator("#runs tbody tr")).to_have_count(4)
        expect(page.locator("#runs tbody tr.pinned")).to_have_count(0)
        stored = page.evaluate(
            f"localStorage.getItem('exptrack.pinned.{sweep['experiment']['id']}')"
        )
        assert stored is None


class TestColumnPresets:
    def test_a_named_set_of_columns_is_saved_and_switched_back_to(
        self, page: Page, sweep: dict[str, Any]
    ) -> None:
        open_table(page, sweep)
        headers = page.locator("#runs thead th[data-column]")
        switch = page.get_by_label("Column preset")
        expect(switch).to_be_hidden()  # nothing saved yet
        page.get_by_role("button", name="Columns").click()
        panel = page.locator("#columns-panel")
        panel.locator("input[data-column='param:lr']").uncheck()
        panel.locator("input[data-column='param:optimizer']").uncheck()
        panel.get_by_label("Preset name").fill("metrics only")
        panel.get_by_role("button", name="Save columns").click()
        expect(panel.get_by_role("button", name="metrics only", exact=True)).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(switch).to_be_visible()
        expect(switch).to_have_value("metrics only")

        panel.locator("input[data-column='metric:loss:min']").check()
        panel.locator("input[data-column='param:lr']").check()
        panel.get_by_label("Preset name").fill("with lr")
        panel.get_by_role("button", name="Save columns").click()
        expect(headers).to_have_count(5 + 4)  # 5 fixed; accuracy, loss, loss min, lr
        screenshot(page, "runs-table-column-presets")

        switch.select_option("metrics only")
        expect(page.locator("#runs thead th[data-column='param:lr']")).to_have_count(0)
        expect(page.locator("#runs thead th[data-column='metric:loss:min']")).to_have_count(0)
        expect(headers).to_have_count(5 + 2)

        page.reload()  # kept for this experiment
        expect(page.locator("#runs tbody tr")).to_have_count(5)
        expect(switch).to_have_value("metrics only")
        expect(headers).to_have_count(5 + 2)
        switch.select_option("with lr")
        expect(page.locator("#runs thead th[data-column='param:lr']")).to_have_count(1)
        expect(page.locator("#runs thead th[data-column='metric:loss:min']")).to_have_count(1)

        page.get_by_role("button", name="Columns").click()
        panel.get_by_role("button", name="Delete preset with lr").click()
        expect(panel.get_by_role("button", name="with lr", exact=True)).to_have_count(0)
        expect(switch.locator("option")).to_have_text(["Custom (unsaved)", "metrics only"])
