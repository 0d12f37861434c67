"""How an artifact file goes out: streamed, and never as a page of our origin.

Users upload artifacts, so an `.html` or `.svg` file may hold a script. A file is shown
inline only when its type cannot run one (raster images, plain text, JSON, CSV); everything
else is a download (`Content-Disposition: attachment`). Every artifact response also carries
`nosniff` and a sandboxing CSP, so even a browser that rendered one could not run a script
as the app nor reach the signed-in user's cookie.
"""

import posixpath
import re
import unicodedata
from typing import Literal
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from mltrail_server.storage import ArtifactDownload

__all__ = [
    "ARTIFACT_POLICY",
    "DOWNLOAD_TYPE",
    "INLINE_TYPES",
    "content_disposition",
    "file_response",
    "media_type_of",
]

# No scripts, no plugins, no subresources, an opaque origin: a rendered artifact is inert.
# Inline styles only for the browser's own image and text viewers, which style their page.
ARTIFACT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'"
DOWNLOAD_TYPE = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"

# Types a browser shows without running anything in them (SVG is a document that can hold
# scripts, so it is not here). Source and config files are shown as plain text.
INLINE_TYPES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".txt": TEXT,
    ".log": TEXT,
    ".md": TEXT,
    ".py": TEXT,
    ".yaml": TEXT,
    ".yml": TEXT,
    ".toml": TEXT,
    ".ini": TEXT,
    ".cfg": TEXT,
}

# Characters kept in the ASCII fallback name besides letters and digits; the rest (quotes,
# backslashes, `%` that some clients decode, controls) become `_`.
_UNSAFE_FALLBACK = re.compile(r"[^A-Za-z0-9 !#$&'()*+,\-.^_`{|}~]")
# RFC 5987 attr-char without letters and digits (which `quote` keeps anyway).
_ATTR_CHARS = "!#$&+-.^_`|~"


def media_type_of(path: str) -> str:
    """The Content-Type of the artifact at `path`: one of INLINE_TYPES, else a download."""
    extension = posixpath.splitext(path)[1].lower()
    return INLINE_TYPES.get(extension, DOWNLOAD_TYPE)


def content_disposition(disposition: Literal["inline", "attachment"], filename: str) -> str:
    """`inline` or `attachment` with the file's name (RFC 6266): an ASCII `filename` for old
    clients and the exact name as UTF-8 in `filename*` (RFC 5987)."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = _UNSAFE_FALLBACK.sub("_", ascii_name).strip() or "artifact"
    encoded = quote(filename, safe=_ATTR_CHARS)
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def file_response(download: ArtifactDownload, path: str) -> Response:
    """The artifact at `path`, streamed from storage (a local file supports Range requests)."""
    media_type = media_type_of(path)
    disposition: Literal["inline", "attachment"] = (
        "attachment" if media_type == DOWNLOAD_TYPE else "inline"
    )
    headers = {
        "Content-Disposition": content_disposition(disposition, posixpath.basename(path)),
        "Content-Security-Policy": ARTIFACT_POLICY,
        "X-Content-Type-Options": "nosniff",
    }
    if download.local_path is not None:
        return FileResponse(download.local_path, media_type=media_type, headers=headers)
    assert download.chunks is not None
    headers["Content-Length"] = str(download.size)
    return StreamingResponse(download.chunks, media_type=media_type, headers=headers)


def declared_length(request: Request) -> int | None:
    """The upload's Content-Length, when the client declared one."""
    length = request.headers.get("content-length", "")
    return int(length) if length.isdigit() else None
