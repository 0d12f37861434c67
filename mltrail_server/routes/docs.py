"""The API's documentation pages: /docs (Swagger UI) and /redoc (ReDoc).

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so without internet access they
stay blank. These load them from this server instead: the fastapi-offline package (MIT)
ships their files, Swagger UI's dist build (swagger-ui-dist 5, Apache-2.0) and ReDoc's
standalone bundle (MIT), served under ASSETS.
"""

import re
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from mltrail_server.middleware.security import docs_policy, script_hash

ASSETS = "/static/api-docs"
ASSETS_DIR = Path(str(files("fastapi_offline").joinpath("static")))
# The files change only with the package: its version keeps browsers from a stale copy.
_VERSION = version("fastapi-offline")
_FAVICON = "/static/favicon.svg"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
assets = StaticFiles(directory=ASSETS_DIR)


def _asset(name: str) -> str:
    return f"{ASSETS}/{name}?v={_VERSION}"


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    """The page under the docs policy, its inline scripts allowed by their digests only."""
    hashes = [script_hash(script) for script in _INLINE_SCRIPT.findall(bytes(page.body).decode())]
    page.headers["Content-Security-Policy"] = docs_policy(hashes)
    return page


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """The API reference, interactive (Swagger UI)."""
    return _with_policy(
        get_swagger_ui_html(
            openapi_url=request.app.openapi_url,
            title=f"{request.app.title} · API",
            swagger_js_url=_asset("swagger-ui-bundle.js"),
            swagger_css_url=_asset("swagger-ui.css"),
            swagger_favicon_url=_FAVICON,
            oauth2_redirect_url=None,
        )
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    """The API reference, for reading (ReDoc)."""
    return _with_policy(
        get_redoc_html(
            openapi_url=request.app.openapi_url,
            title=f"{request.app.title} · API",
            redoc_js_url=_asset("redoc.standalone.js"),
            redoc_favicon_url=_FAVICON,
            with_google_fonts=False,
        )
    )
