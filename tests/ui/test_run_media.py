"""The run page's Media section, for what the SDK's `log_image`, `log_table` and
`log_histogram` stored: an image per key with a step slider and a strip of steps, a table a
page at a time, a histogram as a heat map over steps. The media are logged by the real SDK
against the live server; what is checked is what the page shows."""

from pathlib import Path
from typing import Any

import httpx
import numpy
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

import mltrail
from tests.sdk.live_server import LiveServer
from tests.ui.conftest import ConsoleErrors, make_experiment, make_run, screenshot

COLOURS = [(220, 20, 20), (20, 180, 40), (30, 60, 230)]  # red, green, blue at steps 0, 1, 2
TABLE_ROWS = 75
HISTOGRAM_STEPS = 20
PHONE = {"width": 390, "height": 844}

PIXEL = """img => {
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  return Array.from(context.getImageData(0, 0, 1, 1).data.slice(0, 3));
}"""
# The colour of the heat map's cell at (x, y), as fractions of the canvas's size.
CELL = """([canvas, x, y]) => {
  const context = canvas.getContext("2d");
  const at = context.getImageData(
    Math.floor(x * (canvas.width - 1)), Math.floor(y * (canvas.height - 1)), 1, 1);
  return Array.from(at.data.slice(0, 3));
}"""


@pytest.fixture(scope="module")
def media_run(ui_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    mltrail.init(
        url=ui_server.url,
        spool_dir=tmp_path_factory.mktemp("media-spool"),
        flush_interval=0.2,
        give_up_after=5.0,
    )
    generator = numpy.random.default_rng(7)
    with mltrail.start_run(
        experiment="ui-media", name="with-media", run_context=False, system_metrics=False
    ) as run:
        for step, colour in enumerate(COLOURS):
            pixels = numpy.zeros((24, 32, 3), dtype=numpy.uint8)
            pixels[:, :] = colour
            run.log_image("samples", pixels, step=step, caption=f"epoch {step}")
        run.log_table("predictions", [[0, "cat"], [1, "dog"]], step=0, columns=["id", "label"])
        rows = [[i, "dog" if i % 2 else "cat"] for i in range(TABLE_ROWS)]
        run.log_table("predictions", rows, step=1, columns=["id", "label"])
        # A distribution that moves from around 0 to around 10 over the steps.
        for step in range(HISTOGRAM_STEPS):
            values = generator.normal(10 * step / (HISTOGRAM_STEPS - 1), 0.5, size=2000)
            run.log_histogram("weights", values, step=step, bins=32)
    return run.id


def media_card(page: Page, kind: str, key: str) -> Locator:
    card = page.locator(f"#media [data-media-kind={kind}][data-media-key='{key}']")
    expect(card).to_be_visible()
    return card


def shown_image(card: Locator) -> Locator:
    image = card.locator("img[data-role=media-image]")
    card.page.wait_for_function(
        "img => img.complete && img.naturalWidth === 32", arg=image.element_handle()
    )
    return image


class TestImages:
    def test_the_latest_step_shows_and_the_slider_picks_another(
        self, page: Page, media_run: str
    ) -> None:
        page.goto(f"/runs/{media_run}")
        expect(page.locator("#media h2")).to_have_text("Media")
        card = media_card(page, "image", "samples")
        expect(card.locator(".card-head .count")).to_have_text("image · 3 steps")
        expect(card.locator("[data-role=step-label]")).to_have_text("step 2")
        expect(card.locator("[data-role=media-caption]")).to_have_text("epoch 2")
        assert shown_image(card).evaluate(PIXEL) == list(COLOURS[2])
        expect(card.locator(".media-thumb")).to_have_count(3)

        card.locator("[data-role=step-slider]").fill("0")
        expect(card.locator("[data-role=step-label]")).to_have_text("step 0")
        expect(card.locator("[data-role=media-caption]")).to_have_text("epoch 0")
        page.wait_for_function(
            "img => img.complete && img.src.endsWith('step-0.png')",
            arg=card.locator("img[data-role=media-image]").element_handle(),
        )
        assert shown_image(card).evaluate(PIXEL) == list(COLOURS[0])

        card.locator(".media-thumb[title='step 1']").click()
        expect(card.locator("[data-role=media-caption]")).to_have_text("epoch 1")
        expect(card.locator(".media-thumb[title='step 1']")).to_have_attribute(
            "aria-pressed", "true"
        )


class TestTables:
    def test_the_latest_table_pages_and_an_earlier_step_shows_its_rows(
        self, page: Page, media_run: str
    ) -> None:
        page.goto(f"/runs/{media_run}")
        card = media_card(page, "table", "predictions")
        expect(card.locator("thead th")).to_have_text(["id", "label"])
        status = card.locator("[data-role=page-status]")
        expect(status).to_have_text(f"Rows 1–50 of {TABLE_ROWS}")
        card.locator("[data-role=next]").click()
        expect(status).to_have_text(f"Rows 51–{TABLE_ROWS} of {TABLE_ROWS}")
        expect(card.locator("tbody tr").first.locator("td")).to_have_text(["50", "cat"])

        card.locator("[data-role=step-slider]").fill("0")
        expect(status).to_have_text("Rows 1–2 of 2")
        expect(card.locator("tbody tr").nth(1).locator("td")).to_have_text(["1", "dog"])


class TestHistograms:
    def test_a_heat_map_over_steps_follows_the_distribution(
        self, page: Page, media_run: str
    ) -> None:
        page.goto(f"/runs/{media_run}")
        card = media_card(page, "histogram", "weights")
        canvas = card.locator("canvas[data-role=heatmap]")
        expect(card.locator("[data-role=step-first]")).to_have_text("step 0")
        expect(card.locator("[data-role=step-last]")).to_have_text(f"step {HISTOGRAM_STEPS - 1}")
        low = float(card.locator("[data-role=value-low]").inner_text())
        high = float(card.locator("[data-role=value-high]").inner_text())
        assert low < 0 < 10 < high
        handle = canvas.element_handle()

        def height_of(value: float) -> float:
            return (high - value) / (high - low)

        # Step 0's mass is around 0, low on the map; the last step's around 10, at the top.
        bright = {
            "first step, low": page.evaluate(CELL, [handle, 0.01, height_of(0)]),
            "first step, high": page.evaluate(CELL, [handle, 0.01, height_of(10)]),
            "last step, low": page.evaluate(CELL, [handle, 0.99, height_of(0)]),
            "last step, high": page.evaluate(CELL, [handle, 0.99, height_of(10)]),
        }
        assert sum(bright["first step, low"]) > sum(bright["first step, high"]) + 200, bright
        assert sum(bright["last step, high"]) > sum(bright["last step, low"]) + 200, bright

        box = canvas.bounding_box()
        assert box is not None
        canvas.hover(position={"x": 2, "y": box["height"] * height_of(0)})
        expect(card.locator("[data-role=heatmap-readout]")).to_contain_text("step 0 · ")
        # Everything in view once loaded: the images' strip, the table, the heat map.
        expect(media_card(page, "table", "predictions").locator("tbody tr")).to_have_count(50)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#media img')].every((i) => i.complete)"
        )
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "run-media")


class TestWithoutMedia:
    def test_a_run_without_media_shows_no_media_section(
        self, page: Page, api: httpx.Client, tmp_path: Path
    ) -> None:
        experiment = make_experiment(api, "no-media")
        run: dict[str, Any] = make_run(api, experiment["id"], "plain", status="completed")
        stored = api.put(f"/runs/{run['id']}/artifacts/media/other.txt", content=b"not media")
        assert stored.status_code == 201, stored.text
        page.goto(f"/runs/{run['id']}")
        expect(page.locator("#artifacts a[data-path='media']")).to_be_visible()
        expect(page.locator("#media")).to_be_hidden()


class TestOnAPhone:
    def test_media_and_a_table_preview_fit_a_390px_screen(
        self, browser: Browser, ui_server: LiveServer, media_run: str
    ) -> None:
        context = browser.new_context(viewport=PHONE, base_url=ui_server.url)
        page = context.new_page()
        errors = ConsoleErrors()
        errors.watch(page)
        page.goto(f"/runs/{media_run}")
        expect(media_card(page, "histogram", "weights").locator("canvas")).to_be_visible()
        expect(media_card(page, "table", "predictions").locator("tbody tr")).to_have_count(50)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # The table's Parquet file, opened from the Artifacts card, previews as a table too.
        artifacts = page.locator("#artifacts")
        for folder in ("media/", "tables/", "predictions/"):
            artifacts.get_by_role("link", name=folder, exact=True).click()
        artifacts.get_by_role("link", name="step-0.parquet", exact=True).click()
        body = page.locator("#artifact-preview [data-role=preview-body]")
        expect(body.locator("[data-role=page-status]")).to_have_text("Rows 1–2 of 2")
        expect(body.locator("thead th")).to_have_text(["id", "label"])
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "run-media-phone")
        context.close()
        assert not errors, errors
