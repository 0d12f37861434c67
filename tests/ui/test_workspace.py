"""The experiment workspace: one chart per metric across the runs, one line per run, and,
grouped by the `mltrail.group` tag (the default when a run has it), a mean line per group
with a min-max or ±1 std band; a scatter and parallel coordinates of params and metrics; live
updates; its choices in the URL."""

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.sdk.live_server import LiveServer
from tests.ui.conftest import make_experiment, make_run, screenshot


@pytest.fixture(scope="module")
def experiment(api: httpx.Client) -> dict[str, Any]:
    experiment = make_experiment(api, "workspace")
    for name, group, offset in [("a1", "adam", 0.0), ("a2", "adam", 2.0), ("s1", "sgd", 10.0)]:
        make_run(
            api,
            experiment["id"],
            name,
            params={"lr": "0.1" if group == "adam" else "0.01"},
            tags={"mltrail.group": group},
            metrics={
                "loss": [offset + step for step in range(5)],
                "acc": [offset / 10 + step / 10 for step in range(5)],
            },
            status="completed",
        )
    return experiment


def open_workspace(page: Page, experiment: dict[str, Any]) -> None:
    page.goto(f"/experiments/{experiment['id']}")
    page.get_by_role("button", name="Workspace").click()
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "true")


def test_grouped_by_the_group_tag_by_default(page: Page, experiment: dict[str, Any]) -> None:
    open_workspace(page, experiment)
    charts = page.locator(".workspace-chart")
    expect(charts).to_have_count(2)
    loss = page.locator(".workspace-chart[data-metric='loss']")
    expect(loss.locator(".legend-entry")).to_have_text(["adam", "sgd"])
    expect(loss.locator(".series")).to_have_count(2)
    expect(loss.locator(".series[data-series='adam'] .band")).to_have_count(1)
    # adam's runs log 0+step and 2+step: the mean at step 3 is 4, between 3 and 5.
    point = loss.locator(".series[data-series='adam'] circle[data-step='3']")
    expect(point).to_have_attribute("data-value", "4")
    expect(point.locator("title")).to_contain_text("min 3")
    expect(point.locator("title")).to_contain_text("max 5")
    screenshot(page, "workspace-grouped")


def test_hovering_a_legend_entry_brings_its_line_forward(
    page: Page, experiment: dict[str, Any]
) -> None:
    open_workspace(page, experiment)
    loss = page.locator(".workspace-chart[data-metric='loss']")
    loss.locator(".legend-entry[data-series='sgd']").hover()
    expect(loss.locator(".series.hovered")).to_have_attribute("data-series", "sgd")
    expect(loss.locator("[data-role=hover]")).to_have_text("sgd")
    adam = loss.locator(".series[data-series='adam']")
    expect(adam).to_have_css("opacity", "0.2")
    expect(loss.locator(".series[data-series='sgd']")).to_have_css("opacity", "1")
    page.locator("h1").hover()  # away: every line as before
    expect(loss.locator(".series.hovered")).to_have_count(0)
    expect(adam).to_have_css("opacity", "1")


def ungrouped_loss(page: Page, experiment: dict[str, Any]) -> Locator:
    """The open workspace without grouping, once drawn: its loss chart, a line per run."""
    open_workspace(page, experiment)
    page.get_by_label("Group by").select_option("")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "true")
    loss = page.locator(".workspace-chart[data-metric='loss']")
    expect(loss.locator(".series")).to_have_count(3)
    return loss


def test_no_grouping_draws_one_line_per_run(page: Page, experiment: dict[str, Any]) -> None:
    loss = ungrouped_loss(page, experiment)
    expect(loss.locator(".band")).to_have_count(0)
    expect(loss.locator(".series[data-series='s1'] circle[data-step='3']")).to_have_attribute(
        "data-value", "13"
    )


def test_a_new_filter_redraws_the_open_workspace(page: Page, experiment: dict[str, Any]) -> None:
    loss = ungrouped_loss(page, experiment)
    page.locator("#filter").fill("params.lr = '0.01'")
    page.locator("#filter").press("Enter")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "true")
    expect(loss.locator(".series")).to_have_count(1)
    expect(loss.locator(".series[data-series='s1']")).to_have_count(1)
    # Clearing the filter brings every run back.
    page.locator("#filter").fill("")
    page.locator("#filter").press("Enter")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "true")
    expect(loss.locator(".series")).to_have_count(3)


def test_a_link_without_grouping_opens_one_line_per_run(
    page: Page, experiment: dict[str, Any]
) -> None:
    """`ws_group=none` is an explicit "no grouping": it beats the mltrail.group default."""
    page.goto(f"/experiments/{experiment['id']}?ws_group=none")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "true")
    expect(page.get_by_label("Group by")).to_have_value("")
    loss = page.locator(".workspace-chart[data-metric='loss']")
    expect(loss.locator(".series")).to_have_count(3)
    expect(loss.locator(".band")).to_have_count(0)


def test_grouped_by_a_param(page: Page, experiment: dict[str, Any]) -> None:
    open_workspace(page, experiment)
    page.get_by_label("Group by").select_option("param:lr")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "true")
    loss = page.locator(".workspace-chart[data-metric='loss']")
    expect(loss.locator(".legend-entry")).to_have_text(["0.01", "0.1"])


@pytest.fixture(scope="module")
def sweep(api: httpx.Client) -> dict[str, Any]:
    """Four runs: three in group `g` with loss offsets 1, 1 and 4 (at every step a mean of
    step+2 and a population std of sqrt(2)), and one in `h` without `lr`."""
    experiment = make_experiment(api, "workspace-sweep")
    for name, params, group, offset in [
        ("r1", {"lr": "0.1", "opt": "adam", "layers": "2"}, "g", 1.0),
        ("r2", {"lr": "0.3", "opt": "sgd", "layers": "4"}, "g", 1.0),
        ("r3", {"lr": "0.2", "opt": "adam", "layers": "3"}, "g", 4.0),
        ("r4", {"opt": "sgd", "layers": "2"}, "h", 0.0),
    ]:
        make_run(
            api,
            experiment["id"],
            name,
            params=params,
            tags={"mltrail.group": group},
            metrics={"loss": [offset + step for step in range(5)]},
            status="completed",
        )
    return experiment


def ready(page: Page) -> None:
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "true")


class TestStdBand:
    def test_the_band_is_the_mean_plus_and_minus_one_std(
        self, page: Page, sweep: dict[str, Any]
    ) -> None:
        open_workspace(page, sweep)
        page.get_by_label("Band").select_option("std")
        ready(page)
        point = page.locator(
            ".workspace-chart[data-metric='loss'] .series[data-series='g'] circle[data-step='3']"
        )
        expect(point).to_have_attribute("data-value", "5")
        low = float(point.get_attribute("data-low") or "nan")
        high = float(point.get_attribute("data-high") or "nan")
        assert low == pytest.approx(5 - 2**0.5)
        assert high == pytest.approx(5 + 2**0.5)
        expect(point.locator("title")).to_contain_text("±1 std 3.5858 – 6.4142")
        # min-max again: the group's runs at step 3 hold 4, 4 and 7.
        page.get_by_label("Band").select_option("minmax")
        ready(page)
        expect(point).to_have_attribute("data-low", "4")
        expect(point).to_have_attribute("data-high", "7")
        screenshot(page, "workspace-std-band")


class TestScatter:
    def test_one_dot_per_run_with_both_values_in_x_order(
        self, page: Page, sweep: dict[str, Any]
    ) -> None:
        open_workspace(page, sweep)
        page.get_by_label("Scatter X").select_option("param:lr")
        page.get_by_label("Scatter Y").select_option("metric:loss")
        ready(page)
        scatter = page.locator(".workspace-scatter")
        dots = scatter.locator("circle.dot")
        expect(dots).to_have_count(3)
        expect(scatter.locator("[data-role=left-out]")).to_have_text(
            "1 run without both values left out"
        )
        by_name = {
            (dot.locator("title").text_content() or "").split(" ·")[0]: float(
                dot.get_attribute("cx") or "nan"
            )
            for dot in dots.all()
        }
        # lr: r1 0.1 < r3 0.2 < r2 0.3, left to right.
        assert by_name["r1"] < by_name["r3"] < by_name["r2"]
        # loss: r3 ends at 8, the others at 5: r3's dot is higher (a smaller y on screen).
        r3 = scatter.locator("circle.dot", has_text="r3")
        r1 = scatter.locator("circle.dot", has_text="r1")
        assert float(r3.get_attribute("cy") or "nan") < float(r1.get_attribute("cy") or "nan")
        screenshot(page, "workspace-scatter")


class TestParallelCoordinates:
    def test_an_axis_per_chosen_param_and_a_line_per_complete_run(
        self, page: Page, sweep: dict[str, Any]
    ) -> None:
        open_workspace(page, sweep)
        parallel = page.locator(".workspace-parallel")
        # Every param is chosen by default; take `layers` out.
        parallel.get_by_label("layers").uncheck()
        ready(page)
        axes = parallel.locator("g.axis")
        expect(axes).to_have_count(3)
        expect(parallel.locator("g.axis[data-axis='param:lr']")).to_have_count(1)
        expect(parallel.locator("g.axis[data-axis='param:opt']")).to_have_attribute(
            "data-categorical", "true"
        )
        expect(parallel.locator("g.axis[data-axis='metric:loss']")).to_have_count(1)
        # r4 has no lr.
        expect(parallel.locator("path.pc-line")).to_have_count(3)
        expect(parallel.locator("[data-role=left-out]")).to_contain_text(
            "1 run without every value left out"
        )
        # Categories evenly spaced: adam at the bottom, sgd at the top of the opt axis.
        expect(parallel.locator("g.axis[data-axis='param:opt'] text")).to_have_text(
            ["param opt", "adam", "sgd"]
        )
        screenshot(page, "workspace-parallel")


class TestLive:
    def test_a_new_run_appears_without_reload(self, page: Page, api: httpx.Client) -> None:
        experiment = make_experiment(api, "workspace-live")
        make_run(api, experiment["id"], "early", metrics={"loss": [3.0, 2.0, 1.0]})
        open_workspace(page, experiment)
        loss = page.locator(".workspace-chart[data-metric='loss']")
        expect(loss.locator(".series")).to_have_count(1)
        expect(page.locator("#live-status")).to_be_visible()
        make_run(api, experiment["id"], "late", metrics={"loss": [5.0, 4.0, 3.0, 2.0]})
        expect(loss.locator(".series[data-series='late'] circle.point")).to_have_count(4)
        expect(loss.locator(".series")).to_have_count(2)
        screenshot(page, "workspace-live")


class TestUrlState:
    def test_the_choices_survive_a_fresh_page(
        self, page: Page, sweep: dict[str, Any], browser: Browser, ui_server: LiveServer
    ) -> None:
        page.goto(f"/experiments/{sweep['id']}?filter=&size=25")
        page.get_by_role("button", name="Workspace").click()
        ready(page)
        page.get_by_label("Group by").select_option("param:opt")
        page.get_by_label("Band").select_option("std")
        page.get_by_label("Scatter X").select_option("param:layers")
        page.get_by_label("Scatter Y").select_option("param:lr")
        page.locator(".workspace-parallel").get_by_label("lr").uncheck()
        ready(page)
        url = page.url
        assert "size=25" in url, "the page's own keys stay"
        assert "ws_band=std" in url
        context = browser.new_context(base_url=ui_server.url)
        try:
            fresh = context.new_page()
            fresh.goto(url)
            ready(fresh)
            expect(fresh.locator("#workspace")).to_be_visible()
            expect(fresh.get_by_label("Group by")).to_have_value("param:opt")
            expect(fresh.get_by_label("Band")).to_have_value("std")
            expect(fresh.get_by_label("Scatter X")).to_have_value("param:layers")
            expect(fresh.get_by_label("Scatter Y")).to_have_value("param:lr")
            parallel = fresh.locator(".workspace-parallel")
            expect(parallel.get_by_label("lr")).not_to_be_checked()
            expect(parallel.get_by_label("opt")).to_be_checked()
            expect(parallel.locator("g.axis")).to_have_count(3)
            expect(
                fresh.locator(".workspace-chart[data-metric='loss'] .legend-entry")
            ).to_have_text(["adam", "sgd"])
            screenshot(fresh, "workspace-from-url")
        finally:
            context.close()
        # Closing the workspace takes its keys out of the URL, and only those.
        page.get_by_role("button", name="Workspace").click()
        expect(page).not_to_have_url(re.compile(r"[?&]ws_"))
        expect(page).to_have_url(re.compile(r"[?&]size=25"))


class TestManyRuns:
    def test_more_runs_than_one_history_request_takes(self, page: Page, api: httpx.Client) -> None:
        """110 runs: POST /metrics/history takes 100 a request, so the chart needs two; with
        1,650 points the chart has no circle per point but one hover area, which names the
        line nearest the pointer."""
        experiment = make_experiment(api, "workspace-many")
        for index in range(110):
            make_run(api, experiment["id"], f"many-{index:03d}", metrics={"loss": [index] * 15})
        open_workspace(page, experiment)
        loss = page.locator(".workspace-chart[data-metric='loss']")
        expect(loss.locator(".series")).to_have_count(110)
        expect(loss.locator("circle")).to_have_count(0)
        area = loss.locator("rect.hover-area")
        box = area.bounding_box()
        assert box is not None
        # The top of the plot is the largest value: the last run's.
        area.hover(position={"x": box["width"] / 2, "y": 1})
        expect(loss.locator("[data-role=hover]")).to_contain_text("many-109 · step")
        expect(loss.locator(".series.hovered")).to_have_attribute("data-series", "many-109")
        screenshot(page, "workspace-many-runs")
