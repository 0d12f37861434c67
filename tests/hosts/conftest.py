"""The multi-host tests need root (network namespaces), iproute2, HAProxy and redis-server;
under CI=true a missing one fails, elsewhere it skips."""

import shutil
from collections.abc import Iterator

import pytest

from tests.hosts.network import netns_available
from tests.hosts.team import Team, haproxy_binary
from tests.services_available import IN_CI, require_postgres


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true requires it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    require_postgres()
    _require(netns_available())
    _require(None if haproxy_binary() else "HAProxy is not installed (Debian: haproxy)")
    _require(None if shutil.which("redis-server") else "redis-server is not installed")
    deployment = Team(tmp_path_factory.mktemp("team"))
    deployment.start()
    yield deployment
    deployment.stop()
