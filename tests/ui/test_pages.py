"""Every page loads in a real browser without console errors, shows what it should, and is
photographed (tests/artifacts/screenshots/)."""

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.sdk.live_server import LiveServer
from tests.ui.conftest import (
    VIEWPORT,
    ConsoleErrors,
    curve,
    make_experiment,
    make_run,
    screenshot,
)

OPTIMIZERS = ["adam", "sgd", "adamw", "adam", "sgd", "lamb"]
ARTIFACTS = {
    "model/weights.bin": b"\x00" * 2048,
    "model/config.json": b'{"layers": 50}',
    "confusion_matrix.csv": b"cat,dog\n90,10\n",
}


@pytest.fixture(scope="module")
def demo(api: httpx.Client) -> dict[str, Any]:
    """An experiment with six runs: params, three metrics, one still running, one failed."""
    experiment = make_experiment(
        api, "image-classifier", description="ResNet-50 on ImageNet subsets, learning-rate sweep"
    )
    runs = []
    for index, optimizer in enumerate(OPTIMIZERS):
        lr = 10 ** -(index % 4 + 1)
        runs.append(
            make_run(
                api,
                experiment["id"],
                f"{optimizer}-lr{lr:g}",
                params={
                    "lr": f"{lr:g}",
                    "optimizer": optimizer,
                    "batch_size": str(64 * (1 + index % 3)),
                },
                tags={"team": "vision", "gpu": "a100" if index % 2 else "h100"},
                metrics={
                    "loss": curve(300, 2.3, 0.2 + 0.08 * index, seed=index + 1),
                    "accuracy": curve(300, 0.1, 0.93 - 0.04 * index, noise=0.01, seed=index + 2),
                    "val/loss": curve(60, 2.4, 0.35 + 0.07 * index, seed=index + 3),
                },
                status=None if index == 0 else "failed" if index == 4 else "completed",
                description="Baseline with warm-up and cosine decay." if index == 1 else None,
            )
        )
    for path, body in ARTIFACTS.items():
        response = api.put(f"/runs/{runs[1]['id']}/artifacts/{path}", content=body)
        assert response.status_code == 201, response.text
    return {"experiment": experiment, "runs": runs}


class TestExperimentsPage:
    def test_lists_experiments(self, page: Page, demo: dict[str, Any]) -> None:
        page.goto("/")
        expect(page).to_have_title("Experiments · mltrail")
        expect(page.locator("a.brand")).to_have_text("mltrail")
        row = page.locator("#experiments tbody tr", has_text=demo["experiment"]["name"])
        expect(row).to_be_visible()
        expect(row.locator("td.num")).to_have_text("6")
        screenshot(page, "experiments")


class TestRunsTablePage:
    def test_shows_runs_with_param_and_metric_columns(
        self, page: Page, demo: dict[str, Any]
    ) -> None:
        page.goto(f"/experiments/{demo['experiment']['id']}")
        expect(page.locator("#runs tbody tr")).to_have_count(6)
        headers = page.locator("#runs thead th")
        for name in ("lr", "optimizer", "batch_size", "loss", "accuracy", "val/loss"):
            expect(headers.filter(has_text=name).first).to_be_visible()
        expect(page.locator("#title")).to_have_text(demo["experiment"]["name"])
        screenshot(page, "runs-table")


class TestRunPage:
    def test_shows_status_params_tags_notes_and_charts(
        self, page: Page, demo: dict[str, Any]
    ) -> None:
        run = demo["runs"][1]
        page.goto(f"/runs/{run['id']}")
        expect(page.locator("#title")).to_have_text(run["name"])
        expect(page.locator("#status .badge")).to_have_text("completed")
        expect(page.locator("#params")).to_contain_text("optimizer")
        expect(page.locator("#tags")).to_contain_text("vision")
        expect(page.locator("#notes")).to_have_text("Baseline with warm-up and cosine decay.")
        expect(page.locator(".chart canvas")).to_have_count(3)
        expect(page.locator(".chart[data-metric='loss'] .sampled")).to_have_text("300 pts")
        expect(page.locator("#artifacts")).to_contain_text("confusion_matrix.csv")
        screenshot(page, "run")

    def test_system_metrics_chart_in_their_own_section(self, page: Page, api: httpx.Client) -> None:
        experiment = make_experiment(api, "system-section")
        run = make_run(
            api,
            experiment["id"],
            "with-system",
            metrics={"loss": curve(20, 2.0, 0.5), "system/cpu_percent": curve(5, 10.0, 80.0)},
        )
        page.goto(f"/runs/{run['id']}")
        expect(page.locator("#system-title")).to_be_visible()
        expect(
            page.locator("#system-charts .chart[data-metric='system/cpu_percent']")
        ).to_have_count(1)
        expect(page.locator("#charts .chart[data-metric='loss']")).to_have_count(1)
        expect(page.locator("#charts .chart[data-metric='system/cpu_percent']")).to_have_count(0)

    def test_artifacts_browse_and_download(self, page: Page, demo: dict[str, Any]) -> None:
        page.goto(f"/runs/{demo['runs'][1]['id']}")
        artifacts = page.locator("#artifacts")
        artifacts.get_by_role("link", name="model/").click()
        expect(artifacts.get_by_role("link", name="weights.bin", exact=True)).to_be_visible()
        expect(artifacts).to_contain_text("2.0 KB")
        # The name previews the file (tests/ui/test_artifact_previews.py); the arrow downloads.
        with page.expect_download() as download:
            artifacts.get_by_role("link", name="Download config.json", exact=True).click()
        assert Path(download.value.path()).read_bytes() == ARTIFACTS["model/config.json"]
        artifacts.get_by_role("link", name="root").click()
        expect(
            artifacts.get_by_role("link", name="confusion_matrix.csv", exact=True)
        ).to_be_visible()

    def test_a_running_run_shows_a_ticking_duration(self, page: Page, demo: dict[str, Any]) -> None:
        page.goto(f"/runs/{demo['runs'][0]['id']}")
        expect(page.locator("#status .badge")).to_have_text("running")
        expect(page.locator("#live-status")).to_be_visible()


class TestComparePage:
    def test_overlays_runs_and_marks_param_differences(
        self, page: Page, demo: dict[str, Any]
    ) -> None:
        ids = [run["id"] for run in demo["runs"][:3]]
        page.goto(f"/compare?runs={','.join(ids)}")
        expect(page.locator("#title")).to_have_text("Compare 3 runs")
        expect(page.locator(".chart canvas")).to_have_count(3)
        expect(page.locator("#params-diff tr.diff[data-key='lr']")).to_be_visible()
        expect(page.locator("#params-diff tr[data-key='lr'] td:not(:first-child)")).to_have_count(3)
        expect(page.locator("#tags-diff tr[data-key='team']")).not_to_have_class("diff")
        screenshot(page, "compare")


class TestNotFound:
    def test_a_malformed_id_is_a_404_page(self, page: Page, console_errors: ConsoleErrors) -> None:
        response = page.goto("/runs/not-a-run")
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("No such run")
        console_errors.forget("status of 404")

    def test_an_unknown_run_says_so(self, page: Page, console_errors: ConsoleErrors) -> None:
        response = page.goto("/runs/00000000-0000-4000-8000-000000000000")
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("No such run")
        console_errors.forget("status of 404")


class TestDarkMode:
    def test_pages_follow_the_systems_dark_scheme(
        self, browser: Browser, ui_server: LiveServer, demo: dict[str, Any]
    ) -> None:
        context = browser.new_context(
            viewport=VIEWPORT, base_url=ui_server.url, color_scheme="dark"
        )
        page = context.new_page()
        errors = ConsoleErrors()
        errors.watch(page)
        page.goto(f"/experiments/{demo['experiment']['id']}")
        expect(page.locator("#runs tbody tr")).to_have_count(6)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 17, 21)"
        screenshot(page, "runs-table-dark")
        page.goto(f"/runs/{demo['runs'][2]['id']}")
        expect(page.locator(".chart canvas")).to_have_count(3)
        screenshot(page, "run-dark")
        context.close()
        assert not errors, errors
