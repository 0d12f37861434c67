"""The suite's own service probes look where the test URLs point, not at fixed ports."""

import socket
import subprocess
import sys
from pathlib import Path

from tests.services_available import address


def test_the_probe_reads_the_test_urls() -> None:
    assert address("postgresql://postgres@db.internal:6543", 5432) == ("db.internal", 6543)
    assert address("postgresql://postgres@127.0.0.1", 5432) == ("127.0.0.1", 5432)
    assert address("redis://cache:6380/0", 6379) == ("cache", 6380)


def test_a_missing_service_fails_under_ci() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but not listening: nothing answers
        code = (
            "import os; os.environ['CI']='true';"
            f"os.environ['TEST_REDIS_URL']='redis://127.0.0.1:{port}/0';"
            "import pytest, tests.services_available as s;"
            "\ntry:\n  s.require_redis()\nexcept pytest.fail.Exception as e: print('FAIL', e)"
            "\nexcept pytest.skip.Exception as e: print('SKIP', e)"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.startswith(f"FAIL Redis is not reachable at 127.0.0.1:{port}"), done


def test_a_missing_module_fails_under_ci_instead_of_skipping() -> None:
    """The MLflow client tests need mlflow (tests/mlflow/conftest.py): under CI=true its
    absence fails the run, it never skips the tests silently."""
    code = (
        "import os; os.environ['CI']='true';"
        "import pytest, tests.services_available as s;"
        "\ntry:\n  s.require_module('no_such_module_here', 'the test needs it')"
        "\nexcept pytest.fail.Exception as e: print('FAIL', e)"
        "\nexcept pytest.skip.Exception as e: print('SKIP', e)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.startswith("FAIL no_such_module_here is not installed"), done


def test_no_test_module_skips_on_a_missing_module_behind_ci() -> None:
    """`pytest.importorskip` would skip under CI=true too: every optional import goes through
    `require_module` (the MLflow client tests' mlflow among them)."""
    tests = Path(__file__).parent
    offenders = [
        str(path.relative_to(tests))
        for path in tests.rglob("*.py")
        if path != Path(__file__) and "importorskip(" in path.read_text()
    ]
    assert offenders == []
    assert 'require_module("mlflow"' in (tests / "mlflow" / "conftest.py").read_text()
