"""Previews of a run's artifact files that a browser cannot make safely by itself: markdown
rendered to HTML that holds no markup of the file's own, and Parquet tables (the SDK's
`log_table`) read a page of rows at a time.

Markdown goes through markdown-it with raw HTML off, so a `<script>` or an `onerror=` in the
file comes out as text, and links to `javascript:` and the like stay text too. An image or link
relative to the file points at the run's artifact of that name; an image from elsewhere
becomes a link (the UI's pages load images from our origin only).
"""

import asyncio
import io
import math
import posixpath
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic import BaseModel, Field

from mltrail_server.errors import InvalidInput, PayloadTooLarge, Unavailable
from mltrail_server.services.artifacts import ArtifactService
from mltrail_server.storage import ArtifactDownload

__all__ = [
    "MAX_MARKDOWN_BYTES",
    "MAX_TABLE_BYTES",
    "ArtifactPreviews",
    "MarkdownPreview",
    "TablePreview",
    "render_markdown",
]

MAX_MARKDOWN_BYTES = 2 * 1024 * 1024
MAX_TABLE_BYTES = 64 * 1024 * 1024
MAX_TABLE_ROWS = 500
# A cell longer than this is cut (a preview, not an export).
MAX_CELL_CHARS = 2_000
# CommonMark with tables and strikethrough; raw HTML is escaped. Parsing keeps no state.
_MARKDOWN = MarkdownIt("js-default", {"html": False, "linkify": False})

Cell = str | int | float | bool | None


class MarkdownPreview(BaseModel):
    """A markdown artifact rendered to HTML: its own markup escaped, scripts impossible."""

    path: str
    html: str = Field(description="HTML made by the server; the file's raw HTML is escaped")


class TablePreview(BaseModel):
    """One page of a table artifact's rows."""

    path: str
    columns: list[str]
    rows: list[list[Cell]] = Field(description="Cells as JSON values; others as text")
    offset: int
    total_rows: int


def _artifact_url(run_id: uuid.UUID, path: str) -> str:
    return f"/api/v1/runs/{run_id}/artifacts/" + "/".join(quote(p) for p in path.split("/"))


def _relative_target(base_dir: str, target: str) -> str | None:
    """The artifact path a relative reference in the file names, or None if it is not one
    (a scheme, a host, an absolute path, a fragment only, or above the run's root)."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(base_dir, parts.path))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def _link(href: str, text: str) -> list[Token]:
    opening = Token("link_open", "a", 1, attrs={"href": href, "rel": "noopener noreferrer"})
    label = Token("text", "", 0, content=text or href)
    return [opening, label, Token("link_close", "a", -1)]


def _pointed(tokens: Sequence[Token], run_id: uuid.UUID, base_dir: str) -> list[Token]:
    """`tokens` with relative references pointing at the run's artifacts, and images from
    elsewhere as links to them."""
    out: list[Token] = []
    for token in tokens:
        if token.children:
            token.children = _pointed(token.children, run_id, base_dir)
        if token.type == "image":
            src = str(token.attrGet("src") or "")
            local = _relative_target(base_dir, src)
            if local is None:
                out += _link(src, token.content)
                continue
            token.attrSet("src", _artifact_url(run_id, local))
        elif token.type in ("th_open", "td_open") and token.attrs.get("style"):
            # A column's alignment, as a class: the UI's pages allow no inline style.
            align = str(token.attrs.pop("style")).removeprefix("text-align:")
            token.attrSet("class", f"align-{align}")
        elif token.type == "link_open":
            href = str(token.attrGet("href") or "")
            local = _relative_target(base_dir, href)
            if local is None:
                token.attrSet("rel", "noopener noreferrer")
            else:
                token.attrSet("href", _artifact_url(run_id, local))
        out.append(token)
    return out


def render_markdown(text: str, run_id: uuid.UUID, path: str) -> str:
    """The HTML of markdown `text` (the artifact at `path`): CommonMark with tables and
    strikethrough, raw HTML escaped, relative references pointing at the run's artifacts."""
    tokens = _pointed(_MARKDOWN.parse(text), run_id, posixpath.dirname(path))
    html: str = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    return html


def _cell(value: Any) -> Cell:
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
            return value[:MAX_CELL_CHARS] + "…"
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return _cell(str(value))


def _read_parquet(
    source: Path | bytes, offset: int, limit: int
) -> tuple[list[str], list[list[Cell]], int]:
    """One page of a Parquet file: only the row groups that hold rows `offset` to
    `offset + limit` are decoded, so paging through a large table stays cheap."""
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - the server extra installs it
        raise Unavailable(
            "Previewing Parquet tables needs pyarrow on the server (pip install pyarrow)"
        ) from None
    try:
        file = pq.ParquetFile(source if isinstance(source, Path) else io.BytesIO(source))
        meta = file.metadata
        groups: list[int] = []
        first = start = 0
        for index in range(meta.num_row_groups):
            size = meta.row_group(index).num_rows
            if start + size > offset and start < offset + limit:
                if not groups:
                    first = start
                groups.append(index)
            start += size
        table = file.read_row_groups(groups) if groups else file.schema_arrow.empty_table()
    except Exception as exc:  # pyarrow raises several unrelated types for a bad file
        raise InvalidInput(f"path: not a readable Parquet file ({exc})") from None
    page = table.slice(offset - first, limit) if groups else table
    columns = [str(name) for name in file.schema_arrow.names]
    data_columns = [column.to_pylist() for column in page.columns]
    rows = [[_cell(column[i]) for column in data_columns] for i in range(page.num_rows)]
    return columns, rows, meta.num_rows


@dataclass
class ArtifactPreviews:
    artifacts: ArtifactService

    async def _download(self, run_id: uuid.UUID, path: str, limit: int) -> ArtifactDownload:
        download = await self.artifacts.download_from_run(run_id, path)
        if download.size > limit:
            raise PayloadTooLarge(
                f"path: {path!r} is {download.size} bytes, more than the {limit} bytes a "
                "preview reads; download the file instead"
            )
        return download

    async def markdown(self, run_id: uuid.UUID, path: str) -> MarkdownPreview:
        data = await (await self._download(run_id, path, MAX_MARKDOWN_BYTES)).read()
        text = data.decode("utf-8", errors="replace")
        return MarkdownPreview(path=path, html=render_markdown(text, run_id, path))

    async def table(self, run_id: uuid.UUID, path: str, offset: int, limit: int) -> TablePreview:
        if not path.lower().endswith(".parquet"):
            raise InvalidInput(f"path: {path!r} is not a Parquet file (.parquet)")
        download = await self._download(run_id, path, MAX_TABLE_BYTES)
        source = download.local_path or await download.read()
        limit = min(limit, MAX_TABLE_ROWS)
        columns, rows, total = await asyncio.to_thread(_read_parquet, source, offset, limit)
        return TablePreview(path=path, columns=columns, rows=rows, offset=offset, total_rows=total)
