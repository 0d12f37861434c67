"""A view shared by its link: the runs table's filter, sort, columns and selection, and the
charts' x axis, log scale and smoothing, carried by the address and restored in a browser that
remembers nothing (and over what a browser does remember); query params of other parts of the
page survive every change. And the runs table by keyboard."""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.sdk.live_server import LiveServer
from tests.ui.conftest import (
    UI_WAIT_MS,
    VIEWPORT,
    ConsoleErrors,
    make_experiment,
    make_run,
    make_sweep,
    screenshot,
)

FOREIGN = "ref=mail"  # a key no module of the page owns (a link's tracking tag, say)


@pytest.fixture
def sweep(api: httpx.Client) -> dict[str, Any]:
    return make_sweep(api, "share")


@pytest.fixture
def fresh_page(
    browser: Browser, ui_server: LiveServer, console_errors: ConsoleErrors
) -> Iterator[Callable[[], Any]]:
    """Opens tabs in new browser contexts (empty localStorage), as a colleague's browser."""
    contexts = []

    @contextmanager
    def open_tab() -> Iterator[Page]:
        context = browser.new_context(viewport=VIEWPORT, base_url=ui_server.url)
        context.set_default_timeout(UI_WAIT_MS)
        contexts.append(context)
        tab = context.new_page()
        console_errors.watch(tab)
        yield tab

    yield open_tab
    for context in contexts:
        context.close()
    assert not console_errors, "the page logged errors:\n" + "\n".join(console_errors)


def names(page: Page) -> list[str]:
    return page.locator("#runs tbody td.name").all_inner_texts()


def headers(page: Page) -> list[str]:
    return page.locator("#runs thead th[data-column]").evaluate_all(
        "cells => cells.map(cell => cell.dataset.column)"
    )


def checked(page: Page) -> list[str]:
    return page.locator("#runs tbody tr:has(input:checked) td.name").all_inner_texts()


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def open_table(page: Page, sweep: dict[str, Any], suffix: str = "") -> None:
    page.goto(f"/experiments/{sweep['experiment']['id']}{suffix}")
    expect(page.locator("#runs tbody tr")).to_have_count(5)


def set_columns(page: Page, *, on: list[str], off: list[str]) -> None:
    page.locator("#columns-toggle").click()
    for column in off:
        page.locator(f"#columns-panel input[data-column='{column}']").uncheck()
    for column in on:
        page.locator(f"#columns-panel input[data-column='{column}']").check()
    page.locator("#columns-toggle").click()


class TestSharedRunsTable:
    def test_a_link_restores_filter_sort_columns_and_selection(
        self, page: Page, sweep: dict[str, Any], fresh_page: Callable[[], Any]
    ) -> None:
        open_table(page, sweep, f"?{FOREIGN}")
        page.get_by_label("Filter runs").fill("params.optimizer = 'adam'")
        page.get_by_label("Filter runs").press("Enter")
        expect(page.locator("#runs tbody tr")).to_have_count(3)
        set_columns(page, on=["metric:loss:min"], off=["metric:accuracy:value"])
        lr = page.locator("#runs thead th[data-column='param:lr']")
        lr.click()
        lr.click()  # descending: params sort as strings, "1e-05" > "0.1" > "0.001"
        expect(lr).to_have_attribute("aria-sort", "descending")
        expect(page.locator("#runs tbody td.name").first).to_have_text("run-4")
        page.get_by_label("Select run-0").check()
        page.get_by_label("Select run-4").check()
        expect(page.locator("#selection-info")).to_have_text("2 selected")

        view = {
            "names": ["run-4", "run-0", "run-2"],
            "headers": [
                "name",
                "status",
                "started",
                "duration",
                "user",
                "metric:loss:value",
                "param:lr",
                "param:optimizer",
                "metric:loss:min",
            ],
            "checked": ["run-4", "run-0"],
        }
        assert names(page) == view["names"]
        assert headers(page) == view["headers"]
        link = page.url
        assert FOREIGN in link  # the foreign key outlived every change above
        assert "cols=m:loss,p:lr,p:optimizer,min:loss" in link  # compact and readable
        screenshot(page, "shareable-view-source")

        with fresh_page() as other:
            other.goto(link)
            expect(other.locator("#runs tbody tr")).to_have_count(3)
            assert names(other) == view["names"]
            assert headers(other) == view["headers"]
            assert checked(other) == view["checked"]
            expect(other.get_by_label("Filter runs")).to_have_value("params.optimizer = 'adam'")
            expect(other.locator("#runs thead th[data-column='param:lr']")).to_have_attribute(
                "aria-sort", "descending"
            )
            expect(other.locator("#selection-info")).to_have_text("2 selected")
            expect(other.get_by_role("button", name="Compare")).to_be_enabled()
            assert query(other)["ref"] == ["mail"]
            screenshot(other, "shareable-view-opened")

    def test_the_link_wins_over_remembered_columns_and_does_not_replace_them(
        self, sweep: dict[str, Any], fresh_page: Callable[[], Any]
    ) -> None:
        experiment_id = sweep["experiment"]["id"]
        with fresh_page() as tab:
            open_table(tab, sweep)
            set_columns(tab, on=[], off=["metric:loss:value", "param:optimizer"])
            remembered = ["metric:accuracy:value", "param:lr"]
            assert headers(tab)[5:] == remembered
            # Columns only this browser has are in its address too, so its links carry them.
            assert query(tab)["cols"] == ["m:accuracy,p:lr"]

            tab.goto(f"/experiments/{experiment_id}?cols=p:optimizer,max:accuracy")
            expect(tab.locator("#runs thead th[data-column='metric:accuracy:max']")).to_be_visible()
            assert headers(tab)[5:] == ["param:optimizer", "metric:accuracy:max"]

            tab.goto(f"/experiments/{experiment_id}")
            expect(tab.locator("#runs tbody tr")).to_have_count(5)
            assert headers(tab)[5:] == remembered

    def test_a_link_with_no_columns_shows_none(
        self, sweep: dict[str, Any], fresh_page: Callable[[], Any]
    ) -> None:
        with fresh_page() as tab:
            open_table(tab, sweep)
            set_columns(
                tab,
                on=[],
                off=["metric:accuracy:value", "metric:loss:value", "param:lr", "param:optimizer"],
            )
            assert query(tab)["cols"] == ["-"]
        with fresh_page() as other:
            other.goto(tab.url)
            expect(other.locator("#runs tbody tr")).to_have_count(5)
            assert headers(other)[5:] == []

    def test_copy_link_copies_the_views_address(self, page: Page, sweep: dict[str, Any]) -> None:
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        open_table(page, sweep, f"?{FOREIGN}")
        page.get_by_label("Select run-2").check()
        page.get_by_role("button", name="Copy link").click()
        expect(page.locator(".toast")).to_have_text("Copied a link to this view")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == page.url
        assert parse_qs(urlparse(copied).query)["sel"] == [sweep["runs"][2]["id"].replace("-", "")]


def chart_toolbar_state(page: Page) -> tuple[str, str, str]:
    toolbar = page.locator(".chart-toolbar")
    return (
        toolbar.locator("[data-setting=x] [aria-pressed=true]").inner_text(),
        toolbar.locator("[data-setting=log] [aria-pressed=true]").inner_text(),
        toolbar.locator("output").inner_text(),
    )


def change_chart_settings(page: Page) -> None:
    page.get_by_role("button", name="Relative").click()
    page.get_by_role("button", name="Log").click()
    slider = page.locator("input[name=smoothing]")
    slider.fill("0.6")
    slider.dispatch_event("change")
    expect(page.locator(".chart-toolbar output")).to_have_text("0.60")


class TestSharedChartSettings:
    def test_the_run_pages_link_carries_x_axis_log_scale_and_smoothing(
        self, page: Page, sweep: dict[str, Any], fresh_page: Callable[[], Any]
    ) -> None:
        run = sweep["runs"][1]
        page.goto(f"/runs/{run['id']}?{FOREIGN}")
        expect(page.locator(".chart[data-metric='loss'] canvas")).to_have_count(1)
        change_chart_settings(page)
        assert query(page) == {
            "ref": ["mail"],
            "x": ["relative"],
            "log": ["1"],
            "smooth": ["0.6"],
        }

        with fresh_page() as other:
            other.goto(page.url)
            chart = other.locator(".chart[data-metric='loss']")
            expect(chart.locator("canvas")).to_have_count(1)
            assert chart_toolbar_state(other) == ("Relative", "Log", "0.60")
            expect(chart.locator(".axis-title.x")).to_have_text("relative time")
            screenshot(other, "shareable-run-charts")

    def test_the_compare_link_carries_them_and_wins_over_remembered_ones(
        self, page: Page, sweep: dict[str, Any], fresh_page: Callable[[], Any]
    ) -> None:
        open_table(page, sweep)
        page.get_by_label("Select run-1").check()
        page.get_by_label("Select run-3").check()
        page.get_by_role("button", name="Compare").click()
        expect(page).to_have_url(re.compile(r"/compare\?runs="))
        expect(page.locator(".chart canvas")).to_have_count(2)
        change_chart_settings(page)
        assert query(page)["x"] == ["relative"]
        assert len(query(page)["runs"][0].split(",")) == 2

        with fresh_page() as other:
            # This browser remembers wall-clock time, linear and no smoothing.
            other.goto(f"/runs/{sweep['runs'][0]['id']}")
            other.get_by_role("button", name="Wall clock").click()
            expect(other.get_by_role("button", name="Wall clock")).to_have_attribute(
                "aria-pressed", "true"
            )
            other.goto(page.url)
            expect(other.locator(".chart canvas")).to_have_count(2)
            assert chart_toolbar_state(other) == ("Relative", "Log", "0.60")
            expect(other.locator("#title")).to_have_text("Compare 2 runs")
            # Its own settings come back where no link names any.
            other.goto(f"/runs/{sweep['runs'][0]['id']}")
            expect(other.locator(".chart canvas").first).to_be_visible()
            assert chart_toolbar_state(other) == ("Wall clock", "Linear", "0.00")


def cursor_name(page: Page) -> Any:
    return page.locator("#runs tbody tr.cursor td.name")


class TestKeyboard:
    def test_arrows_move_space_selects_and_enter_opens(
        self, page: Page, sweep: dict[str, Any]
    ) -> None:
        open_table(page, sweep)
        order = names(page)
        table = page.locator("#runs")
        expect(table).to_have_attribute("tabindex", "0")
        page.keyboard.press("ArrowDown")
        expect(cursor_name(page)).to_have_text(order[0])
        expect(table).to_be_focused()
        first_id = page.locator("#runs tbody tr.cursor").get_attribute("id")
        expect(table).to_have_attribute("aria-activedescendant", first_id or "")
        page.keyboard.press("j")
        expect(cursor_name(page)).to_have_text(order[1])
        page.keyboard.press("End")
        expect(cursor_name(page)).to_have_text(order[-1])
        page.keyboard.press("ArrowDown")  # stays on the last row
        expect(cursor_name(page)).to_have_text(order[-1])
        page.keyboard.press("Home")
        expect(cursor_name(page)).to_have_text(order[0])
        page.keyboard.press("ArrowDown")
        page.keyboard.press("k")
        expect(cursor_name(page)).to_have_text(order[0])

        compare = page.get_by_role("button", name="Compare")
        page.keyboard.press("Space")
        expect(page.locator("#selection-info")).to_have_text("1 selected")
        expect(compare).to_be_disabled()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Space")
        expect(page.locator("#selection-info")).to_have_text("2 selected")
        expect(compare).to_be_enabled()
        assert checked(page) == order[:2]
        expect(page.locator("#runs tbody tr.cursor")).to_have_attribute("aria-selected", "true")
        screenshot(page, "runs-table-keyboard")
        page.keyboard.press("Space")  # and again unselects
        expect(page.locator("#selection-info")).to_have_text("1 selected")
        expect(compare).to_be_disabled()
        assert len(query(page)["sel"][0].split(",")) == 1

        page.keyboard.press("ArrowDown")
        target = page.locator("#runs tbody tr.cursor")
        run_id = target.get_attribute("data-id")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(rf"/runs/{run_id}$"))
        expect(page.locator("#title")).to_have_text(order[2])

    def test_typing_in_the_filter_box_moves_nothing(
        self, page: Page, sweep: dict[str, Any]
    ) -> None:
        open_table(page, sweep)
        order = names(page)
        page.keyboard.press("ArrowDown")
        expect(cursor_name(page)).to_have_text(order[0])
        box = page.get_by_label("Filter runs")
        box.click()
        box.press_sequentially("jj k")
        box.press("ArrowDown")
        box.press("End")
        expect(box).to_have_value("jj k")
        expect(cursor_name(page)).to_have_text(order[0])
        expect(page.locator("#selection-info")).to_have_text("")

        # A click on a row puts the cursor there and the keys go on from it.
        page.locator("#runs tbody tr", has_text=order[3]).locator("[data-cell=status]").click()
        expect(cursor_name(page)).to_have_text(order[3])
        page.keyboard.press("ArrowUp")
        expect(cursor_name(page)).to_have_text(order[2])

    def test_the_cursor_scrolls_a_large_page_that_draws_only_rows_in_view(
        self, page: Page, api: httpx.Client
    ) -> None:
        experiment = make_experiment(api, "keys-large")
        for index in range(160):
            make_run(api, experiment["id"], f"k{index:03d}")
        page.goto(f"/experiments/{experiment['id']}?sort=name:asc&size=250")
        expect(page.locator("#runs tbody td.name").first).to_have_text("k000")
        expect(page.locator("#pager [data-role=label]")).to_have_text("Runs 1–160 of 160")
        # Fewer rows drawn than the page has: the rest are drawn when scrolled to.
        assert page.locator("#runs tbody tr[data-id]").count() < 160
        page.keyboard.press("End")
        last = page.locator("#runs tbody tr.cursor")
        expect(last.locator("td.name")).to_have_text("k159")
        expect(last).to_be_in_viewport()
        page.keyboard.press("ArrowUp")
        expect(cursor_name(page)).to_have_text("k158")
        page.keyboard.press("Home")
        expect(cursor_name(page)).to_have_text("k000")
        expect(page.locator("#runs tbody tr.cursor")).to_be_in_viewport()
        page.keyboard.press("Space")
        expect(page.locator("#selection-info")).to_have_text("1 selected")
        assert "sel" in query(page)
        # A selection too large for a link stays out of the address.
        page.get_by_label("Select this page").check()
        expect(page.locator("#selection-info")).to_have_text("160 selected")
        assert "sel" not in query(page)
        assert query(page)["size"] == ["250"]
