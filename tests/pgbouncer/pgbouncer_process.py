"""A pgbouncer of the test's own (Debian's `pgbouncer` package) on a free port, in
transaction mode, in front of one database of the test PostgreSQL: its own ini file, log
and pid file in a temporary folder. Like PostgreSQL it refuses to run as root, so as root
it runs as the `postgres` user."""

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.replica.postgres_cluster import as_postgres, owned_folder
from tests.sdk.live_server import free_port, stop_process
from tests.services_available import IN_CI

__all__ = ["PgBouncer", "find_pgbouncer", "start_pgbouncer"]

DEADLINE_SECONDS = 30.0


def find_pgbouncer() -> str:
    """The pgbouncer binary (Debian puts it in /usr/sbin, off a user's PATH); under CI=true
    a missing one fails the run (.ci/run installs it), elsewhere the test is skipped."""
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if found is None:
        message = "pgbouncer is not installed (apt-get install pgbouncer)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return found


@dataclass
class PgBouncer:
    folder: Path
    port: int
    database: str
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """The database through pgbouncer, as DATABASE_URL."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text() if path.exists() else ""

    def admin(self, command: str) -> list[dict[str, str]]:
        """A command of pgbouncer's admin console (`SHOW POOLS`...), as rows. The console
        speaks only the simple query protocol, which psql uses."""
        psql = shutil.which("psql") or "psql"
        done = subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-X", "-A"]
            + ["-F", "\t", "-P", "footer=off", "-c", command, "pgbouncer"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        header, *rows = done.stdout.splitlines()
        names = header.split("\t")
        return [dict(zip(names, row.split("\t"), strict=True)) for row in rows]

    def stop(self) -> None:
        if self.process.poll() is None:
            stop_process(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_pgbouncer(upstream: str, database: str, pool_size: int = 2) -> PgBouncer:
    """pgbouncer in transaction mode, `pool_size` server connections to `database` on the
    PostgreSQL of `upstream` (a postgresql:// URL with trust authentication)."""
    binary = find_pgbouncer()
    parts = urlsplit(upstream)
    folder = owned_folder("mltrail-pgbouncer-")
    port = free_port()
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        "\n".join(
            (
                "[databases]",
                f"{database} = host={parts.hostname or '127.0.0.1'} port={parts.port or 5432} "
                f"dbname={database} user={parts.username or 'postgres'}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = any",
                "admin_users = postgres",
                "pool_mode = transaction",
                f"default_pool_size = {pool_size}",
                "min_pool_size = 0",
                "reserve_pool_size = 0",
                "max_client_conn = 500",
                "server_reset_query =",
                f"logfile = {folder / 'pgbouncer.log'}",
                f"pidfile = {folder / 'pgbouncer.pid'}",
                "",
            )
        )
    )
    process = subprocess.Popen(
        as_postgres([binary, str(ini)]), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    bouncer = PgBouncer(folder, port, database, process)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            log = bouncer.log
            bouncer.stop()
            raise RuntimeError(f"pgbouncer did not start:\n{log[-3000:]}")
        time.sleep(0.05)
    return bouncer


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
