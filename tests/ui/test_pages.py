"""Every page loads in a real browser without console errors, shows what it should, and is
photographed (tests/artifacts/screenshots/)."""

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import ConsoleErrors, curve, make_experiment, make_run, screenshot

OPTIMIZERS = ["adam", "sgd", "adamw", "adam", "sgd", "lamb"]


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
                params={"lr": f"{lr:g}", "optimizer": optimizer, "batch_size": str(64 * (1 + index % 3))},
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
    return {"experiment": experiment, "runs": runs}


class TestExperimentsPage:
    def test_lists_experiments(self, page: Page, demo: dict[str, Any]) -> None:
        page.goto("/")
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
        screenshot(page, "run")

    def test_a_running_run_shows_a_ticking_duration(
        self, page: Page, demo: dict[str, Any]
    ) -> None:
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
        expect(page.locator("#params-diff tr[data-key='lr'] td.num")).to_have_count(3)
        expect(page.locator("#tags-diff tr[data-key='team']")).not_to_have_class("diff")
        screenshot(page, "compare")


class TestNotFound:
    def test_a_malformed_id_is_a_404_page(
        self, page: Page, console_errors: ConsoleErrors
    ) -> None:
        response = page.goto("/runs/not-a-run")
        assert response is not None and response.status == 404
        expect(page.locator("h1")).to_have_text("No such run")
        console_errors.forget("status of 404")

    def test_an_unknown_run_says_so(self, page: Page, console_errors: ConsoleErrors) -> None:
        page.goto("/runs/00000000-0000-4000-8000-000000000000")
        expect(page.locator("#title")).to_have_text("Run not found")
        console_errors.forget("status of 404")
