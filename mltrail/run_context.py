"""What a run was started from, recorded once when it is created: git state, the command
line, Python, the host, Slurm and Kubernetes job ids (as run tags, searchable like any
other), and the installed packages (and, when asked, the uncommitted diff) as artifacts.

MLflow's own tag names are used where it has one (`mlflow.source.git.commit`, ...), so
runs look the same to MLflow's UI and client; the rest are `mltrail.context.*`. Git is asked
through its command line with a short timeout: no git, or not a repository, and the git
tags are simply left out.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
from importlib import metadata
from pathlib import Path

from mltrail import artifacts
from mltrail.config import Settings
from mltrail.errors import MltrailError
from mltrail.sender import THREAD_PREFIX
from mltrail.transport import Transport

__all__ = [
    "ARTIFACT_DIR",
    "DIFF_FILE",
    "REQUIREMENTS_FILE",
    "context_tags",
    "git_diff",
    "requirements",
    "upload_context_files",
]

logger = logging.getLogger("mltrail")

GIT_TIMEOUT_SECONDS = 3.0
ARTIFACT_DIR = "context"
REQUIREMENTS_FILE = "requirements.txt"
DIFF_FILE = "git.diff"
PREFIX = "mltrail.context."
_MAX_TAG = 5000  # the server's tag value limit (MLflow's 8000 is larger; this is safe)

#: Slurm's variables that name a job, recorded as `mltrail.context.slurm.<lower name>`.
SLURM_VARIABLES = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_JOB_NAME",
    "SLURM_PROCID",
    "SLURM_CLUSTER_NAME",
)


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):  # no git binary, or it hangs
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode(errors="replace")


def _git_tags(cwd: Path) -> dict[str, str]:
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return {}
    tags = {"mlflow.source.git.commit": commit.strip()}
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch.strip() != "HEAD":  # "HEAD": a detached checkout, no branch
        tags["mlflow.source.git.branch"] = branch.strip()
    remote = _git(cwd, "config", "--get", "remote.origin.url")
    if remote and remote.strip():
        tags["mlflow.source.git.repoURL"] = remote.strip()
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    if status is not None:
        tags[PREFIX + "git.dirty"] = "true" if status.strip() else "false"
    diff = git_diff(cwd)
    if diff is not None:
        tags[PREFIX + "git.diff_bytes"] = str(len(diff))
    return tags


def git_diff(cwd: Path | None = None) -> bytes | None:
    """`git diff HEAD` (staged and unstaged changes of tracked files), or None outside git."""
    text = _git(Path.cwd() if cwd is None else cwd, "diff", "HEAD", "--no-color")
    return None if text is None else text.encode()


def _cluster_tags() -> dict[str, str]:
    tags = {
        PREFIX + "slurm." + name.removeprefix("SLURM_").lower(): os.environ[name]
        for name in SLURM_VARIABLES
        if os.environ.get(name)
    }
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        pod = os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()
        tags[PREFIX + "k8s.pod"] = pod
        namespace = os.environ.get("POD_NAMESPACE")
        if namespace:
            tags[PREFIX + "k8s.namespace"] = namespace
    return tags


#: An option whose name says it holds a secret (`--api-key`, `--hf_token=…`, `-password`).
_SECRET_OPTION = re.compile(r"^--?[\w.-]*(key|token|secret|passw(or)?d|credential)[\w.-]*$", re.I)
REDACTED = "***"


def redacted(argv: list[str]) -> list[str]:
    """`argv` with the value of every secret-looking option replaced by `***`, so that the
    command line recorded as a tag carries no API key or password."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, equals, _ = arg.partition("=")
        if _SECRET_OPTION.match(name):
            if equals:
                out.append(f"{name}={REDACTED}")
                continue
            hide_next = True
        out.append(arg)
    return out


def context_tags(user: str, cwd: Path | None = None) -> dict[str, str]:
    """The context of `user`'s run started now in `cwd` (default: the working directory)."""
    where = Path.cwd() if cwd is None else cwd
    script = sys.argv[0] if sys.argv and sys.argv[0] else "<interactive>"
    tags = {
        "mlflow.user": user,
        "mlflow.source.name": script,
        "mlflow.source.type": "LOCAL",
        PREFIX + "command": shlex.join(redacted(sys.argv)),
        PREFIX + "python": platform.python_version(),
        PREFIX + "executable": sys.executable,
        PREFIX + "hostname": socket.gethostname(),
        PREFIX + "platform": platform.platform(),
        PREFIX + "cwd": str(where),
    }
    tags.update(_git_tags(where))
    tags.update(_cluster_tags())
    return {key: value[:_MAX_TAG] for key, value in tags.items()}


def requirements() -> str:
    """The installed distributions as `requirements.txt` lines (`name==version`), sorted."""
    pins: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            pins.setdefault(name.lower(), f"{name}=={dist.version}")
    return "".join(line + "\n" for _, line in sorted(pins.items()))


def upload_context_files(settings: Settings, run_id: str, *, diff: bytes | None) -> None:
    """Upload `context/requirements.txt` (and `context/git.diff` when `diff` is given) to the
    run; best effort: a failure is logged as a warning, the run goes on."""
    try:
        with tempfile.TemporaryDirectory(prefix="mltrail-context-") as temporary:
            folder = Path(temporary)
            (folder / REQUIREMENTS_FILE).write_text(requirements())
            if diff is not None:
                (folder / DIFF_FILE).write_bytes(diff)
            with Transport(settings) as transport:
                for path in sorted(folder.iterdir()):
                    artifacts.upload_file(transport, run_id, path, ARTIFACT_DIR)
    except (MltrailError, OSError) as exc:
        logger.warning("mltrail: could not upload run %s's context files: %s", run_id, exc)


def start_upload(settings: Settings, run_id: str, *, diff: bytes | None) -> threading.Thread:
    """`upload_context_files` on a daemon thread (the run does not wait for it)."""
    thread = threading.Thread(
        target=upload_context_files,
        args=(settings, run_id),
        kwargs={"diff": diff},
        # The sender's prefix: its requests stay out of the application's INFO log too.
        name=f"{THREAD_PREFIX}context-{run_id[:8]}",
        daemon=True,
    )
    thread.start()
    return thread
