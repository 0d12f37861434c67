"""Whether the real PostgreSQL and Redis are reachable. Under CI=true a missing one fails
the run; elsewhere the tests that need it are skipped with the reason."""

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    message = f"{service} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true requires it)", pytrace=False)
    pytest.skip(message)


def address(url: str, default_port: int) -> tuple[str, int]:
    """The host and port a service URL points at (TEST_POSTGRES_URL, TEST_REDIS_URL)."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def require_postgres() -> None:
    require("PostgreSQL", *address(POSTGRES_URL, 5432))


def require_redis() -> None:
    require("Redis", *address(REDIS_URL, 6379))


def require_module(name: str, why: str) -> object:
    """Import `name`; without it, fail under CI=true (the suite needs it) or skip elsewhere."""
    try:
        return __import__(name)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{name} is not installed: {why} (CI=true requires it)", pytrace=False)
        pytest.skip(f"{name} is not installed: {why}", allow_module_level=True)
