"""A logged model's files by model id, as MLflow's UI lists and downloads them
(`logged-models/{id}/artifacts/directories` and `.../files`): paths relative to the model's
artifact root, checked as MLflow checks them (`safe_relative_path`). They live where the
client uploads them, `<experiment>/models/<id>/artifacts` in the artifact store."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mltrail_server.db.repositories import logged_models as models_repo
from mltrail_server.db.tables import ACTIVE
from mltrail_server.db.tables import LoggedModel as LoggedModelRow
from mltrail_server.errors import InvalidInput, NotFound
from mltrail_server.mlflow import wire
from mltrail_server.mlflow.errors import BadRequest
from mltrail_server.mlflow.services.logged_models import model_not_found
from mltrail_server.mlflow.services.run_artifacts import list_files, safe_relative_path
from mltrail_server.mlflow.wire_artifacts import GetLoggedModelArtifact, ListLoggedModelArtifacts
from mltrail_server.services.artifact_paths import model_artifact_prefix
from mltrail_server.services.artifacts import ArtifactService
from mltrail_server.storage import ArtifactDownload


@dataclass
class MlflowModelArtifactService:
    session: AsyncSession
    artifacts: ArtifactService

    async def list(
        self, model_id: str, query: ListLoggedModelArtifacts
    ) -> wire.ListRunArtifactsResponse:
        """The entries directly under `artifact_directory_path` ('' or absent: the root),
        with the model's `root_uri`; a missing directory or a file lists as empty."""
        path = query.artifact_directory_path
        relative = safe_relative_path(path) if path else ""
        row = await self._model(model_id)
        prefix = model_artifact_prefix(row.experiment_id, row.id)
        files = await list_files(self.artifacts, prefix, relative)
        return wire.ListRunArtifactsResponse(root_uri=row.artifact_location, files=files)

    async def download(
        self, model_id: str, query: GetLoggedModelArtifact
    ) -> tuple[ArtifactDownload, str]:
        """The file at `artifact_file_path` of the model's artifacts, and that path; a
        directory is a 400 and nothing there a 404, in MLflow's words."""
        if not query.artifact_file_path:
            raise BadRequest('Request must include the "artifact_file_path" query parameter.')
        relative = safe_relative_path(query.artifact_file_path)
        row = await self._model(model_id)
        prefix = model_artifact_prefix(row.experiment_id, row.id)
        path = f"{prefix}/{relative}" if relative else prefix
        store = self.artifacts.store
        found = await store.download(path)
        if found is None:
            entry = await store.stat(path)
            # MLflow's messages, which name the file's place in the store.
            if entry is not None and entry.is_dir:
                raise InvalidInput(f"Artifact path refers to a directory, not a file: '{path}'")
            raise NotFound(f"No such artifact: '{path}'")
        return found, relative

    async def _model(self, model_id: str) -> LoggedModelRow:
        row = await models_repo.get(self.session, model_id)
        if row is None or row.lifecycle != ACTIVE:
            raise model_not_found(model_id)
        return row
