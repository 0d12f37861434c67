"""A pg_auto_failover formation of the test's own: a monitor and two PostgreSQL nodes
(primary and synchronous secondary), each on a free port of 127.0.0.1, each kept by its
`pg_autoctl run`, in a temporary folder owned by the `postgres` user (PostgreSQL refuses to
run as root). When the primary dies, the monitor promotes the secondary. The shared server
on 127.0.0.1:5432 is not touched."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.polling import wait_for
from tests.replica.postgres_cluster import as_postgres, find_binary, owned_folder
from tests.sdk.live_server import free_port

__all__ = ["Formation", "pg_autoctl_binary"]

DEADLINE_SECONDS = 120.0


def pg_autoctl_binary() -> str | None:
    return shutil.which("pg_autoctl")


@dataclass
class Node:
    name: str
    data: Path
    port: int
    keeper: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


@dataclass
class Formation:
    folder: Path = field(default_factory=lambda: owned_folder("mltrail-failover-"))
    monitor: Node = field(init=False)
    nodes: list[Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.monitor = Node("monitor", self.folder / "monitor", free_port())
        self.nodes = [Node(f"node{i}", self.folder / f"node{i}", free_port()) for i in (1, 2)]
        self._env = {
            **os.environ,
            "PATH": f"{Path(find_binary('pg_ctl')).parent}:{os.environ.get('PATH', '')}",
            # pg_autoctl keeps its state under the XDG folders: the formation's own.
            "XDG_CONFIG_HOME": str(self.folder / "config"),
            "XDG_DATA_HOME": str(self.folder / "share"),
            "XDG_RUNTIME_DIR": str(self.folder / "run"),
        }

    @property
    def monitor_url(self) -> str:
        return f"postgres://autoctl_node@{self.monitor.address}/pg_auto_failover"

    def database_url(self, database: str) -> str:
        """Both nodes, the one that takes writes first: libpq's multi-host form."""
        hosts = "&".join(f"host={node.address}" for node in self.nodes)
        return f"postgresql://postgres@/{database}?{hosts}&target_session_attrs=read-write"

    def _autoctl(self, *arguments: str) -> str:
        done = subprocess.run(
            as_postgres([str(pg_autoctl_binary()), *arguments]),
            capture_output=True,
            text=True,
            timeout=DEADLINE_SECONDS,
            env=self._env,
            cwd=self.folder,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_autoctl {' '.join(arguments)}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def _run(self, node: Node) -> None:
        with (self.folder / f"{node.name}.log").open("ab") as log:
            node.keeper = subprocess.Popen(
                as_postgres([str(pg_autoctl_binary()), "run", "--pgdata", str(node.data)]),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self.folder,
                start_new_session=True,
            )

    def start(self) -> None:
        run = self.folder / "run"
        run.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(run, "postgres", "postgres")
        common = ["--hostname", "127.0.0.1", "--listen", "127.0.0.1", "--auth", "trust"]
        common += ["--no-ssl", "--pgctl", find_binary("pg_ctl")]
        self._autoctl(
            "create",
            "monitor",
            "--pgdata",
            str(self.monitor.data),
            "--pgport",
            str(self.monitor.port),
            *common,
        )
        self._run(self.monitor)
        for node in self.nodes:
            self._autoctl(
                "create",
                "postgres",
                "--pgdata",
                str(node.data),
                "--pgport",
                str(node.port),
                "--monitor",
                self.monitor_url,
                "--name",
                node.name,
                *common,
            )
            self._run(node)
        self.wait_for({self.nodes[0].name: "primary", self.nodes[1].name: "secondary"})

    def states(self) -> dict[str, str]:
        """Each node's state as the monitor last heard it (`primary`, `secondary`...)."""
        text = self._autoctl("show", "state", "--pgdata", str(self.monitor.data), "--json")
        return {row["nodename"]: row["current_group_state"] for row in json.loads(text)}

    def wait_for(self, wanted: dict[str, str]) -> None:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            try:
                states = self.states()
            except RuntimeError:
                states = {}
            if all(states.get(name) == state for name, state in wanted.items()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the formation is {states}, not {wanted}")
            time.sleep(0.5)

    def kill(self, node: Node) -> None:
        """The node's machine dies: its keeper and its PostgreSQL, at once (SIGKILL)."""
        pid = node.postmaster_pid()
        if node.keeper is not None:
            os.killpg(node.keeper.pid, signal.SIGKILL)
            node.keeper.wait(timeout=30)
            node.keeper = None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """Everything of the formation killed, then its folder removed. A keeper's helper
        (`pg_autoctl: start/stop postgres`) may leave the keeper's process group, so what
        goes is every process working in the folder."""
        for node in [*self.nodes, self.monitor]:
            self.kill(node)
        for pid in _processes_in(self.folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not _processes_in(self.folder), "the formation's processes gone")
        shutil.rmtree(self.folder, ignore_errors=True)


def _processes_in(folder: Path) -> list[int]:
    """The processes whose working directory is `folder` or below it."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cwd = Path(os.readlink(entry / "cwd").removesuffix(" (deleted)"))
            if cwd.is_relative_to(folder):
                found.append(int(entry.name))
    return found
