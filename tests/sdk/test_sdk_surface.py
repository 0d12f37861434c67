"""The SDK's public surface is pinned: adding or dropping a name is a decision, made here."""

import mltrail

PUBLIC = {
    "ActiveRun",
    "ApiError",
    "ApiKey",
    "ArtifactFile",
    "Client",
    "ConfigError",
    "Conflict",
    "Experiment",
    "Forbidden",
    "InvalidRequest",
    "MetricHistory",
    "MetricPoint",
    "MetricSummary",
    "MltrailError",
    "NotFound",
    "Run",
    "RunList",
    "RunSummary",
    "ServerUnreachable",
    "Settings",
    "SyncReport",
    "Unauthorized",
    "User",
    "init",
    "start_run",
    "sync",
}


def test_the_public_names_are_the_pinned_ones() -> None:
    assert set(mltrail.__all__) == PUBLIC
    assert len(mltrail.__all__) == len(PUBLIC), "a name is listed twice in __all__"


def test_every_public_name_exists_and_is_documented() -> None:
    for name in mltrail.__all__:
        value = getattr(mltrail, name)
        assert (value.__doc__ or "").strip(), f"mltrail.{name} has no docstring"


def test_every_error_is_an_mltrail_error() -> None:
    errors = [getattr(mltrail, n) for n in mltrail.__all__ if n.endswith(("Error", "Request"))]
    errors += [mltrail.Conflict, mltrail.NotFound, mltrail.Unauthorized, mltrail.Forbidden]
    errors += [mltrail.ServerUnreachable]
    assert all(issubclass(error, mltrail.MltrailError) for error in errors)
    assert not issubclass(mltrail.Forbidden, mltrail.Unauthorized)


def test_importing_the_sdk_changes_no_logger() -> None:
    import subprocess
    import sys

    code = (
        "import logging; before = list(logging.getLogger('httpx').filters);"
        "import mltrail, mltrail.sender, mltrail.client, mltrail.run;"
        "print(logging.getLogger('httpx').filters == before)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "True", done.stderr
