"""The UI defects of issue #18, each with the test that would have caught it: a single-valued
metric's chart, MLflow's hash-routed links, the compare page's "best" marks, the error pages,
and the layout (clipped cards, a phone's width, chart and axis titles, the runs table's order).
"""

import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.sdk.live_server import LiveServer
from tests.ui.conftest import (
    VIEWPORT,
    ConsoleErrors,
    curve,
    make_experiment,
    make_run,
    screenshot,
)

MISSING = "00000000-0000-4000-8000-00000000abcd"
# The first colour of the palette (format.js): a run page's only series.
SERIES_RGB = (0x4F, 0x6B, 0xED)
LONG_KEY = "validation/top5_accuracy_moving_average"
# A title that fits its chart's line with the point count, but not with a hover readout too.
HOVER_KEY = "validation/top5_accuracy_exponential_moving_avg1"
PHONE = {"width": 390, "height": 844}
FIRST_KEY = re.compile(r"First admin API key \(shown once, keep it safe\): (\S+)")


@pytest.fixture(scope="module")
def world(api: httpx.Client) -> dict[str, Any]:
    """An experiment with three runs: a final score logged once, a `grad_norm` on two runs
    only, forty metrics on one run, params on all."""
    experiment = make_experiment(api, "defects", description="Runs for the UI defect tests")
    many = {f"{LONG_KEY}_{index:02d}": [0.5 + index / 100] for index in range(40)}
    scored = make_run(
        api,
        experiment["id"],
        "scored",
        params={"lr": "0.1", "optimizer": "adam"},
        metrics={"final_score": [0.93], "grad_norm": [5.0, 4.0], "loss": curve(50, 2, 0.3)},
        status="completed",
    )
    calm = make_run(
        api,
        experiment["id"],
        "calm",
        params={"lr": "0.01", "optimizer": "sgd"},
        metrics={"grad_norm": [2.0, 1.0], "loss": curve(50, 2, 0.5), HOVER_KEY: curve(30, 0, 1)},
        status="completed",
    )
    crowded = make_run(
        api,
        experiment["id"],
        "crowded",
        params={"lr": "0.001", "optimizer": "adamw"},
        metrics=many,
        status="completed",
    )
    return {"experiment": experiment, "scored": scored, "calm": calm, "crowded": crowded}


def series_pixels(chart: Locator) -> dict[str, float]:
    """Where the chart's canvas has the series' colour: how many pixels, and their centre as
    a fraction of the plotting area (0..1 across, 0..1 down)."""
    return chart.evaluate(
        """(card, rgb) => {
          const canvas = card.querySelector("canvas");
          const over = card.querySelector(".u-over").getBoundingClientRect();
          const box = canvas.getBoundingClientRect();
          const scale = canvas.width / box.width;
          const context = canvas.getContext("2d");
          const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
          let count = 0, sumX = 0, sumY = 0;
          for (let i = 0; i < pixels.length; i += 4) {
            const close = Math.abs(pixels[i] - rgb[0]) < 24 && Math.abs(pixels[i + 1] - rgb[1]) < 24
              && Math.abs(pixels[i + 2] - rgb[2]) < 24 && pixels[i + 3] > 200;
            if (!close) continue;
            const index = i / 4;
            count += 1;
            sumX += (index % canvas.width) / scale + box.left;
            sumY += Math.floor(index / canvas.width) / scale + box.top;
          }
          if (!count) return { count: 0, x: -1, y: -1 };
          return {
            count,
            x: (sumX / count - over.left) / over.width,
            y: (sumY / count - over.top) / over.height,
          };
        }""",
        list(SERIES_RGB),
    )


def open_run(page: Page, run: dict[str, Any]) -> None:
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#title")).to_have_text(run["name"])


class TestSingleValueChart:
    def test_a_metric_logged_once_shows_its_point_in_the_middle(
        self, page: Page, world: dict[str, Any]
    ) -> None:
        open_run(page, world["scored"])
        chart = page.locator(".chart[data-metric='final_score']")
        chart.scroll_into_view_if_needed()
        expect(chart.locator("canvas")).to_have_count(1)
        expect(chart.locator(".sampled")).to_have_text("1 pts")
        drawn = series_pixels(chart)
        assert drawn["count"] >= 12, f"no marker drawn for the single value: {drawn}"
        # An axis around the value (and its step) puts the point in the plot's middle.
        assert 0.4 < drawn["x"] < 0.6, drawn
        assert 0.4 < drawn["y"] < 0.6, drawn
        screenshot(page, "defect-single-value-chart")


class TestChartTitles:
    def test_axes_are_titled_by_the_x_setting_and_the_metric(
        self, page: Page, world: dict[str, Any]
    ) -> None:
        open_run(page, world["scored"])
        chart = page.locator(".chart[data-metric='loss']")
        expect(chart.locator(".axis-title.y")).to_have_text("loss")
        expect(chart.locator(".axis-title.x")).to_have_text("step")
        page.get_by_role("button", name="Relative").click()
        expect(chart.locator(".axis-title.x")).to_have_text("relative time")
        page.get_by_role("button", name="Wall clock").click()
        expect(chart.locator(".axis-title.x")).to_have_text("wall-clock time")
        screenshot(page, "defect-axis-titles")
        page.get_by_role("button", name="Step").click()
        expect(chart.locator(".axis-title.x")).to_have_text("step")

    def test_hovering_does_not_cut_the_charts_title(
        self, page: Page, world: dict[str, Any]
    ) -> None:
        open_run(page, world["calm"])
        chart = page.locator(f".chart[data-metric='{HOVER_KEY}']")
        chart.scroll_into_view_if_needed()
        expect(chart.locator("canvas")).to_have_count(1)
        title = chart.locator("h3")
        assert not title.evaluate("(h) => h.scrollWidth > h.clientWidth"), "cut before hovering"
        box = chart.locator(".u-over").bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5)
        expect(chart.locator(".readout")).to_contain_text("step")
        cut = title.evaluate("(h) => h.scrollWidth > h.clientWidth")
        assert not cut, "the chart's title is cut while the readout shows"
        expect(title).to_have_text(HOVER_KEY)
        screenshot(page, "defect-chart-title-on-hover")


class TestMlflowLinks:
    """The links the mlflow client prints ("View run at ...") route in the fragment."""

    def test_a_run_link_lands_on_the_run(self, page: Page, world: dict[str, Any]) -> None:
        run = world["scored"]
        experiment_hex = uuid.UUID(world["experiment"]["id"]).hex
        run_hex = uuid.UUID(run["id"]).hex
        page.goto(f"/#/experiments/{experiment_hex}/runs/{run_hex}")
        expect(page).to_have_url(re.compile(rf"/runs/{run_hex}$"))
        expect(page.locator("#title")).to_have_text(run["name"])
        screenshot(page, "defect-mlflow-run-link")

    def test_an_experiment_link_lands_on_the_experiment(
        self, page: Page, world: dict[str, Any]
    ) -> None:
        experiment_hex = uuid.UUID(world["experiment"]["id"]).hex
        page.goto(f"/#/experiments/{experiment_hex}")
        expect(page).to_have_url(re.compile(rf"/experiments/{experiment_hex}$"))
        expect(page.locator("#title")).to_have_text(world["experiment"]["name"])

    def test_a_model_link_lands_on_the_model(self, page: Page, api: httpx.Client) -> None:
        name = f"defects-model-{uuid.uuid4().hex[:8]}"
        response = api.post("/models", json={"name": name})
        assert response.is_success, response.text
        page.goto(f"/#/models/{quote(name)}/versions/1")
        expect(page).to_have_url(re.compile(rf"/models/{name}$"))
        expect(page.locator("#title")).to_have_text(name)

    def test_the_experiments_page_without_a_fragment_stays(self, page: Page) -> None:
        page.goto("/")
        expect(page.locator("#summary")).to_have_text(re.compile(r"\d+ experiments?"))
        assert page.url.endswith("/")


def compare(page: Page, world: dict[str, Any]) -> Locator:
    ids = [world[name]["id"] for name in ("scored", "calm", "crowded")]
    page.goto(f"/compare?runs={','.join(ids)}")
    table = page.locator("#metrics-diff")
    expect(table.locator("tr[data-key='grad_norm'] td.num")).to_have_count(3)
    return table


class TestCompareBest:
    def test_nothing_is_best_until_the_user_picks_a_direction(
        self, page: Page, world: dict[str, Any]
    ) -> None:
        table = compare(page, world)
        # Neither from the name (`grad_norm` is no score) nor for missing values.
        expect(table.locator("td.best")).to_have_count(0)
        expect(table.locator("tr[data-key='final_score'] td.missing")).to_have_count(2)

    def test_the_chosen_direction_marks_the_best_and_never_a_missing_value(
        self, page: Page, world: dict[str, Any]
    ) -> None:
        table = compare(page, world)
        row = table.locator("tr[data-key='grad_norm']")
        row.get_by_label("Best value of grad_norm").select_option(label="Lowest is best")
        expect(row.locator("td.best")).to_have_count(1)
        expect(row.locator("td.best")).to_have_text("1")  # calm's latest
        expect(row.locator("td.missing.best")).to_have_count(0)
        row.get_by_label("Best value of grad_norm").select_option(label="Highest is best")
        expect(row.locator("td.best")).to_have_text("4")  # scored's latest
        # One value among missing ones: nothing to compare, so nothing is best.
        score = table.locator("tr[data-key='final_score']")
        score.get_by_label("Best value of final_score").select_option(label="Highest is best")
        expect(score.locator("td.best")).to_have_count(0)
        screenshot(page, "defect-compare-best-chosen")
        page.reload()
        expect(table.get_by_label("Best value of grad_norm")).to_have_value("max")
        expect(table.locator("tr[data-key='grad_norm'] td.best")).to_have_text("4")


class TestErrorPages:
    def test_a_missing_run_is_a_404_page(self, page: Page, console_errors: ConsoleErrors) -> None:
        response = page.goto(f"/runs/{MISSING}")
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("No such run")
        expect(page.get_by_role("link", name="Back to experiments")).to_have_attribute("href", "/")
        expect(page.locator("main .card")).to_have_count(0)
        expect(page.locator(".breadcrumbs")).to_have_count(0)
        screenshot(page, "defect-missing-run")
        console_errors.forget("status of 404")

    def test_a_missing_experiment_is_a_404_page(
        self, page: Page, console_errors: ConsoleErrors
    ) -> None:
        response = page.goto(f"/experiments/{MISSING}")
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("No such experiment")
        expect(page.get_by_label("Filter runs")).to_have_count(0)
        expect(page.get_by_role("button", name="Compare")).to_have_count(0)
        expect(page.get_by_role("button", name="Delete")).to_have_count(0)
        screenshot(page, "defect-missing-experiment")
        console_errors.forget("status of 404")

    def test_an_unknown_address_is_our_404_page_for_a_browser(
        self, page: Page, console_errors: ConsoleErrors
    ) -> None:
        response = page.goto("/no/such/page")
        assert response is not None and response.status == 404
        assert response.headers["content-type"].startswith("text/html")
        expect(page.locator("h1")).to_have_text("No such page")
        expect(page.locator("a.brand")).to_be_visible()
        screenshot(page, "defect-unknown-address")
        console_errors.forget("status of 404")

    def test_api_clients_keep_the_json_error(self, ui_server: LiveServer) -> None:
        with httpx.Client(base_url=ui_server.url, timeout=30) as client:
            plain = client.get("/no/such/page", headers={"Accept": "application/json"})
            browser_like = client.get("/api/v1/no-such-route", headers={"Accept": "text/html"})
        for response in (plain, browser_like):
            assert response.status_code == 404
            assert response.json() == {"detail": "Not Found"}

    def test_an_empty_compare_says_to_choose_runs(self, page: Page) -> None:
        page.goto("/compare")
        expect(page.locator("h1")).to_have_text("Choose at least one run to compare")
        expect(page.locator("main")).not_to_contain_text("does not name")
        back = page.get_by_role("link", name="Back to experiments")
        expect(back).to_have_attribute("href", "/")
        screenshot(page, "defect-empty-compare")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    """A server with AUTH_ENABLED=true, and the admin key it printed at its first start."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AUTH_ENABLED", "true")
        live = LiveServer(tmp_path_factory.mktemp("guarded-defects"))
        live.start()
    match = FIRST_KEY.search(live.log.read_text())
    assert match, "the server did not print its first admin key"
    yield live, match.group(1)
    live.stop()


class TestErrorPagesWithAuth:
    def test_a_missing_run_says_so_once_the_key_is_given(
        self, browser: Browser, guarded: tuple[LiveServer, str]
    ) -> None:
        """The page route cannot tell a stranger whether a run exists: it asks for the key,
        and the page then shows the API's answer as the same "not found" page."""
        server, key = guarded
        context = browser.new_context(viewport=VIEWPORT, base_url=server.url)
        page = context.new_page()
        errors = ConsoleErrors()
        errors.watch(page)
        response = page.goto(f"/runs/{MISSING}")
        assert response is not None and response.status == 200
        dialog = page.locator("#api-key-dialog")
        dialog.get_by_label("API key").fill(key)
        dialog.get_by_role("button", name="Continue").click()
        expect(page.locator("h1")).to_have_text("No such run")
        expect(page.locator("main .card")).to_have_count(0)
        # Signed in, the page route itself answers 404.
        response = page.goto(f"/experiments/{MISSING}")
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("No such experiment")
        context.close()
        errors.forget("status of 401")
        errors.forget("status of 404")
        assert not errors, errors


class TestLayout:
    def test_the_side_cards_hold_their_content(self, page: Page, world: dict[str, Any]) -> None:
        """Forty metrics with long keys: the Metrics card shows every column, and its rows
        scroll in their own box, down to the last."""
        open_run(page, world["crowded"])
        card = page.locator(".card", has=page.locator("#metrics-table"))
        rows = card.locator("#metrics-table tbody tr")
        expect(rows).to_have_count(40)
        outside = card.evaluate(
            """(card) => {
              const right = card.getBoundingClientRect().right;
              return [...card.querySelectorAll("#metrics-table th")]
                .filter((th) => th.getBoundingClientRect().right > right + 1)
                .map((th) => th.textContent);
            }"""
        )
        assert outside == [], f"columns cut off the Metrics card: {outside}"
        clipped = page.locator("aside .card").evaluate_all(
            """(cards) => cards
              .filter((c) => c.scrollWidth > c.clientWidth + 1
                || c.scrollHeight > c.clientHeight + 1)
              .map((c) => c.querySelector("h2").textContent)"""
        )
        assert clipped == [], f"cards cutting off their content: {clipped}"
        card.evaluate(
            """(card) => {
              const box = card.querySelector(".table-scroll") || card;
              box.scrollTop = box.scrollHeight;
            }"""
        )
        expect(rows.last).to_be_in_viewport()
        expect(rows.last.locator("td").first).to_have_text(f"{LONG_KEY}_39")
        screenshot(page, "defect-metrics-card")

    def test_metric_columns_come_before_params(self, page: Page, world: dict[str, Any]) -> None:
        page.goto(f"/experiments/{world['experiment']['id']}")
        expect(page.locator("#runs tbody tr")).to_have_count(3)
        headers = page.locator("#runs thead th[data-column]")
        columns = headers.evaluate_all("(ths) => ths.map((th) => th.dataset.column)")
        chosen = [column for column in columns if ":" in column]
        kinds = [column.split(":")[0] for column in chosen]
        assert kinds.index("metric") < kinds.index("param"), chosen
        assert kinds == sorted(kinds), f"metrics and params interleave: {chosen}"
        first_metric = page.locator("#runs thead th[data-column^='metric:']").first
        expect(first_metric).to_be_in_viewport()
        screenshot(page, "defect-runs-table-metrics-first")

    def test_no_page_scrolls_sideways_on_a_phone(
        self, browser: Browser, ui_server: LiveServer, world: dict[str, Any]
    ) -> None:
        context = browser.new_context(viewport=PHONE, base_url=ui_server.url)
        page = context.new_page()
        errors = ConsoleErrors()
        errors.watch(page)
        ids = ",".join(world[name]["id"] for name in ("scored", "calm"))
        pages = {
            "experiments": ("/", "#experiments tbody tr"),
            "experiment": (f"/experiments/{world['experiment']['id']}", "#runs tbody tr"),
            "run": (f"/runs/{world['scored']['id']}", ".chart canvas"),
            "compare": (f"/compare?runs={ids}", ".chart canvas"),
        }
        wide = {}
        for name, (path, ready) in pages.items():
            page.goto(path)
            expect(page.locator(ready).first).to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                wide[name] = width
            screenshot(page, f"defect-phone-{name}")
        context.close()
        assert not wide, f"pages wider than the {PHONE['width']} px screen: {wide}"
        assert not errors, errors
