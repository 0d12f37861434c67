"""/api/v1/import/...: what an import from another tracker needs beyond the usual routes
(admins only): runs created with the ids, times and status they had there."""

from fastapi import APIRouter, Response, status

from mltrail_server.dependencies import AdminDep, RunServiceDep
from mltrail_server.models.run import Run, RunImport
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import CONFLICT, NOT_FOUND

router = APIRouter(prefix="/import", tags=["import"], route_class=AccessRoute)


@router.post(
    "/runs",
    response_model=Run,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": Run, "description": "The run existed: it now matches"}}
    | NOT_FOUND
    | CONFLICT,
)
async def import_run(
    data: RunImport, service: RunServiceDep, response: Response, _admin: AdminDep
) -> Run:
    """Create a run with the given id, name, status, user, times and parent (admins only).

    Sending it again is harmless: an existing run of that id in the same experiment is made
    to match (a deleted one is restored) and the answer is 200 instead of 201. A run of that
    id in another experiment is a 409; a missing experiment a 404. A parent that is not a
    run of the same experiment here is left out."""
    run, created = await service.import_run(data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return run
