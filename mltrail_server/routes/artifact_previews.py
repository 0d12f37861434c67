"""/api/v1/runs/{run_id}/artifact-previews: what the run page shows of a file the browser
cannot render safely by itself (markdown) or cannot read at all (Parquet tables)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from mltrail_server.dependencies import ArtifactPathDep, ArtifactPreviewsDep
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import NOT_FOUND, ErrorBody
from mltrail_server.services.artifact_previews import (
    MAX_TABLE_ROWS,
    MarkdownPreview,
    TablePreview,
)

router = APIRouter(
    prefix="/runs/{run_id}/artifact-previews", tags=["artifacts"], route_class=AccessRoute
)

TOO_LARGE_TO_PREVIEW: dict[int | str, dict[str, object]] = {
    413: {"model": ErrorBody, "description": "Larger than a preview reads; download it instead"}
}


@router.get(
    "/markdown/{path:path}",
    response_model=MarkdownPreview,
    responses={**NOT_FOUND, **TOO_LARGE_TO_PREVIEW},
)
async def preview_markdown(
    run_id: UUID, path: ArtifactPathDep, previews: ArtifactPreviewsDep
) -> MarkdownPreview:
    """The markdown file at `path` as HTML: its own HTML escaped, relative images and links
    pointing at the run's artifacts, images from elsewhere as links."""
    return await previews.markdown(run_id, path)


@router.get(
    "/table/{path:path}",
    response_model=TablePreview,
    responses={**NOT_FOUND, **TOO_LARGE_TO_PREVIEW},
)
async def preview_table(
    run_id: UUID,
    path: ArtifactPathDep,
    previews: ArtifactPreviewsDep,
    offset: Annotated[int, Query(ge=0, description="The first row to return")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_TABLE_ROWS, description="Rows to return")] = 50,
) -> TablePreview:
    """A page of the rows of the Parquet table at `path` (what the SDK's `log_table`
    stores), with its columns and its number of rows."""
    return await previews.table(run_id, path, offset, limit)
