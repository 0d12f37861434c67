"""/api/v1/experiments: the seed's resource."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Response, status
from fastapi.exceptions import RequestValidationError

from mltrail_server.dependencies import (
    ArtifactPurgesDep,
    ExperimentServiceDep,
    PrincipalDep,
    RunServiceDep,
)
from mltrail_server.models.experiment import (
    Experiment,
    ExperimentCreate,
    ExperimentPage,
    ExperimentStatus,
    ExperimentUpdate,
)
from mltrail_server.models.run import Run as RunModel
from mltrail_server.models.run import RunCreate, RunPage
from mltrail_server.routes.access import AccessRoute
from mltrail_server.routes.responses import CONFLICT, NOT_FOUND
from mltrail_server.services.artifacts import ArtifactService

router = APIRouter(prefix="/experiments", tags=["experiments"], route_class=AccessRoute)

Page = Annotated[int, Query(ge=1, description="Page number, from 1")]
PerPage = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100)")]


@router.get("", response_model=ExperimentPage)
async def list_experiments(
    service: ExperimentServiceDep,
    name: Annotated[
        str | None,
        Query(description="Only experiments of this name, compared case-insensitively"),
    ] = None,
    owner: Annotated[str | None, Query(description="Only this owner's experiments")] = None,
    status: Annotated[ExperimentStatus | None, Query(description="Only this status")] = None,
    page: Page = 1,
    per_page: PerPage = 20,
) -> ExperimentPage:
    """List live experiments, newest first (ties broken by id, so pages never overlap).

    `name` matches whatever the case: `Quick Start`, created through MLflow (whose names keep
    their case), is found by `?name=quick start` as well as by `?name=Quick Start`."""
    return await service.list_experiments(
        name=name, owner=owner, status=status, page=page, per_page=per_page
    )


@router.post("", response_model=Experiment, status_code=status.HTTP_201_CREATED, responses=CONFLICT)
async def create_experiment(
    data: ExperimentCreate, service: ExperimentServiceDep, principal: PrincipalDep
) -> Experiment:
    """Create an experiment. The name is checked and lowercased; a live experiment with the
    same name is a 409. With auth on, the caller owns it, whatever a non-admin's `owner`
    says; an admin may name another existing user (422 for one that does not exist). With
    auth off, `owner` is required."""
    if data.owner is None and not principal.authenticated:
        # The seed's answer for a missing required field, now that only auth-off needs it.
        missing = {"type": "missing", "loc": ("body", "owner"), "msg": "Field required"}
        raise RequestValidationError([{**missing, "input": data.model_dump(exclude_unset=True)}])
    return await service.create_experiment(data, principal)


@router.get("/{experiment_id}", response_model=Experiment, responses=NOT_FOUND)
async def get_experiment(experiment_id: UUID, service: ExperimentServiceDep) -> Experiment:
    """Get an experiment with its most recent runs."""
    return await service.get_experiment(experiment_id)


@router.patch("/{experiment_id}", response_model=Experiment, responses={**NOT_FOUND, **CONFLICT})
async def update_experiment(
    experiment_id: UUID, data: ExperimentUpdate, service: ExperimentServiceDep
) -> Experiment:
    """Change the fields sent and only those. A new name follows the create rules (409 when
    taken). An empty body `{}` changes nothing but `updated_at`."""
    return await service.update_experiment(experiment_id, data)


@router.delete("/{experiment_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_experiment(
    experiment_id: UUID,
    service: ExperimentServiceDep,
    purges: ArtifactPurgesDep,
    purge: Annotated[
        bool, Query(description="Remove it and all its runs for good, instead of a soft delete")
    ] = False,
) -> Response:
    """Delete an experiment and its runs. By default the delete is soft: everything
    disappears from the API and frees the name, and `POST .../restore` brings it back.
    With `purge=true` (also for an already deleted experiment) it is irreversible, and its
    artifact files are deleted in the background, retried until done."""
    await service.delete_experiment(experiment_id, purge=purge)
    if purge:
        await purges.queue(ArtifactService.purge_prefix_of_experiment(experiment_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{experiment_id}/restore", response_model=Experiment, responses={**NOT_FOUND, **CONFLICT}
)
async def restore_experiment(experiment_id: UUID, service: ExperimentServiceDep) -> Experiment:
    """Bring back a soft-deleted experiment with its runs (409 if its name was taken since)."""
    return await service.restore_experiment(experiment_id)


@router.get("/{experiment_id}/runs", response_model=RunPage, responses=NOT_FOUND)
async def list_runs(
    experiment_id: UUID, service: RunServiceDep, page: Page = 1, per_page: PerPage = 20
) -> RunPage:
    """List an experiment's live runs, most recently started first."""
    return await service.list_runs(experiment_id, page=page, per_page=per_page)


@router.post(
    "/{experiment_id}/runs",
    response_model=RunModel,
    status_code=status.HTTP_201_CREATED,
    responses=NOT_FOUND,
)
async def create_run(experiment_id: UUID, data: RunCreate, service: RunServiceDep) -> RunModel:
    """Start a run in this experiment; it begins `running`."""
    return await service.create_run(experiment_id, data)
