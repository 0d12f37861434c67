"""The seed's entry point, kept so that `uvicorn app.main:app` and `gunicorn app.main:app`
work from a checkout of this repository. The server itself is the `mltrail_server` package;
this shim is not installed with it."""
