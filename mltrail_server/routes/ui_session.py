"""The web UI's sign-in: an API key, checked once and kept in an HTTP-only cookie, so pages,
event streams and download links carry it without the page's scripts ever seeing it again."""

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from mltrail_server.dependencies import RuntimeDep
from mltrail_server.models.auth import Me
from mltrail_server.services.auth import SESSION_COOKIE, AuthService

router = APIRouter(prefix="/ui/session", tags=["access"])


class SessionCreate(BaseModel):
    key: str = Field(min_length=1, max_length=200, description="An API key")


@router.post("", response_model=Me)
async def sign_in(
    data: SessionCreate, request: Request, response: Response, runtime: RuntimeDep
) -> Me:
    """Check an API key and keep it in an HTTP-only, SameSite=Strict cookie (Secure over
    HTTPS). 401 for a bad key."""
    database, cache = await runtime.resources()
    async with database.read_session() as session:
        principal = await AuthService(session, cache).authenticate(data.key.strip())
    response.set_cookie(
        SESSION_COOKIE,
        data.key.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=30 * 24 * 3600,
        path="/",
    )
    return Me(name=principal.name, role=principal.role, authenticated=True)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out() -> Response:
    """Forget the UI's key."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
