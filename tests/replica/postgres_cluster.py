"""A PostgreSQL primary and its hot standby, each a cluster of the test's own on a free port,
made with this machine's PostgreSQL binaries: `initdb` for the primary (`wal_level=replica`,
a replication entry in pg_hba.conf), `pg_basebackup -R` for the standby, which then streams
the primary's WAL. The shared server on 127.0.0.1:5432 is not touched.

PostgreSQL refuses to run as root: as root, every binary runs as the `postgres` user, in
temporary folders that user owns.
"""

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.sdk.live_server import free_port

__all__ = ["Cluster", "Replication", "as_postgres", "find_binary", "start_replication"]

DEADLINE_SECONDS = 60.0


def find_binary(name: str) -> str:
    """`name` from the newest installed PostgreSQL (Debian keeps them off the PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise FileNotFoundError(f"{name}: no PostgreSQL server binaries on this machine")
    return on_path


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def as_postgres(command: Sequence[str]) -> list[str]:
    """`command` run as the `postgres` user when we are root (PostgreSQL and PgBouncer both
    refuse root); as is otherwise. `setpriv` execs, so a Popen's pid is the program's own."""
    if os.geteuid() != 0:
        return list(command)
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *command]


def owned_folder(prefix: str) -> Path:
    """A new temporary folder that the user running PostgreSQL owns."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    return folder


def _run(command: Sequence[str]) -> None:
    done = subprocess.run(as_postgres(command), capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


@dataclass
class Cluster:
    """One PostgreSQL cluster: its data folder, port and log."""

    data: Path
    port: int

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.data.name}.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1"
        command = [find_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.log)]
        command += ["-o", options, "-w", "-t", str(int(DEADLINE_SECONDS)), "start"]
        try:
            _run(command)
        except RuntimeError as exc:
            tail = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{exc}\n{tail}") from None

    def stop(self) -> None:
        """Stop it at once (`-m fast`); nothing if it is not running."""
        if (self.data / "postmaster.pid").exists():
            _run([find_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    async def fetchval(self, query: str, database: str = "postgres") -> object:
        connection = await asyncpg.connect(self.url(database), timeout=10)
        try:
            return await connection.fetchval(query)
        finally:
            await connection.close()

    async def execute(self, query: str, database: str = "postgres") -> None:
        connection = await asyncpg.connect(self.url(database), timeout=10)
        try:
            await connection.execute(query)
        finally:
            await connection.close()


@dataclass
class Replication:
    """A primary and its streaming hot standby, in one temporary folder."""

    folder: Path
    primary: Cluster
    standby: Cluster

    async def pause_replay(self) -> None:
        """The standby stops applying WAL (it keeps receiving it): from here on it shows
        the primary as it was, which is how a test sees which of the two answered."""
        await self.standby.execute("SELECT pg_wal_replay_pause()")
        await self._wait_replay_state("paused")

    async def resume_replay(self) -> None:
        await self.standby.execute("SELECT pg_wal_replay_resume()")
        await self._wait_replay_state("not paused")

    async def wait_caught_up(self) -> None:
        """Until the standby has applied everything the primary has written so far."""
        target = await self.primary.fetchval("SELECT pg_current_wal_lsn()::text")
        query = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not await self.standby.fetchval(query):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby did not replay up to {target}")
            await asyncio.sleep(0.05)

    async def _wait_replay_state(self, state: str) -> None:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while await self.standby.fetchval("SELECT pg_get_wal_replay_pause_state()") != state:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby's replay did not become {state!r}")
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        for cluster in (self.standby, self.primary):
            # Stopped already, or never started: the folder goes anyway.
            with contextlib.suppress(RuntimeError):
                cluster.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start_replication() -> Replication:
    """A running primary and a running hot standby streaming from it. The caller stops both
    with `Replication.stop()`, which also removes their folder."""
    folder = owned_folder("mltrail-replica-")
    primary = Cluster(folder / "primary", free_port())
    standby = Cluster(folder / "standby", free_port())
    replication = Replication(folder, primary, standby)
    try:
        _run([find_binary("initdb"), "-D", str(primary.data), "-U", "postgres", "-A", "trust"])
        settings = "\n".join(
            (
                "wal_level = replica",
                "max_wal_senders = 5",
                "hot_standby = on",
                "max_connections = 100",
                "fsync = off",
                "full_page_writes = off",
                "shared_buffers = 32MB",
                "",
            )
        )
        _append(primary.data / "postgresql.conf", settings)
        _append(
            primary.data / "pg_hba.conf",
            "host replication postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n",
        )
        primary.start()
        backup = [find_binary("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port)]
        backup += ["-U", "postgres", "-D", str(standby.data), "-R", "-X", "stream", "-c", "fast"]
        _run(backup)
        standby.start()
    except BaseException:
        replication.stop()
        raise
    return replication


def _append(path: Path, text: str) -> None:
    # Appending keeps the file's owner (postgres, when we run as root).
    with path.open("a") as handle:
        handle.write(text)
