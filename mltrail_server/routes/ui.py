"""The web UI: server-rendered pages (Jinja2) whose small scripts read and write /api/v1.

Pages take their data through the API, so whatever guards the API guards the UI, and an API
answer of 401 makes the page ask for a key. The one thing a page route looks up itself is
whether the run or experiment it names exists, and only for a caller the API would let read
it: a missing one is then a 404 page rather than a page of empty cards.
"""

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope

from mltrail_server import __version__
from mltrail_server.db.tables import DEFAULT_EXPERIMENT_UUID
from mltrail_server.dependencies import get_principal
from mltrail_server.errors import DomainError, InvalidInput, NotFound
from mltrail_server.middleware.security import page_policy, script_hash
from mltrail_server.runtime import Runtime
from mltrail_server.services.experiments import ExperimentService
from mltrail_server.services.registry_rules import check_name
from mltrail_server.services.runs import RunService

UI_DIR = Path(__file__).resolve().parents[1] / "ui"
STATIC_DIR = UI_DIR / "static"

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
templates = Jinja2Templates(directory=UI_DIR / "templates")


@lru_cache(maxsize=256)
def static_url(path: str) -> str:
    """The URL of a static file, with a digest of its content so browsers never run a stale
    copy after an upgrade."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    return f"/static/{path}?v={digest}"


@lru_cache(maxsize=1)
def import_map() -> str:
    """An import map from each script module's plain URL to its digested one, so that the
    modules' own `import "./api.js"` statements get fresh copies too."""
    scripts = sorted(path.relative_to(STATIC_DIR).as_posix() for path in STATIC_DIR.glob("js/*.js"))
    imports = {f"/static/{path}": static_url(path) for path in scripts}
    return json.dumps({"imports": imports}, indent=1)


@lru_cache(maxsize=1)
def content_security_policy() -> str:
    """The pages' policy: nothing inline runs but the import map (base.html), by its digest."""
    return page_policy([script_hash(import_map())])


_IMPORT = re.compile(r"""^import\s[^;]*?from\s+["']\./([\w-]+\.js)["']""", re.MULTILINE)


@lru_cache(maxsize=32)
def _module_closure(path: str) -> tuple[str, ...]:
    """A script module and every module it imports, directly or not."""
    seen: list[str] = []
    pending = [path]
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.append(current)
            source = (STATIC_DIR / current).read_text()
            pending += [f"js/{name}" for name in _IMPORT.findall(source)]
    return tuple(seen)


def module_script(path: str) -> Markup:
    """The page's script module, with its imports preloaded in parallel rather than
    discovered one level at a time."""
    modules = _module_closure(path)
    preloads = "".join(
        f'<link rel="modulepreload" href="{static_url(module)}">' for module in modules[1:]
    )
    return Markup(f'{preloads}<script type="module" src="{static_url(path)}"></script>')


templates.env.globals.update(
    static_url=static_url, import_map=import_map, module_script=module_script, version=__version__
)


class StaticAssets(StaticFiles):
    """The UI's static files. A URL with a content digest (`?v=`) never changes, so browsers
    may keep it for a year; anything else is revalidated."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if versioned else "no-cache"
        )
        return response


static_files = StaticAssets(directory=STATIC_DIR)


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    headers = {"Content-Security-Policy": content_security_policy()}
    return templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=headers
    )


def _not_found(request: Request, what: str, nav: str = "experiments") -> HTMLResponse:
    return _page(request, "not_found.html", status_code=404, what=what, nav=nav)


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


# MLflow's id of the default experiment, as its client prints it in "View experiment at" links.
MLFLOW_DEFAULT_EXPERIMENT_ID = "0"


async def _may_read(request: Request) -> bool:
    """Whether the API would let this caller read. A caller who must sign in first gets the
    page itself, which asks for a key and then says, from the API, what is missing."""
    try:
        await get_principal(request)
    except DomainError:
        return False
    return True


async def _run_exists(request: Request, run_id: UUID) -> bool:
    runtime: Runtime = request.app.state.runtime
    database, cache = await runtime.resources()
    async with database.read_session() as session:
        try:
            await RunService(session, cache).get_run(run_id)
        except NotFound:
            return False
    return True


async def _experiment_exists(request: Request, experiment_id: UUID) -> bool:
    runtime: Runtime = request.app.state.runtime
    database, cache = await runtime.resources()
    async with database.read_session() as session:
        service = ExperimentService(session, cache, runtime.settings.cache_ttl_seconds)
        try:
            await service.get_experiment(experiment_id)
        except NotFound:
            return False
    return True


# Where an unknown address is answered with the JSON error whatever the client accepts.
API_PATHS = ("/api/", "/ajax-api/", "/get-artifact", "/static/", "/ui/")


def _wants_page(request: Request) -> bool:
    """A browser's navigation (it accepts text/html) to an address outside the APIs."""
    return (
        request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and not request.url.path.startswith(API_PATHS)
    )


async def handle_http_error(request: Request, exc: Exception) -> Response:
    """An unknown address: our 404 page for a browser, the JSON error for everyone else."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and _wants_page(request):
        return _not_found(request, "page")
    return await http_exception_handler(request, exc)


def install_page_errors(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, handle_http_error)


@router.get("/")
async def experiments_page(request: Request) -> HTMLResponse:
    """The experiments: list, create, rename, delete."""
    return _page(request, "experiments.html", nav="experiments")


@router.get("/experiments/{experiment_id}")
async def experiment_page(request: Request, experiment_id: str) -> HTMLResponse:
    """An experiment's runs table."""
    if experiment_id == MLFLOW_DEFAULT_EXPERIMENT_ID:
        experiment_id = str(DEFAULT_EXPERIMENT_UUID)
    parsed = _uuid(experiment_id)
    if parsed is None or (
        await _may_read(request) and not await _experiment_exists(request, parsed)
    ):
        return _not_found(request, "experiment")
    return _page(request, "experiment.html", nav="experiments", experiment_id=parsed)


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str) -> HTMLResponse:
    """One run: status, params, tags, notes, metric charts, artifacts."""
    parsed = _uuid(run_id)
    if parsed is None or (await _may_read(request) and not await _run_exists(request, parsed)):
        return _not_found(request, "run")
    return _page(request, "run.html", nav="experiments", run_id=parsed)


@router.get("/models")
async def models_page(request: Request) -> HTMLResponse:
    """The model registry: registered models, searchable with MLflow's filter language."""
    return _page(request, "models.html", nav="models")


@router.get("/models/{name}")
async def model_page(request: Request, name: str) -> HTMLResponse:
    """A registered model: description, tags, aliases and versions. A name no model could
    have (MLflow's rule) is a 404 here; a free name is said so by the page, from the API."""
    try:
        check_name(name)
    except InvalidInput:
        return _not_found(request, "model", nav="models")
    return _page(request, "model.html", nav="models", name=name)


@router.get("/compare")
async def compare_page(request: Request, runs: str = "") -> HTMLResponse:
    """Selected runs side by side: overlaid metric charts and a param diff."""
    run_ids = [_uuid(part) for part in runs.split(",") if part.strip()]
    if not run_ids:
        return _page(request, "compare_empty.html", nav="experiments")
    if None in run_ids:
        return _not_found(request, "run")
    return _page(request, "compare.html", nav="experiments", run_ids=run_ids)
