"""`uvicorn app.main:app` from the repository root serves `mltrail_server.main:app`."""

from mltrail_server.main import app, create_app

__all__ = ["app", "create_app"]
