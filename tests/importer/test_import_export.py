"""`mltrail import export`: what `mltrail export` wrote (CSV or Parquet) imported into
another server, then exported again, gives the same files."""

import csv
import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.importer.conftest import run_cli, run_import
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

EXPERIMENT = "round-trip"


def filled(server: LiveServer, fmt: str) -> list[str]:
    """An experiment with a parent and a nested child, NaN and ±inf, params, tags, notes;
    an empty tag only for Parquet (a CSV cell cannot tell it from a missing one)."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        created = http.post("/api/v1/experiments", json={"name": EXPERIMENT, "owner": "ana"})
        experiment = created.json()["id"]
        ids = []
        for index, parent in enumerate([None, "first"]):
            body: dict[str, Any] = {
                "name": f"run-{index}",
                "user": "ana",
                "description": "notes, with a comma" if index == 0 else None,
                "started_at": f"2024-05-0{index + 1}T10:00:00.123456Z",
                "params": {"lr": "0.01", "seed": str(index)},
                "tags": {"team": "nlp", "empty": ""}
                if index == 0 and fmt == "parquet"
                else {"team": "nlp"},
            }
            if parent is not None:
                body["parent_run_id"] = ids[0]
            run = http.post(f"/api/v1/experiments/{experiment}/runs", json=body).json()
            ids.append(run["id"])
            values = [0.5, "NaN", "Infinity", "-Infinity", 1e-300, 0.1 + 0.2]
            metrics = [
                {"key": key, "value": value, "step": step, "timestamp": 1_700_000_000_000 + step}
                for key in ("loss", "val/acc")
                for step, value in enumerate(values * 200)
            ]
            logged = http.post(f"/api/v1/runs/{run['id']}/batch", json={"metrics": metrics})
            assert logged.status_code == 200, logged.text
            http.patch(
                f"/api/v1/runs/{run['id']}",
                json={"status": "completed", "ended_at": "2024-05-03T00:00:00Z"},
            )
    return ids


def exported(server: LiveServer, folder: Path, fmt: str) -> tuple[list[dict[str, Any]], list]:
    done = run_cli("export", "-e", EXPERIMENT, "-o", str(folder), "--format", fmt, url=server.url)
    assert done.returncode == 0, done.stderr
    if fmt == "csv":
        with (folder / "runs.csv").open() as handle:
            runs = list(csv.DictReader(handle))
        with (folder / "metrics.csv").open() as handle:
            points = [tuple(row.values()) for row in csv.DictReader(handle)]
    else:
        import pyarrow.parquet as pq

        runs = pq.read_table(folder / "runs.parquet").to_pylist()
        points = [
            (r["run_id"], r["key"], r["step"], r["timestamp"], repr(r["value"]))
            for r in pq.read_table(folder / "metrics.parquet").to_pylist()
        ]
    for run in runs:
        run.pop("experiment_id")  # new on the other server
        for key, value in run.items():
            if isinstance(value, float) and math.isnan(value):
                run[key] = "nan"
    return sorted(runs, key=lambda r: r["run_id"]), sorted(points)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_then_import_round_trips_exactly(
    fmt: str, ours: LiveServer, other: LiveServer, tmp_path: Path
) -> None:
    if fmt == "parquet":
        require_module("pyarrow", "Parquet exports are read and written with it")
    ids = filled(ours, fmt)
    first = exported(ours, tmp_path / "first", fmt)
    for _ in range(2):  # the second pass stores nothing twice
        done = run_import("export", str(tmp_path / "first"), "--to", other.url, "-e", EXPERIMENT)
        assert done.returncode == 0, done.stderr + done.stdout
    assert exported(other, tmp_path / "second", fmt) == first
    assert {run["run_id"] for run in first[0]} == set(ids)
    assert len(first[1]) == 2 * 2 * 6 * 200
    child = httpx.get(f"{other.url}/api/v1/runs/{ids[1]}").json()
    assert child["parent_run_id"] == ids[0]


def test_files_that_are_not_an_export_are_refused(ours: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("a,b\n")
    done = run_import("export", str(tmp_path), "--to", ours.url)
    assert done.returncode == 1
    assert "no runs.csv or runs.parquet" in done.stderr
