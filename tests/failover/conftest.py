"""The failover tests need pg_auto_failover (Debian: postgresql-15-auto-failover and
pg-auto-failover-cli) and PostgreSQL's server binaries; under CI=true a missing one fails,
elsewhere it skips."""

from collections.abc import Iterator

import pytest

from tests.failover.formation import Formation, pg_autoctl_binary
from tests.replica.conftest import require_postgres_binaries
from tests.services_available import IN_CI


@pytest.fixture
def formation() -> Iterator[Formation]:
    require_postgres_binaries()
    if pg_autoctl_binary() is None:
        reason = "pg_autoctl is not installed (Debian: pg-auto-failover-cli)"
        if IN_CI:
            pytest.fail(f"{reason} (CI=true requires it)", pytrace=False)
        pytest.skip(reason)
    started = Formation()
    try:
        started.start()
        yield started
    finally:
        started.stop()
