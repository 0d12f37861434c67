"""Nested runs as a tree: the runs table draws children under their parent (collapsed, with a
count, expanded by a toggle, at any depth), a filter nests its matches among themselves, and a
parent's page lists its children. The nesting comes from where users make it: MLflow's
`mlflow.parentRunId` tag (through the real mlflow client) and the v1 API's `parent_run_id`."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.sdk.live_server import LiveServer
from tests.services_available import require_module
from tests.ui.conftest import make_experiment, make_run, screenshot

require_module("mlflow", "nested runs are made through the real mlflow client")

from mlflow.tracking import MlflowClient  # noqa: E402

PARENT_TAG = "mlflow.parentRunId"
CLIENT_ENVIRONMENT = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
}


@pytest.fixture
def mlflow_client(ui_server: LiveServer) -> Iterator[MlflowClient]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in CLIENT_ENVIRONMENT.items():
            env.setenv(name, value)
        yield MlflowClient(tracking_uri=ui_server.url)


def uuid_of(mlflow_run_id: str) -> str:
    hex_id = mlflow_run_id
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


@pytest.fixture
def family(api: httpx.Client, mlflow_client: MlflowClient) -> dict[str, Any]:
    """`solo` (no children) and `sweep`, an MLflow parent of trial-0, trial-1 and trial-2
    (each with an `acc`); trial-1 has a child of its own, `fold-a`, made through the v1 API."""
    experiment = make_experiment(api, "nested")
    make_run(api, experiment["id"], "solo", metrics={"acc": [0.1]})
    experiment_hex = experiment["id"].replace("-", "")
    sweep = mlflow_client.create_run(experiment_hex, run_name="sweep").info.run_id
    trials = {}
    for index in range(3):
        trial = mlflow_client.create_run(
            experiment_hex, run_name=f"trial-{index}", tags={PARENT_TAG: sweep}
        ).info.run_id
        mlflow_client.log_metric(trial, "acc", 0.5 + index / 10)
        trials[f"trial-{index}"] = uuid_of(trial)
    response = api.post(
        f"/experiments/{experiment['id']}/runs",
        json={"name": "fold-a", "parent_run_id": trials["trial-1"]},
    )
    assert response.is_success, response.text
    fold = response.json()
    return {"experiment": experiment, "sweep": uuid_of(sweep), **trials, "fold-a": fold["id"]}


def row(page: Page, name: str) -> Locator:
    return page.locator("#runs tbody tr", has=page.get_by_role("link", name=name, exact=True))


def names(page: Page) -> list[str]:
    return page.locator("#runs tbody td.name a").all_inner_texts()


class TestTree:
    def test_children_are_collapsed_under_their_parent_and_expand_by_a_toggle(
        self, page: Page, family: dict[str, Any]
    ) -> None:
        page.goto(f"/experiments/{family['experiment']['id']}")
        expect(page.locator("#runs tbody tr")).to_have_count(2)
        expect(page.locator("#runs tbody td.name a")).to_have_text(["sweep", "solo"])
        toggle = row(page, "sweep").get_by_role("button", name="Expand sweep (3 nested runs)")
        expect(toggle).to_have_text("3")
        expect(row(page, "solo").locator("[data-role=toggle]")).to_have_count(0)
        expect(page.locator("#pager [data-role=label]")).to_have_text("Runs 1–2 · 4 nested")

        toggle.click()
        expect(page.locator("#runs tbody tr")).to_have_count(5)
        # Children follow their parent, most recently started first, indented under it.
        assert names(page) == ["sweep", "trial-2", "trial-1", "trial-0", "solo"]
        parent_x = row(page, "sweep").get_by_role("link").bounding_box()
        child_x = row(page, "trial-1").get_by_role("link").bounding_box()
        assert parent_x and child_x and child_x["x"] > parent_x["x"] + 10
        expect(row(page, "trial-1").locator("td[data-cell='metric:acc:value']")).to_have_text("0.6")

        row(page, "trial-1").get_by_role("button", name="Expand trial-1 (1 nested run)").click()
        assert_names = ["sweep", "trial-2", "trial-1", "fold-a", "trial-0", "solo"]
        expect(page.locator("#runs tbody td.name a")).to_have_text(assert_names)
        fold_x = row(page, "fold-a").get_by_role("link").bounding_box()
        assert fold_x and fold_x["x"] > child_x["x"] + 10
        screenshot(page, "runs-table-nested-runs")

        row(page, "sweep").get_by_role("button", name="Collapse sweep (3 nested runs)").click()
        expect(page.locator("#runs tbody td.name a")).to_have_text(["sweep", "solo"])

    def test_a_new_nested_run_joins_its_open_parent_live(
        self, page: Page, api: httpx.Client, family: dict[str, Any]
    ) -> None:
        page.goto(f"/experiments/{family['experiment']['id']}")
        toggle = row(page, "sweep").locator("[data-role=toggle]")
        expect(toggle).to_have_text("3")
        toggle.click()
        expect(page.locator("#runs tbody tr")).to_have_count(5)
        response = api.post(
            f"/experiments/{family['experiment']['id']}/runs",
            json={"name": "trial-3", "parent_run_id": family["sweep"]},
        )
        assert response.is_success, response.text
        expect(toggle).to_have_text("4")
        expect(page.locator("#runs tbody td.name a")).to_have_text(
            ["sweep", "trial-3", "trial-2", "trial-1", "trial-0", "solo"]
        )

    def test_the_first_nested_run_of_a_flat_experiment_shows_live(
        self, page: Page, api: httpx.Client
    ) -> None:
        experiment = make_experiment(api, "flat-then-nested")
        parent = make_run(api, experiment["id"], "base")
        page.goto(f"/experiments/{experiment['id']}")
        expect(page.locator("#pager [data-role=label]")).to_have_text("Runs 1–1 of 1")
        expect(page.locator("#runs tbody [data-role=toggle]")).to_have_count(0)
        response = api.post(
            f"/experiments/{experiment['id']}/runs",
            json={"name": "finetune", "parent_run_id": parent["id"]},
        )
        assert response.is_success, response.text
        toggle = row(page, "base").get_by_role("button", name="Expand base (1 nested run)")
        expect(toggle).to_be_visible()
        expect(page.locator("#runs tbody tr")).to_have_count(1)  # folded under its parent
        expect(page.locator("#pager [data-role=label]")).to_have_text("Runs 1–1 · 1 nested")

    def test_a_sort_orders_each_level_and_keeps_children_under_their_parent(
        self, page: Page, family: dict[str, Any]
    ) -> None:
        page.goto(f"/experiments/{family['experiment']['id']}")
        row(page, "sweep").locator("[data-role=toggle]").click()
        expect(page.locator("#runs tbody tr")).to_have_count(5)
        header = page.locator("#runs thead th[data-column='metric:acc:value']")
        header.click()  # ascending; a run without the metric (sweep) last
        expect(header).to_have_attribute("aria-sort", "ascending")
        expect(page.locator("#runs tbody td.name a")).to_have_text(
            ["solo", "sweep", "trial-0", "trial-1", "trial-2"]
        )
        header.click()
        expect(header).to_have_attribute("aria-sort", "descending")
        expect(page.locator("#runs tbody td.name a")).to_have_text(
            ["solo", "sweep", "trial-2", "trial-1", "trial-0"]
        )

    def test_a_filter_nests_its_matches_among_themselves(
        self, page: Page, family: dict[str, Any]
    ) -> None:
        page.goto(f"/experiments/{family['experiment']['id']}")
        expect(page.locator("#runs tbody tr")).to_have_count(2)
        page.get_by_label("Filter runs").fill("metrics.acc >= 0.5")
        page.get_by_label("Filter runs").press("Enter")
        # The trials match and their parent does not: they stand at the top level.
        expect(page.locator("#runs tbody td.name a")).to_have_text(
            ["trial-2", "trial-1", "trial-0"]
        )
        expect(page.locator("#runs tbody [data-role=toggle]")).to_have_count(0)


class TestParentPage:
    def test_a_parent_lists_its_children_and_a_child_links_back(
        self, page: Page, family: dict[str, Any]
    ) -> None:
        page.goto(f"/runs/{family['sweep']}")
        card = page.locator("#nested-runs")
        expect(card).to_be_visible()
        expect(card.locator(".count")).to_have_text("3")
        expect(card.locator("tbody td.name a")).to_have_text(["trial-2", "trial-1", "trial-0"])
        screenshot(page, "run-nested-runs")

        card.get_by_role("link", name="trial-1").click()
        expect(page.locator("#title")).to_have_text("trial-1")
        expect(page.locator("#meta").get_by_role("link", name=family["sweep"][:8])).to_be_visible()
        expect(card.locator("tbody td.name a")).to_have_text(["fold-a"])

        card.get_by_role("link", name="In the runs table").click()
        expect(page.locator("#runs tbody td.name a")).to_have_text(["fold-a"])

    def test_a_run_without_children_shows_no_card(self, page: Page, api: httpx.Client) -> None:
        experiment = make_experiment(api, "flat")
        run = make_run(api, experiment["id"], "alone")
        # Hidden once the page has asked for the run's children, not merely before.
        with page.expect_response(lambda r: "/runs/search" in r.url) as searched:
            page.goto(f"/runs/{run['id']}")
        assert searched.value.ok
        expect(page.locator("#title")).to_have_text("alone")
        expect(page.locator("#nested-runs")).to_be_hidden()
