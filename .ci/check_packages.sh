#!/usr/bin/env bash
# The packages as a user gets them: builds the sdist and the wheel (the wheel from the sdist,
# so a file missing from the sdist shows here too), checks the wheel's file list against the
# checkout, and installs them into fresh virtualenvs, run from a temporary folder so that
# nothing in the checkout (the app/ shim, the migrations, the UI) can stand in for them:
#   1. the wheel with [server,cli]: the CLI, `db upgrade`, a live server, its API, UI and
#      static files;
#   2. the wheel alone: only httpx and psutil come with it, the SDK imports and talks to that server,
#      and the `mltrail` command says how to install the CLI;
#   3. the sdist with [server]: pip builds it, and the server's app imports.
# Needs `build` (the dev extra), i.e. runs after `make test`: PYTHON=.venv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PYTHON=${PYTHON:-.venv/bin/python}
BASE_PYTHON=${BASE_PYTHON:-$(command -v python3.11 || command -v python3)}

work=$(mktemp -d "${TMPDIR:-/tmp}/mltrail-packages.XXXXXX")
server_pid=""
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    [[ -n ${KEEP:-} ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

say() { echo "packages: $*"; }
die() {
    echo "packages: FAILED: $*" >&2
    exit 1
}
# Runs a command quietly; on failure shows its output and stops.
quiet() {
    local log=$work/step.log
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        die "$*"
    fi
}
new_venv() {
    quiet "$BASE_PYTHON" -m venv "$1"
    quiet "$1/bin/python" -m pip install --quiet --upgrade pip
}

# --- build -------------------------------------------------------------------------------
quiet "$PYTHON" -m build --outdir "$work/dist" "$repo"
wheel=$(echo "$work"/dist/mltrail-*-py3-none-any.whl)
sdist=$(echo "$work"/dist/mltrail-*.tar.gz)
[[ -f $wheel && -f $sdist ]] || die "the build made no wheel or no sdist: $(ls "$work/dist")"
say "built $(basename "$sdist") and $(basename "$wheel")"

"$PYTHON" - "$repo" "$wheel" "$sdist" <<'EOF'
"""Every file of the two packages in the checkout is in the wheel, and nothing else is."""
import sys
import tarfile
import zipfile
from pathlib import Path

repo, wheel, sdist = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
names = set(zipfile.ZipFile(wheel).namelist())
expected = {
    path.relative_to(repo).as_posix()
    for package in ("mltrail", "mltrail_server")
    for path in (repo / package).rglob("*")
    if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    and path.name != "README.md"  # mltrail/README.md documents the folder, not shipped
}
errors = [f"missing from the wheel: {name}" for name in sorted(expected - names)]
for name in sorted(names - expected):
    top = name.split("/")[0]
    if not (top.endswith(".dist-info") and top.startswith("mltrail-")):
        errors.append(f"in the wheel but not a file of the packages: {name}")
required = [
    "mltrail/py.typed",
    "mltrail_server/py.typed",
    "mltrail_server/migrations/env.py",
    "mltrail_server/migrations/script.py.mako",
    "mltrail_server/ui/templates/base.html",
]
errors += [f"missing from the wheel: {name}" for name in required if name not in names]
if not any(n.startswith("mltrail_server/migrations/versions/") for n in names):
    errors.append("no migration under mltrail_server/migrations/versions/")
for kind in ("js", "css", "vendor"):
    if not any(n.startswith(f"mltrail_server/ui/static/{kind}/") for n in names):
        errors.append(f"no static file under ui/static/{kind}/")
entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
if "mltrail = mltrail._entry:main" not in zipfile.ZipFile(wheel).read(entry_points).decode():
    errors.append("the console script is not mltrail = mltrail._entry:main")
members = [m.split("/", 1)[1] for m in tarfile.open(sdist).getnames() if "/" in m]
for top in ("tests/", "app/"):
    if any(m.startswith(top) for m in members):
        errors.append(f"the sdist holds {top}")
if errors:
    sys.exit("packages: FAILED:\n  " + "\n  ".join(errors))
static = sum(n.startswith("mltrail_server/ui/static/") for n in names)
migrations = sum(n.startswith("mltrail_server/migrations/") for n in names)
print(
    f"packages: the wheel holds {len(names)} files: mltrail/, mltrail_server/ with "
    f"{migrations} migration files and {static} static files, no app/ or tests/"
)
EOF

# --- install ---------------------------------------------------------------------------
full=$work/venv-full
sdk=$work/venv-sdk
from_sdist=$work/venv-sdist
new_venv "$full"
quiet "$full/bin/pip" install --quiet "$wheel[server,cli]"
new_venv "$sdk"
quiet "$sdk/bin/pip" install --quiet "$wheel"
new_venv "$from_sdist"
quiet "$from_sdist/bin/pip" install --quiet "$sdist[server]"
say "installed the wheel with [server,cli], the wheel alone, the sdist with [server]"

run=$work/run # the working folder of every command below: not the checkout
mkdir -p "$run"
cd "$run"
unset DATABASE_URL REDIS_URL DATA_DIR ARTIFACT_ROOT AUTH_ENABLED MLTRAIL_URL MLTRAIL_API_KEY

# --- 1. the wheel with [server,cli] ----------------------------------------------------
help=$("$full/bin/mltrail" --help) || die "mltrail --help"
[[ $help == *"db"* && $help == *"server"* ]] || die "mltrail --help lists no server or db command"
help=$("$full/bin/mltrail" server --help) || die "mltrail server --help"
[[ $help == *"--port"* ]] || die "mltrail server --help has no --port"
export DATA_DIR=$run/data
export DATABASE_URL=sqlite:///$run/tracker.db
quiet "$full/bin/mltrail" db upgrade
[[ -s $run/tracker.db ]] || die "mltrail db upgrade made no database at $run/tracker.db"
say "mltrail --help, mltrail server --help, mltrail db upgrade: ok"

installed=$("$full/bin/python" -c "import mltrail_server; print(mltrail_server.__file__)")
[[ $installed == "$full"/* ]] || die "mltrail_server comes from $installed, not the virtualenv"
port=$("$full/bin/python" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$full/bin/mltrail" server --host 127.0.0.1 --port "$port" >"$work/server.log" 2>&1 &
server_pid=$!
url=http://127.0.0.1:$port

if ! "$full/bin/python" - "$url" "$server_pid" "$full" <<'EOF'; then
"""The live server: health, an experiment written and read back, the UI and a static file."""
import os
import re
import sys
import time
from pathlib import Path

import httpx

url, pid, venv = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + 120  # generous: a busy machine starts slowly
while True:
    os.kill(pid, 0)  # raises if the server died
    try:
        if httpx.get(f"{url}/health", timeout=5).status_code == 200:
            break
    except httpx.TransportError:
        pass
    if time.monotonic() > deadline:
        sys.exit("the server did not answer /health within 120 s")
    time.sleep(0.2)

with httpx.Client(base_url=url, timeout=30) as http:
    created = http.post("/api/v1/experiments", json={"name": "packaging", "owner": "ci"})
    assert created.status_code == 201, (created.status_code, created.text)
    experiment_id = created.json()["id"]
    read = http.get(f"/api/v1/experiments/{experiment_id}")
    assert read.status_code == 200, (read.status_code, read.text)
    assert read.json()["name"] == "packaging", read.json()

    page = http.get("/")
    assert page.status_code == 200, page.status_code
    assert page.headers["content-type"].startswith("text/html"), page.headers["content-type"]
    assert "<html" in page.text.lower(), page.text[:200]
    links = sorted(set(re.findall(r"""(?:src|href)="(/static/[^"?]+)""", page.text)))
    assert any(link.endswith(".js") for link in links), f"the UI page links no script: {links}"
    assert any(link.endswith(".css") for link in links), f"the UI page links no style: {links}"
    (site_packages,) = Path(venv).glob("lib/python*/site-packages")
    for link in links:
        static = http.get(link)
        assert static.status_code == 200, (link, static.status_code)
        shipped = site_packages / "mltrail_server" / "ui" / link.removeprefix("/")
        assert static.content == shipped.read_bytes(), f"{link} is not the shipped file"
print(
    "packages: the server answers /health, POST and GET /api/v1/experiments, the UI page / "
    f"and the {len(links)} static files it links ({', '.join(links)})"
)
EOF
    cat "$work/server.log" >&2
    die "the live server from the wheel"
fi

# --- 2. the wheel alone, against that server -------------------------------------------
"$sdk/bin/python" - "$url" <<'EOF' || die "the SDK-only install"
"""Only httpx and psutil come with the SDK; it imports and talks to the server."""
import importlib.metadata
import sys

import mltrail

url = sys.argv[1]
assert importlib.metadata.version("httpx"), "httpx is not installed"
assert importlib.metadata.version("psutil"), "psutil (system metrics) is not installed"
server_side = ["fastapi", "sqlalchemy", "uvicorn", "pydantic", "alembic", "typer", "rich"]
present = []
for name in server_side:
    try:
        importlib.metadata.version(name)
        present.append(name)
    except importlib.metadata.PackageNotFoundError:
        pass
assert not present, f"the SDK alone installs {present}"
assert mltrail.Client(url).experiments.get("packaging").name == "packaging"
print("packages: the wheel alone installs httpx and psutil and none of " + ", ".join(server_side))
print("packages: the SDK alone reads the experiment back from the server")
EOF
"$sdk/bin/pip" list --format=freeze >"$work/sdk-packages.txt"
grep -q -i "^httpx==" "$work/sdk-packages.txt" || die "pip list shows no httpx"

stopped=$server_pid
server_pid=""
kill "$stopped"
# uvicorn shuts down, then re-raises the SIGTERM it caught: 143 is a clean stop too.
code=0
wait "$stopped" || code=$?
if [[ $code != 0 && $code != 143 ]] || ! grep -q "Application shutdown complete" "$work/server.log"; then
    cat "$work/server.log" >&2
    die "the server did not stop cleanly on SIGTERM (exit $code)"
fi
say "the server stopped cleanly on SIGTERM"

set +e
"$sdk/bin/mltrail" --help >"$work/cli.out" 2>"$work/cli.err"
code=$?
set -e
hint=$(cat "$work/cli.err")
[[ $code == 2 ]] || die "mltrail without [cli] exited $code, not 2: $hint"
[[ ! -s $work/cli.out ]] || die "mltrail without [cli] printed to stdout: $(cat "$work/cli.out")"
[[ $(wc -l <"$work/cli.err") == 1 ]] || die "mltrail without [cli] printed more than one line: $hint"
[[ $hint == *"pip install 'mltrail[cli]'"* ]] || die "mltrail without [cli] gives no install hint: $hint"
say "mltrail without [cli] exits 2 with: $hint"

# --- 3. the sdist with [server] ----------------------------------------------------------
imported=$("$from_sdist/bin/python" -c "import mltrail_server.main as m; print(m.__file__)")
[[ $imported == "$from_sdist"/* ]] || die "mltrail_server.main comes from $imported"
say "the sdist installs with [server] and mltrail_server.main imports"
say "all checks passed"
