"""What an import from another MLflow needs of the model side (admins only; see
routes/imports.py): logged models created with their `m-…` ids, and registered models whose
versions keep their numbers. Both create what is missing and make what exists match, so an
interrupted import is simply sent again.

A version's files are found as at a create (`MlflowModelSources`): `models:/m-…` is the
logged model's location here, `runs:/<id>/<path>` is under that run's artifacts here, so a
source the importer rewrote to one of those loads through this server. The model's
`last_version` is raised to the highest number imported, so the next create continues after
it and no number is given twice."""

import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import experiments as experiments_repo
from mltrail_server.db.repositories import logged_models as models_repo
from mltrail_server.db.repositories import registry as registry_repo
from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.db.tables import ACTIVE, ModelVersion, RegisteredModel
from mltrail_server.db.tables import LoggedModel as LoggedModelRow
from mltrail_server.errors import Conflict, DomainError, InvalidInput, NotFound
from mltrail_server.mlflow.services.logged_models import logged_model_location
from mltrail_server.mlflow.services.model_sources import MlflowModelSources
from mltrail_server.models.imports import (
    LoggedModelImport,
    ModelVersionImport,
    RegisteredModelImport,
)
from mltrail_server.models.registry import LoggedModel
from mltrail_server.services.experiments import not_found
from mltrail_server.services.registry import ModelRecord, RegistryService, logged_model_view
from mltrail_server.services.registry_rules import canonical_stage, check_alias, check_tag

__all__ = ["ModelImportService"]

# 9 values a row: within the bind-parameter limits of SQLite (32,766) and asyncpg (32,767).
METRIC_ROWS_PER_STATEMENT = 1_000


def _checked(pairs: Mapping[str, str], kind: str) -> dict[str, str]:
    try:
        return dict(check_tag(key, value) for key, value in pairs.items())
    except InvalidInput as exc:
        raise InvalidInput(f"{kind}: {exc.message}") from None


def _dump(values: Mapping[str, str]) -> str:
    return json.dumps(dict(values), separators=(",", ":"), sort_keys=True)


@dataclass
class ModelImportService:
    session: AsyncSession

    # -- logged models ---------------------------------------------------------------------

    async def import_logged_model(self, data: LoggedModelImport) -> tuple[LoggedModel, bool]:
        """Create the logged model `data.id` as given, or make the existing one match (a
        deleted one is restored). Its files are not touched. A model of that id in another
        experiment is a 409; a missing experiment a 404."""
        experiment = await experiments_repo.get(self.session, data.experiment_id)
        if experiment is None:
            raise not_found(data.experiment_id)
        tags = _checked(data.tags, "tags")
        params = _checked(data.params, "params")
        row = await models_repo.get(self.session, data.id)
        if row is not None and row.experiment_id != experiment.id:
            raise Conflict(
                f"Logged model {data.id} already exists in experiment {row.experiment_id}, "
                f"not in {experiment.id}"
            )
        source_run = None
        if data.source_run_id is not None:
            found = await runs_repo.get_any(self.session, data.source_run_id)
            source_run = None if found is None else found.id
        created = row is None
        if row is None:
            row = LoggedModelRow(
                id=data.id,
                experiment_id=experiment.id,
                artifact_location=logged_model_location(experiment, data.id),
            )
        row.name = data.name
        row.model_type = data.model_type or None
        row.source_run_id = source_run
        row.status = data.status
        row.status_message = data.status_message or None
        row.tags = _dump(tags)
        row.params = _dump(params)
        row.lifecycle = ACTIVE
        row.created_at = data.created_at
        row.updated_at = data.updated_at
        if created:
            await models_repo.add(self.session, row)
        await self.session.flush()
        await self._logged_model_metrics(data)
        return logged_model_view(row), created

    async def _logged_model_metrics(self, data: LoggedModelImport) -> None:
        """The model's points whose run is here; a point it has already stays as it was."""
        runs = {point.run_id for point in data.metrics}
        here = {run_id for run_id in runs if await runs_repo.get_any(self.session, run_id)}
        rows: dict[tuple[str, int, int, uuid.UUID], dict[str, object]] = {}
        for point in data.metrics:
            if point.run_id not in here:
                continue
            value = point.number
            rows[(point.key, point.timestamp, point.step, point.run_id)] = {
                "model_id": data.id,
                "key": point.key,
                "timestamp": point.timestamp,
                "step": point.step,
                "run_id": point.run_id,
                "value": 0.0 if math.isnan(value) else value,
                "is_nan": math.isnan(value),
                "dataset_name": point.dataset_name or None,
                "dataset_digest": point.dataset_digest or None,
            }
        points = list(rows.values())
        for start in range(0, len(points), METRIC_ROWS_PER_STATEMENT):
            chunk = points[start : start + METRIC_ROWS_PER_STATEMENT]
            await models_repo.add_metrics(self.session, chunk)

    # -- registered models -----------------------------------------------------------------

    async def import_registered_model(
        self, data: RegisteredModelImport, owner: str
    ) -> tuple[ModelRecord, bool]:
        """Create the registered model (owned by `owner`) or make the existing one match:
        description, tags, the versions sent with their numbers, then `aliases`."""
        tags = _checked(data.tags, "tags")
        aliases = {check_alias(alias, setting=True): n for alias, n in data.aliases.items()}
        row = await registry_repo.get_model(self.session, data.name, for_update=True)
        created = row is None
        if row is None:
            row = RegisteredModel(name=data.name, owner=owner, last_version=0)
            try:
                await registry_repo.add_model(self.session, row)
            except IntegrityError:  # created by a concurrent request since the read
                raise Conflict(f"Registered Model (name={data.name}) was just created") from None
        row.description = data.description or None
        row.created_at = data.created_at
        for key, value in tags.items():
            await registry_repo.set_model_tag(self.session, row.id, key, value)
        sources = MlflowModelSources(self.session)
        for index, version in enumerate(data.versions):
            try:
                await self._version(row, version, sources)
            except DomainError as exc:
                raise type(exc)(
                    f"versions[{index}] (version {version.version}): {exc.message}"
                ) from None
        for alias, number in aliases.items():
            if await registry_repo.get_version(self.session, row.id, number) is None:
                raise NotFound(
                    f"aliases: {alias!r} points at version {number} of {data.name}, "
                    "which is not here (send the version before its alias)"
                )
            await registry_repo.set_alias(self.session, row.id, alias, number)
        row.updated_at = data.updated_at
        await self.session.flush()
        return await RegistryService(self.session).get_model(data.name), created

    async def _version(
        self, model: RegisteredModel, data: ModelVersionImport, sources: MlflowModelSources
    ) -> None:
        if ".." in data.source.replace("\\", "/").split("/"):
            raise InvalidInput(f"source: {data.source!r} may not contain '..'")
        tags = _checked(data.tags, "tags")
        stage = canonical_stage(data.stage)
        try:
            resolved = await sources.resolve(data.source, data.run_id, data.logged_model_id)
        except ValueError:  # urlparse's refusal (an unclosed "[" in a host...)
            raise InvalidInput(f"source: {data.source!r} is not a URI") from None
        row = await registry_repo.get_version(self.session, model.id, data.version)
        created = row is None
        if row is None:
            row = ModelVersion(model_id=model.id, version=data.version)
        row.source = data.source
        row.storage_location = resolved.storage_location
        row.run_id = resolved.run_id
        row.logged_model_id = resolved.logged_model_id
        row.run_link = data.run_link or None
        row.user = data.user
        row.status = data.status
        row.stage = stage
        row.description = data.description or None
        row.created_at = data.created_at
        row.updated_at = data.updated_at
        if created:
            await registry_repo.add_version(self.session, row)
        for key, value in tags.items():
            await registry_repo.set_version_tag(self.session, model.id, data.version, key, value)
        model.last_version = max(model.last_version or 0, data.version)
        await self.session.flush()
