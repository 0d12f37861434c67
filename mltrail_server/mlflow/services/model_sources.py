"""Where a new model version's files are, from the source the client registered:

- `runs:/<run id>/<path>`: that path under the run's artifact URI;
- `models:/m-<id>` (a logged model of MLflow 3): the logged model's artifact location;
- `models:/<name>/<version>`: that version's own location (a copy keeps pointing there);
- anything else (`mlflow-artifacts:/…`, `s3://…`): itself.

The result is what `get-download-uri` answers, so a proxied location
(`mlflow-artifacts:/…`) is fetched by the client through this server's artifact routes."""

import uuid
from dataclasses import dataclass
from urllib.parse import urlparse

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import logged_models as models_repo
from mltrail_server.db.repositories import registry as registry_repo
from mltrail_server.db.repositories import runs as runs_repo
from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.mlflow.translate import run_artifact_uri, run_id_in
from mltrail_server.services.registry import ResolvedSource
from mltrail_server.services.registry_rules import check_version

RUNS_SCHEME = "runs"
MODELS_SCHEME = "models"
LOGGED_MODEL_PREFIX = "m-"


@dataclass
class MlflowModelSources:
    session: AsyncSession

    async def resolve(
        self, source: str, run_id: uuid.UUID | None, logged_model_id: str | None
    ) -> ResolvedSource:
        scheme = urlparse(source).scheme
        if scheme == RUNS_SCHEME:
            return await self._run_source(source, logged_model_id)
        if scheme == MODELS_SCHEME:
            rest = source.split(":", 1)[1].lstrip("/")
            if rest.startswith(LOGGED_MODEL_PREFIX) and "/" not in rest.rstrip("/"):
                return await self._logged_model(rest.rstrip("/"), run_id)
            return await self._version_copy(source, rest, run_id, logged_model_id)
        if logged_model_id is not None and run_id is None:
            model = await models_repo.get(self.session, logged_model_id)
            run_id = model.source_run_id if model is not None else None
        return ResolvedSource(source, run_id, logged_model_id)

    async def _run_source(self, source: str, logged_model_id: str | None) -> ResolvedSource:
        body = source.split(":", 1)[1].lstrip("/")
        run_text, _, path = body.partition("/")
        run = None
        if (parsed := run_id_in(run_text)) is not None:
            run = await runs_repo.get_any(self.session, parsed)
        if run is None:
            raise NotFound(f"Run with id={run_text} not found (source {source!r})")
        base = run_artifact_uri(run.experiment_id, run.id, run.artifact_uri).rstrip("/")
        location = f"{base}/{path.strip('/')}" if path.strip("/") else base
        return ResolvedSource(location, run.id, logged_model_id)

    async def _logged_model(self, model_id: str, run_id: uuid.UUID | None) -> ResolvedSource:
        model = await models_repo.get(self.session, model_id)
        if model is None:
            raise InvalidInput(
                f"Unable to fetch model from model URI source artifact location "
                f"'models:/{model_id}': logged model {model_id} not found"
            )
        return ResolvedSource(model.artifact_location, run_id or model.source_run_id, model_id)

    async def _version_copy(
        self, source: str, rest: str, run_id: uuid.UUID | None, logged_model_id: str | None
    ) -> ResolvedSource:
        name, _, version = rest.rstrip("/").partition("/")
        model = await registry_repo.get_model(self.session, name)
        found = None
        if model is not None and version:
            found = await registry_repo.get_version(self.session, model.id, check_version(version))
        if found is None:
            raise InvalidInput(
                f"Unable to fetch model from model URI source artifact location '{source}'."
            )
        return ResolvedSource(
            found.storage_location,
            run_id or found.run_id,
            logged_model_id or found.logged_model_id,
        )
