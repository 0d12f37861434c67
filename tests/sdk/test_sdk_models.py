"""`mltrail models ...` and `client.models` over real HTTP against a live server: register a
run's model twice, alias it, list and show it (tables and --json), delete a version, then
the model."""

import json
import uuid

from typer.testing import CliRunner

import mltrail
from mltrail.cli import app
from tests.sdk.live_server import LiveServer

runner = CliRunner(env={"COLUMNS": "200"})


def ok(server: LiveServer, *arguments: str) -> str:
    result = runner.invoke(app, ["--url", server.url, *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout


class TestModelsCli:
    def test_register_alias_list_show_and_remove(self, server: LiveServer) -> None:
        api = mltrail.Client(server.url)
        experiment = api.experiments.create(f"models-{uuid.uuid4().hex[:8]}")
        run = api.runs.create(experiment.id)
        name = f"churn {uuid.uuid4().hex[:6]}"  # a space travels percent-encoded

        first = json.loads(ok(server, "models", "register", run.id, name, "--json"))
        assert (first["version"], first["run_id"]) == (1, run.id)
        assert first["source"] == f"runs:/{uuid.UUID(run.id).hex}/model"
        assert "version 2" in ok(server, "models", "register", "s3://bucket/m", name)
        assert "-> version 2" in ok(server, "models", "alias", name, "champion", "2")

        listed = json.loads(ok(server, "models", "ls", "--filter", f"name = '{name}'", "--json"))
        assert [(m["name"], m["latest_version"], m["aliases"]) for m in listed] == [
            (name, 2, {"champion": 2})
        ]
        table = ok(server, "models", "ls")
        assert name in table and "@champion=2" in table
        shown = ok(server, "models", "show", name)
        assert "@champion" in shown and "s3://bucket/m" in shown

        ok(server, "models", "rm", name, "--version", "2")
        model = api.models.get(name)
        assert ([v.version for v in model.versions], model.aliases) == ([1], {})
        ok(server, "models", "rm", name)
        missing = runner.invoke(app, ["--url", server.url, "models", "show", name])
        assert missing.exit_code != 0
