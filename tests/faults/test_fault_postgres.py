"""PostgreSQL restarted under load: 503 with Retry-After while it is down, recovery without
restarting the server, and every write that got a 2xx is in the database afterwards.

The database is a private throwaway cluster (initdb in a temporary directory, on a free
port), stopped with `pg_ctl stop -m fast` and started again while clients write.
"""

import asyncio
from pathlib import Path

import httpx

from tests.faults.conftest import LiveServer, PrivatePostgres
from tests.faults.traffic import Traffic, lost_writes, seed, summary

CLIENTS = 8
OUTAGE_SECONDS = 3.0
# PostgreSQL is back within a second or two; every request must succeed from 7 s after.
RECOVERY_SECONDS = 10.0
MIX = [
    ("create_experiment", 2),
    ("log_points", 4),
    ("log_param", 2),
    ("describe_experiment", 1),
    ("read_experiment", 2),
    ("list_experiments", 1),
    ("read_run", 2),
]
WRITES = {"create_experiment", "log_points", "log_param", "describe_experiment"}


async def ready_status(client: httpx.AsyncClient) -> tuple[int, str | None]:
    response = await client.get("/ready")
    return response.status_code, response.headers.get("Retry-After")


class TestPostgresRestartedUnderLoad:
    async def test_503_while_down_then_recovery_and_nothing_acknowledged_is_lost(
        self, tmp_path: Path, private_postgres: PrivatePostgres, servers: list[LiveServer]
    ) -> None:
        server = LiveServer(tmp_path, {"DATABASE_URL": private_postgres.url})
        servers.append(server)
        server.start()
        assert server.process is not None
        pid = server.process.pid
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            world = await seed(client)
            traffic = Traffic([client], world)
            async with traffic.running(MIX, per_client=CLIENTS):
                await traffic.hold("up", 2.0)
                traffic.phase = "stopping"
                await asyncio.to_thread(private_postgres.stop, "fast")
                await traffic.hold("down", OUTAGE_SECONDS)
                ready_while_down = await ready_status(client)
                traffic.phase = "starting"
                await asyncio.to_thread(private_postgres.start)
                await traffic.hold("recovering", RECOVERY_SECONDS - 3.0)
                await traffic.hold("recovered", 3.0, at_least=31)
            ready_after = await ready_status(client)
            lost = await lost_writes(client, traffic.written)

        # Only 2xx and 503, every 503 with a Retry-After in seconds; nothing hung.
        print(traffic.report())
        bad = traffic.failures(allowed=frozenset({503}))
        assert not bad, summary(bad) + "\n" + server.errors_logged()
        unavailable = [a for a in traffic.answers if a.status == 503]
        assert unavailable, "the outage went unnoticed: no 503 while PostgreSQL was down"
        assert all(a.retry_after and a.retry_after.isdigit() for a in unavailable)
        assert ready_while_down[0] == 503 and ready_while_down[1], ready_while_down
        # Back without restarting the server: the same process answers everything again.
        assert server.alive and server.process.pid == pid
        recovered = traffic.in_phase("recovered")
        assert len(recovered) > 30, "too little load after the restart"
        assert all(200 <= a.status < 300 for a in recovered), summary(
            [a for a in recovered if a.status >= 300]
        )
        assert ready_after == (200, None)
        assert {a.operation for a in recovered if a.operation in WRITES} == WRITES
        # Every acknowledged write is stored, once.
        assert not lost, "\n".join(lost)
        assert traffic.written.points and traffic.written.experiments and traffic.written.params
