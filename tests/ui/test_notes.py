"""A run's notes are MLflow's note tag (`mlflow.note.content`): a note the mlflow client wrote
shows in the Notes card as text (not as a tag, never as HTML), the editor opens with it, and
what the page saves is what the mlflow client reads back."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.sdk.live_server import LiveServer
from tests.services_available import require_module
from tests.ui.conftest import make_experiment, make_run, screenshot

require_module("mlflow", "the notes tests read and write through the real mlflow client")

from mlflow.tracking import MlflowClient  # noqa: E402

NOTE_TAG = "mlflow.note.content"
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


def mlflow_id(run: dict[str, Any]) -> str:
    return str(run["id"]).replace("-", "")


def note_in_mlflow(client: MlflowClient, run: dict[str, Any]) -> str | None:
    tags: dict[str, str] = client.get_run(mlflow_id(run)).data.tags
    return tags.get(NOTE_TAG)


class TestNotesFromMlflow:
    def test_shows_as_text_edits_and_saves_back_to_the_tag(
        self, page: Page, api: httpx.Client, mlflow_client: MlflowClient
    ) -> None:
        experiment = make_experiment(api, "notes")
        run = make_run(api, experiment["id"], "noted", tags={"team": "vision"})
        note = 'Baseline <img src="x" id="injected"> with **warm-up**'
        mlflow_client.set_tag(mlflow_id(run), NOTE_TAG, note)

        page.goto(f"/runs/{run['id']}")
        notes = page.locator("#notes")
        expect(notes).to_have_text(note)
        expect(page.locator("#injected")).to_have_count(0)  # text, not markup
        tags = page.locator("#tags")
        expect(tags).to_contain_text("vision")
        expect(tags).not_to_contain_text(NOTE_TAG)
        expect(page.locator("#tags-count")).to_have_text("1")
        screenshot(page, "run-notes-from-mlflow")

        page.locator("#edit-notes").click()
        editor = page.get_by_label("Notes")
        expect(editor).to_have_value(note)
        editor.fill("Rewritten in the UI")
        page.get_by_role("button", name="Save").click()
        expect(notes).to_have_text("Rewritten in the UI")
        assert note_in_mlflow(mlflow_client, run) == "Rewritten in the UI"

        page.reload()
        expect(notes).to_have_text("Rewritten in the UI")
        page.locator("#edit-notes").click()
        page.get_by_label("Notes").fill("")
        page.get_by_role("button", name="Save").click()
        expect(notes).to_contain_text("No notes")
        assert note_in_mlflow(mlflow_client, run) is None


class TestOneSourceOfTruth:
    def test_a_v1_description_is_the_mlflow_note_both_ways(
        self, api: httpx.Client, mlflow_client: MlflowClient
    ) -> None:
        experiment = make_experiment(api, "notes-v1")
        run = make_run(api, experiment["id"], "described", description="from v1")
        assert note_in_mlflow(mlflow_client, run) == "from v1"

        patched = api.patch(f"/runs/{run['id']}", json={"description": "patched"})
        assert patched.json()["description"] == "patched"
        assert note_in_mlflow(mlflow_client, run) == "patched"

        mlflow_client.set_tag(mlflow_id(run), NOTE_TAG, "from mlflow")
        assert api.get(f"/runs/{run['id']}").json()["description"] == "from mlflow"
        mlflow_client.delete_tag(mlflow_id(run), NOTE_TAG)
        assert api.get(f"/runs/{run['id']}").json()["description"] is None


class TestExperimentNotes:
    def test_an_experiments_mlflow_note_is_its_description_both_ways(
        self, page: Page, api: httpx.Client, mlflow_client: MlflowClient
    ) -> None:
        experiment = make_experiment(api, "noted-exp", description="from v1")
        mlflow_id = str(experiment["id"]).replace("-", "")
        assert mlflow_client.get_experiment(mlflow_id).tags[NOTE_TAG] == "from v1"

        mlflow_client.set_experiment_tag(mlflow_id, NOTE_TAG, "from <b>mlflow</b>")
        assert api.get(f"/experiments/{experiment['id']}").json()["description"] == (
            "from <b>mlflow</b>"
        )
        listed = api.get("/experiments", params={"name": experiment["name"]}).json()["items"]
        assert [item["description"] for item in listed] == ["from <b>mlflow</b>"]
        page.goto(f"/experiments/{experiment['id']}")
        expect(page.locator("#description")).to_have_text("from <b>mlflow</b>")

        patched = api.patch(f"/experiments/{experiment['id']}", json={"description": "patched"})
        assert patched.json()["description"] == "patched"
        assert mlflow_client.get_experiment(mlflow_id).tags[NOTE_TAG] == "patched"
