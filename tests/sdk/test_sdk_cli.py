"""The `mltrail` command line against a live server: what it prints, and its exit codes."""

import csv
import importlib.util
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import mltrail
from mltrail.cli import app
from tests.sdk.live_server import LiveServer, free_port

runner = CliRunner(env={"COLUMNS": "200"})  # a wide table, whatever runs the tests


def invoke(server: LiveServer, *arguments: str) -> Result:
    return runner.invoke(app, ["--url", server.url, *arguments])


def ok(server: LiveServer, *arguments: str) -> str:
    result = invoke(server, *arguments)
    assert result.exit_code == 0, result.output
    return result.stdout


@dataclass(frozen=True)
class Runs:
    experiment: str
    fast: str
    slow: str
    points: int


@pytest.fixture(scope="module")
def runs(_live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """An experiment with two finished runs that differ in one param."""
    server = _live_server
    if not server.running:
        server.start()
    mltrail.init(url=server.url, spool_dir=tmp_path_factory.mktemp("spool"), flush_interval=0.1)
    name = f"cli-{uuid.uuid4().hex[:8]}"
    ids = []
    for lr, scale in (("0.1", 1.0), ("0.01", 0.5)):
        with mltrail.start_run(
            experiment=name, params={"lr": lr, "epochs": 3}, tags={"team": "nlp"}
        ) as run:
            for step in range(100):
                run.log({"loss": scale / (step + 1), "acc": scale * step / 100}, step=step)
        ids.append(run.id)
    yield Runs(name, ids[0], ids[1], points=2 * 2 * 100)


class TestExperiments:
    def test_create_list_show_rename_remove(self, server: LiveServer) -> None:
        name = f"cli-life-{uuid.uuid4().hex[:6]}"
        created = json.loads(ok(server, "experiments", "create", name, "--json"))
        assert created["name"] == name and created["owner"] == "sdk-tester"

        assert name in ok(server, "experiments", "ls")
        assert created["id"] in ok(server, "experiments", "show", name)

        renamed = ok(server, "experiments", "rename", name, f"{name}-b")
        assert f"to {name}-b" in renamed
        listed = json.loads(ok(server, "experiments", "ls", "--json"))
        assert f"{name}-b" in [e["name"] for e in listed]

        assert "Deleted" in ok(server, "experiments", "rm", f"{name}-b")
        assert f"{name}-b" not in ok(server, "experiments", "ls")

    def test_a_duplicate_name_fails_with_one_line(self, server: LiveServer) -> None:
        name = f"cli-dup-{uuid.uuid4().hex[:6]}"
        ok(server, "experiments", "create", name)
        result = invoke(server, "experiments", "create", name)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.startswith("error:") and "409" in result.stderr
        assert result.stderr.count("\n") == 1

    def test_an_unknown_name_is_not_found(self, server: LiveServer) -> None:
        result = invoke(server, "experiments", "show", "no-such-experiment")
        assert result.exit_code == 1
        assert "No live experiment named 'no-such-experiment'" in result.stderr


class TestRuns:
    def test_ls_shows_runs_with_their_latest_metrics(self, server: LiveServer, runs: Runs) -> None:
        table = ok(server, "runs", "ls", runs.experiment)
        assert runs.fast in table and runs.slow in table
        assert "loss" in table and "0.01" in table  # latest loss of the first run: 1/100
        listed = json.loads(ok(server, "runs", "ls", runs.experiment, "--json"))
        assert {r["id"] for r in listed} == {runs.fast, runs.slow}

    def test_show(self, server: LiveServer, runs: Runs) -> None:
        shown = ok(server, "runs", "show", runs.fast)
        assert "completed" in shown and "lr" in shown and "nlp" in shown
        data = json.loads(ok(server, "runs", "show", runs.fast, "--json"))
        assert data["metrics"]["loss"]["max"] == 1.0
        assert data["params"] == {"lr": "0.1", "epochs": "3"}

    def test_compare_marks_the_param_that_differs(self, server: LiveServer, runs: Runs) -> None:
        data = json.loads(ok(server, "runs", "compare", runs.fast, runs.slow, "--json"))
        assert data["differing_params"] == ["lr"]
        assert data["params"]["lr"] == {runs.fast: "0.1", runs.slow: "0.01"}
        assert data["metrics"]["loss"][runs.slow]["max"] == 0.5
        table = ok(server, "runs", "compare", runs.fast, runs.slow)
        lines = table.splitlines()
        assert any("*" in line and "lr" in line for line in lines)
        assert not any("*" in line and "epochs" in line for line in lines)
        assert "min" in table and "max" in table

    def test_compare_needs_two_runs(self, server: LiveServer, runs: Runs) -> None:
        assert invoke(server, "runs", "compare", runs.fast).exit_code == 2

    def test_rm_then_show_is_not_found(self, server: LiveServer) -> None:
        with mltrail.start_run(experiment="cli-rm") as run:
            pass
        assert "Deleted" in ok(server, "runs", "rm", run.id)
        result = invoke(server, "runs", "show", run.id)
        assert result.exit_code == 1 and "404" in result.stderr


@dataclass(frozen=True)
class Family:
    experiment: str
    parent: str
    children: tuple[str, ...]
    grandchild: str


@pytest.fixture
def family(server: LiveServer) -> Family:
    """`sweep` with trial-0 and trial-1 nested in it, and `fold` nested in trial-0, started in
    that order; and `solo`, started last, with no parent."""
    name = f"nested-{uuid.uuid4().hex[:8]}"
    with mltrail.Client(url=server.url) as api:
        api.experiments.create(name)
        parent = api.runs.create(name, name="sweep").id
        trials = [api.runs.create(name, name=f"trial-{i}", parent_run_id=parent).id for i in (0, 1)]
        fold = api.runs.create(name, name="fold", parent_run_id=trials[0]).id
        api.runs.create(name, name="solo")
    return Family(name, parent, tuple(trials), fold)


class TestNestedRuns:
    def test_ls_indents_children_under_their_parent(
        self, server: LiveServer, family: Family
    ) -> None:
        table = ok(server, "runs", "ls", family.experiment)
        lines = [line for line in table.splitlines() if any(n in line for n in NAMES)]
        # Newest first at each level; children right under their parent, deeper by level.
        assert [name_in(line) for line in lines] == ["solo", "sweep", "trial-1", "trial-0", "fold"]
        by_name = {name_in(line): line for line in lines}
        assert "↳ trial-1" in by_name["trial-1"]
        assert by_name["fold"].index("↳ fold") > by_name["trial-0"].index("↳ trial-0")
        assert family.parent[:8] in by_name["trial-0"]  # the PARENT column
        assert family.children[0][:8] in by_name["fold"]
        assert "PARENT" in table
        listed = json.loads(ok(server, "runs", "ls", family.experiment, "--json"))
        parents = {run["name"]: run["parent_run_id"] for run in listed}
        assert parents == {
            "sweep": None,
            "trial-0": family.parent,
            "trial-1": family.parent,
            "fold": family.children[0],
            "solo": None,
        }

    def test_a_flat_list_has_no_parent_column(self, server: LiveServer, runs: Runs) -> None:
        table = ok(server, "runs", "ls", runs.experiment)
        assert "PARENT" not in table and "↳" not in table

    def test_export_keeps_the_parent_link(
        self, server: LiveServer, family: Family, tmp_path: Path
    ) -> None:
        ok(server, "export", "-e", family.experiment, "-o", str(tmp_path))
        with (tmp_path / "runs.csv").open() as handle:
            rows = {row["name"]: row for row in csv.DictReader(handle)}
        assert rows["fold"]["parent_run_id"] == family.children[0]
        assert rows["trial-1"]["parent_run_id"] == family.parent
        assert rows["sweep"]["parent_run_id"] == ""


NAMES = ("solo", "sweep", "trial-0", "trial-1", "fold")


def name_in(line: str) -> str:
    return next(name for name in NAMES if name in line)


class TestSearch:
    def test_filter_and_order(self, server: LiveServer, runs: Runs) -> None:
        found = json.loads(
            ok(
                server,
                "search",
                "metrics.acc > 0",
                "-e",
                runs.experiment,
                "-o",
                "metrics.acc DESC",
                "--json",
            )
        )
        assert [r["id"] for r in found["runs"]] == [runs.fast, runs.slow]
        only = json.loads(
            ok(server, "search", "params.lr = '0.01'", "-e", runs.experiment, "--json")
        )
        assert [r["id"] for r in only["runs"]] == [runs.slow]

    def test_a_bad_filter_fails_with_the_servers_reason(
        self, server: LiveServer, runs: Runs
    ) -> None:
        result = invoke(server, "search", "metrics.acc >>> 1", "-e", runs.experiment)
        assert result.exit_code == 1
        assert "error:" in result.stderr and "position" in result.stderr


class TestExport:
    def test_csv_holds_every_run_and_every_point(
        self, server: LiveServer, runs: Runs, tmp_path: Path
    ) -> None:
        out = tmp_path / "out"
        summary = json.loads(ok(server, "export", "-e", runs.experiment, "-o", str(out), "--json"))
        assert summary["runs"] == 2 and summary["points"] == runs.points
        with (out / "metrics.csv").open() as handle:
            points = list(csv.DictReader(handle))
        assert len(points) == runs.points
        assert {(p["run_id"], p["key"]) for p in points} == {
            (run, key) for run in (runs.fast, runs.slow) for key in ("loss", "acc")
        }
        with (out / "runs.csv").open() as handle:
            rows = {row["run_id"]: row for row in csv.DictReader(handle)}
        assert rows[runs.slow]["params.lr"] == "0.01"

    def test_parquet(self, server: LiveServer, runs: Runs, tmp_path: Path) -> None:
        result = invoke(
            server, "export", "-e", runs.experiment, "-o", str(tmp_path), "--format", "parquet"
        )
        if importlib.util.find_spec("pyarrow") is None:
            assert result.exit_code == 1
            assert "Parquet export needs pyarrow: pip install pyarrow" in result.stderr
            assert not (tmp_path / "metrics.parquet").exists()
        else:
            assert result.exit_code == 0, result.output
            assert (tmp_path / "metrics.parquet").stat().st_size > 0

    def test_nothing_named_is_a_usage_error(self, server: LiveServer, tmp_path: Path) -> None:
        assert invoke(server, "export", "-o", str(tmp_path)).exit_code == 2


class TestFailures:
    def test_an_unreachable_server_is_one_line_and_exit_1(self) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        result = runner.invoke(app, ["--url", url, "--retry-for", "0", "experiments", "ls"])
        assert result.exit_code == 1
        assert (
            result.stderr
            == f"error: cannot reach the server at {url}: connection refused or host unknown\n"
        )

    def test_server_refuses_several_workers_without_a_shared_cache(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.delenv("CACHE_ENABLED", raising=False)
        result = runner.invoke(app, ["server", "--workers", "4"])
        assert result.exit_code == 2
        assert "REDIS_URL" in result.stderr and "CACHE_ENABLED=false" in result.stderr


class TestServerCommands:
    def test_db_upgrade_creates_the_schema(self, tmp_path: Path) -> None:
        database = tmp_path / "fresh.db"
        result = runner.invoke(app, ["db", "upgrade", "--database-url", f"sqlite:///{database}"])
        assert result.exit_code == 0, result.output
        assert "latest schema" in result.stdout
        assert database.stat().st_size > 0

    def test_python_dash_m_mltrail(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "mltrail", "--version"], capture_output=True, text=True
        )
        assert (done.returncode, done.stdout) == (0, f"mltrail {mltrail.__version__}\n")
