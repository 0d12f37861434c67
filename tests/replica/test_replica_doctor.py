"""`mltrail doctor` and the start-up settings on a read replica: what an operator is told."""

from pathlib import Path

from tests.replica.conftest import DATABASE
from tests.replica.postgres_cluster import Replication
from tests.sdk.test_doctor import finding, findings


def test_doctor_finds_the_standby(replication: Replication, tmp_path: Path) -> None:
    _, found = findings(
        tmp_path,
        DATABASE_URL=replication.primary.url(DATABASE),
        DATABASE_READ_URL=replication.standby.url(DATABASE),
    )
    replica = finding(found, "replica")
    assert replica["status"] == "ok", replica
    assert "hot standby" in replica["detail"] and str(replication.standby.port) in replica["detail"]


def test_doctor_warns_of_a_replica_that_is_no_standby(
    replication: Replication, tmp_path: Path
) -> None:
    # The primary itself answers, but nothing copies the writes to it from elsewhere.
    _, found = findings(
        tmp_path,
        DATABASE_URL=replication.primary.url(DATABASE),
        DATABASE_READ_URL=replication.primary.url(DATABASE),
    )
    replica = finding(found, "replica")
    assert replica["status"] == "warning"
    assert "not a standby" in replica["detail"]
    assert "DATABASE_READ_URL" in replica["fix"]


def test_doctor_reports_a_replica_that_is_down(replication: Replication, tmp_path: Path) -> None:
    replication.standby.stop()
    try:
        code, found = findings(
            tmp_path,
            DATABASE_URL=replication.primary.url(DATABASE),
            DATABASE_READ_URL=replication.standby.url(DATABASE),
        )
    finally:
        replication.standby.start()
    replica = finding(found, "replica")
    assert code != 0
    assert replica["status"] == "error"
    assert "cannot reach the read replica" in replica["detail"]
    assert "reads go to DATABASE_URL while it is down" in replica["detail"]
    # The primary's own checks are unaffected.
    assert finding(found, "database")["status"] == "ok"


def test_doctor_without_a_replica_says_so(tmp_path: Path) -> None:
    _, found = findings(tmp_path)
    assert finding(found, "replica") == {
        "check": "replica",
        "status": "ok",
        "detail": "not configured: every request uses DATABASE_URL",
        "fix": "",
    }


def test_doctor_names_a_bad_replica_url_and_checks_the_rest(tmp_path: Path) -> None:
    code, found = findings(tmp_path, DATABASE_READ_URL="mysql://standby/x")
    assert code != 0
    configuration = finding(found, "configuration")
    assert configuration["status"] == "error"
    assert configuration["detail"].startswith("DATABASE_READ_URL: ")
    assert finding(found, "replica")["detail"] == "not checked: DATABASE_READ_URL invalid"
    # The other checks still run.
    assert not finding(found, "database")["detail"].startswith("not checked")
