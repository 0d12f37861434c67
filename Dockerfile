# syntax=docker/dockerfile:1
# The mltrail server image. Build:   docker build -t mltrail:0.1.0 .
# Migrate once (a one-off container, a compose service or a Kubernetes Job):
#   docker run --rm -v mltrail-data:/data -e DATABASE_URL=... mltrail:0.1.0 mltrail db upgrade
# Serve:  docker run -p 8000:8000 -v mltrail-data:/data -e DATABASE_URL=... mltrail:0.1.0
# Without DATABASE_URL the database is SQLite at /data/tracker.db, on the same volume.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the project's wheel and a wheel of every pinned dependency ----------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mltrail ./mltrail
COPY mltrail_server ./mltrail_server
RUN pip wheel --wheel-dir /wheels '.[server,cli]'

# --- runtime: installs from those wheels alone, runs as an unprivileged user ----------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/data \
    ARTIFACT_ROOT=/data/artifacts \
    MIGRATE_ON_START=false

RUN groupadd --system --gid 10001 mltrail \
    && useradd --system --uid 10001 --gid mltrail --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin mltrail \
    && mkdir -p /data/artifacts /app \
    && chown -R mltrail:mltrail /data

# --no-index: nothing but the wheels of the build stage can be installed, so the version of
# every package is the one pinned in pyproject.toml and built above. pip compiles the
# bytecode here, so a read-only root filesystem costs nothing at start.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels 'mltrail[server,cli]'

# An empty working directory: the server reads an optional `.env` from here, and none is wanted.
WORKDIR /app
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000

# /health touches neither database nor cache: a failing check means the process is stuck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

CMD ["mltrail", "server", "--host", "0.0.0.0", "--port", "8000"]
