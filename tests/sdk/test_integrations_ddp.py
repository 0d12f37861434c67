"""The Lightning logger under real multi-process DDP: two CPU processes (gloo) train one model;
one run holds what rank 0 logged, once per optimizer step, with the hyper-parameters and
the checkpoints, and the second process starts no run of its own."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import mltrail
from tests.sdk.live_server import LiveServer
from tests.services_available import require_module

SCRIPT = Path(__file__).with_name("ddp_training.py")
ROOT = Path(__file__).parents[2]
STEPS_PER_EPOCH = 4  # 8 batches shared by 2 processes


def test_two_processes_log_one_run_from_rank_zero(
    server: LiveServer, client: mltrail.Client, tmp_path: Path
) -> None:
    require_module("torch", "DDP trains a torch model")
    require_module("lightning", "the logger is a Lightning Logger")
    experiment = f"ddp-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "MLTRAIL_URL": server.url,
        "MLTRAIL_SPOOL_DIR": str(tmp_path / "spool"),
        "PYTHONPATH": str(ROOT),
        # Gloo on loopback only; one thread a process keeps two processes on a busy machine.
        "GLOO_SOCKET_IFNAME": "lo",
        "MASTER_ADDR": "127.0.0.1",
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        [sys.executable, str(SCRIPT), experiment, str(tmp_path)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    found = client.experiments.find(experiment)
    assert found is not None
    runs = client.runs.list(found.id)
    assert len(runs) == 1, [run.name for run in runs]  # rank 1 started none
    run = client.runs.get(runs[0].id)
    assert (run.name, run.status, run.params["lr"]) == ("ddp", "completed", "0.05")
    history = client.metric_history(run.id, "train_loss").points
    assert [point.step for point in history] == list(range(2 * STEPS_PER_EPOCH))
    # Only rank 0's logger sends: every `rank` point it logged is 0.
    assert {point.value for point in client.metric_history(run.id, "rank").points} == {0.0}
    listed = {f.path for f in client.list_artifacts(run.id, "checkpoints")}
    assert "checkpoints/last.ckpt" in listed
