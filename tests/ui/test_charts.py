"""Charts: zoom re-fetches the visible steps from the downsampling endpoint, double click
resets, and the x axis, log scale and smoothing controls redraw them."""

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Locator, Page, Request, expect

from tests.ui.conftest import make_experiment, make_run, screenshot

STEPS = 20_000


@pytest.fixture(scope="module")
def long_run(api: httpx.Client) -> dict[str, Any]:
    """A run with a 20,000-point metric: more than a chart draws, so it comes downsampled."""
    experiment = make_experiment(api, "charts")
    values = [1 / (1 + step / 500) + (0.2 if step % 1000 == 0 else 0) for step in range(STEPS)]
    return make_run(api, experiment["id"], "long", metrics={"loss": values}, status="completed")


def is_downsample(request: Request) -> bool:
    return "/metrics/downsampled" in request.url


def drag_across(page: Page, chart: Locator, start: float, end: float) -> None:
    """Drag over the plot from `start` to `end` (fractions of its width)."""
    box = chart.locator(".u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (start + end) / 2, y, steps=4)
    page.mouse.move(box["x"] + box["width"] * end, y, steps=4)
    page.mouse.up()


def open_chart(page: Page, run: dict[str, Any]) -> Locator:
    page.goto(f"/runs/{run['id']}")
    chart = page.locator(".chart[data-metric='loss']")
    expect(chart.locator(".sampled")).to_have_text("20,000 pts · min/max buckets")
    return chart


class TestZoom:
    def test_zoom_fetches_the_visible_range_and_double_click_resets(
        self, page: Page, long_run: dict[str, Any]
    ) -> None:
        chart = open_chart(page, long_run)
        with page.expect_request(is_downsample) as zoomed:
            drag_across(page, chart, 0.25, 0.5)
        query = parse_qs(urlparse(zoomed.value.url).query)
        start, end = int(query["start_step"][0]), int(query["end_step"][0])
        assert 2000 < start < end < 18_000
        assert end - start < STEPS / 2
        reset = chart.get_by_role("button", name="Reset zoom")
        expect(reset).to_be_visible()
        screenshot(page, "run-chart-zoomed")
        chart.locator(".u-over").dblclick()
        expect(reset).to_be_hidden()

    def test_reset_button_goes_back_to_the_whole_series(
        self, page: Page, long_run: dict[str, Any]
    ) -> None:
        chart = open_chart(page, long_run)
        with page.expect_request(is_downsample):
            drag_across(page, chart, 0.6, 0.9)
        reset = chart.get_by_role("button", name="Reset zoom")
        reset.click()
        expect(reset).to_be_hidden()


class TestControls:
    def hover_readout(self, page: Page, chart: Locator) -> str:
        box = chart.locator(".u-over").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        readout = chart.locator(".readout")
        expect(readout).not_to_be_empty()
        return readout.inner_text()

    def test_x_axis_by_step_relative_time_or_wall_time(
        self, page: Page, long_run: dict[str, Any]
    ) -> None:
        chart = open_chart(page, long_run)
        assert re.match(r"step [\d,]+ · ", self.hover_readout(page, chart))
        page.get_by_role("button", name="Relative").click()
        expect(page.get_by_role("button", name="Relative")).to_have_attribute(
            "aria-pressed", "true"
        )
        assert re.match(r"[\d.]+ (ms|s) · |\d+m \d+s · ", self.hover_readout(page, chart))
        page.get_by_role("button", name="Wall clock").click()
        assert re.search(r"\d{1,2}:\d{2}", self.hover_readout(page, chart))
        page.get_by_role("button", name="Step").click()

    def test_log_scale_and_smoothing_are_remembered(
        self, page: Page, long_run: dict[str, Any]
    ) -> None:
        chart = open_chart(page, long_run)
        page.get_by_role("button", name="Log").click()
        slider = page.locator("input[name=smoothing]")
        slider.fill("0.9")
        slider.dispatch_event("change")
        expect(page.locator(".chart-toolbar output")).to_have_text("0.90")
        expect(chart.locator("canvas")).to_have_count(1)
        screenshot(page, "run-chart-log-smoothed")
        page.reload()
        expect(page.get_by_role("button", name="Log")).to_have_attribute("aria-pressed", "true")
        expect(page.locator(".chart-toolbar output")).to_have_text("0.90")
        page.get_by_role("button", name="Linear").click()
        slider.fill("0")
        slider.dispatch_event("change")
