"""The experiment workspace: one chart per metric across the runs, one line per run, and,
grouped by the `mltrail.group` tag (the default when a run has it), a mean line per group
with a min-max band."""

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

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


def test_no_grouping_draws_one_line_per_run(page: Page, experiment: dict[str, Any]) -> None:
    open_workspace(page, experiment)
    page.get_by_label("Group by").select_option("")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "true")
    loss = page.locator(".workspace-chart[data-metric='loss']")
    expect(loss.locator(".series")).to_have_count(3)
    expect(loss.locator(".band")).to_have_count(0)
    expect(loss.locator(".series[data-series='s1'] circle[data-step='3']")).to_have_attribute(
        "data-value", "13"
    )


def test_grouped_by_a_param(page: Page, experiment: dict[str, Any]) -> None:
    open_workspace(page, experiment)
    page.get_by_label("Group by").select_option("param:lr")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "true")
    loss = page.locator(".workspace-chart[data-metric='loss']")
    expect(loss.locator(".legend-entry")).to_have_text(["0.01", "0.1"])
